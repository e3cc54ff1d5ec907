"""HTTP routes of the fake WaveSpeed provider; state and the fault API live in ``tests.fakes.wavespeed``.

Each route names the page (or SDK file) it follows. The envelope ``{"code", "message", "data"}`` is
on every page of https://wavespeed.ai/docs (e.g. /docs/shared/submit-response); error bodies carry
``message`` and, for input errors, an ``error_code`` from https://wavespeed.ai/docs/error-codes.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from . import wavespeed_schema as schema
from .loopback import JsonHandler
from .wavespeed_account import upload_kind

if TYPE_CHECKING:
    from .wavespeed import FakeWaveSpeed


def _upload_refusal(filename: str, size: int) -> tuple[int, str] | None:
    """https://wavespeed.ai/docs/upload-files-api: 400 for a format it does not take, 413 when too large."""
    kind = upload_kind(filename)
    if kind is None:
        return 400, f"invalid file or format not supported: {filename}"
    if size > kind[1]:
        return 413, f"file too large: {kind[0]} uploads are limited to {kind[1] // (1024 * 1024)} MB"
    return None


def _parse_time(value: Any) -> float | None:
    """An ISO 8601 string (the documented type); anything else is refused, numbers included."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(value)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


class Handler(JsonHandler):
    """One request; ``self.fake`` is the :class:`FakeWaveSpeed` it serves (the plumbing is ``loopback``'s)."""

    server_version = "FakeWaveSpeed/1.0"
    fake: FakeWaveSpeed

    # --- envelope -----------------------------------------------------------------------------

    def _json_object(self) -> dict[str, Any] | None:
        """The request's JSON object ({} for an empty body), None when it is anything else."""
        value = self.json_body(empty={})
        return value if isinstance(value, dict) else None

    def _ok(self, data: Any) -> None:
        self.send_json(200, {"code": 200, "message": "success", "data": data})

    def _error(self, status: int, message: str, error_code: int | None = None, headers: dict[str, str] | None = None) -> None:
        if self.fake.faults.http200_errors and status != 429:
            self.send_json(200, {"code": error_code or status, "message": message, "data": None}, headers)
            return
        payload: dict[str, Any] = {"code": status, "message": message, "data": None}
        if error_code:
            payload["error_code"] = error_code
        self.send_json(status, payload, headers)

    def _authorized(self) -> bool:
        header = self.headers.get("Authorization", "")
        token = header[7:].strip() if header.startswith("Bearer ") else ""
        if token and (self.fake.api_key is None or token == self.fake.api_key):
            return True
        self.body()
        self._error(401, f"Unauthorized: invalid API key {token!r}" if token else "Unauthorized: missing API key")
        return False

    def failure(self, status: int, headers: dict[str, str] | None = None) -> None:
        self._error(status, "Too many requests" if status == 429 else "Internal server error", headers=headers)

    # --- routing ------------------------------------------------------------------------------

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        if self.control("GET"):
            return None
        path = self.route
        if path.startswith("/media/"):
            return self._media(path)
        if not path.startswith("/api/v3/"):
            return self._error(404, f"no route GET {path}")
        if not self._authorized():
            return None
        if path == "/api/v3/balance":  # PROVIDERS.md: GET /api/v3/balance → data.balance
            self.fake.count("balance")
            return self._ok({"balance": float(self.fake.balance())})
        # GET /api/v3/predictions/{id}/result (SDK 2.0.5 Client._get_result, /docs/shared/api-result) and
        # GET /api/v3/predictions/{id} (https://wavespeed.ai/docs/get-result).
        match = re.fullmatch(r"/api/v3/predictions/([^/]+)(?:/result)?", path)
        if match:
            self.fake.count("polls")
            if self.injected("poll"):
                return None
            self.slow("poll")
            task = self.fake.tasks.get(match.group(1))
            if task is None:
                return self._error(404, f"prediction {match.group(1)} not found")
            return self._ok(self.fake.prediction(task))
        return self._error(404, f"no route GET {path}")

    def do_DELETE(self) -> None:  # noqa: N802
        if self.control("DELETE"):
            return None
        return self._error(404, "no such route")

    def do_PUT(self) -> None:  # noqa: N802
        match = re.fullmatch(r"/_upload/([0-9a-f]+)", self.route)
        record = self.fake.uploads.get(match.group(1)) if match else None
        data = self.body()
        if record is None:
            return self._error(404, "unknown upload URL")
        if "Authorization" in self.headers:
            # Pre-signed storage URLs reject extra credentials; the SDK sends none.
            return self._error(400, "pre-signed upload URLs take no Authorization header")
        if record["size"] is not None and len(data) != record["size"]:
            return self._error(400, f"upload is {len(data)} bytes; the ticket announced {record['size']}")
        self.fake.finish_upload(record["token"], data)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
        return None

    def do_POST(self) -> None:  # noqa: N802
        if self.control("POST"):
            return None
        path = self.route
        if not path.startswith("/api/v3/"):
            self.body()
            return self._error(404, f"no route POST {path}")
        if not self._authorized():
            return None
        if path == "/api/v3/media/uploads":
            return self._upload_ticket()
        if path in ("/api/v3/media/upload/binary", "/api/v3/upload"):
            return self._upload_binary(legacy=path == "/api/v3/upload")
        if path == "/api/v3/predictions":
            return self._history()
        if path in ("/api/v3/model/price", "/api/v3/model/pricing"):
            return self._price(documented=path == "/api/v3/model/pricing")
        webhook = parse_qs(urlsplit(self.path).query).get("webhook", [None])[0]
        return self._submit(path[len("/api/v3/") :], webhook)

    # --- API ----------------------------------------------------------------------------------

    def _submit(self, model: str, webhook: str | None) -> None:
        """``POST /api/v3/{model_id}`` with the inputs as the JSON body (/docs/what-are-predictions;
        SDK 2.0.5 Client._submit); ``?webhook=URL`` is recorded, not called (/docs/how-to-use-webhooks)."""
        self.fake.count("submit_requests")
        body = self._json_object()
        if model not in schema.MODELS:
            return self._error(404, f"model {model} not found")
        if body is None:
            return self._error(400, "request body must be a JSON object", 1401)
        try:
            inputs = schema.validate(body, model)
        except schema.InputError as exc:
            return self._error(400, str(exc), exc.code)
        self.fake.count("ignored_fields", len(schema.ignored(body, model)))
        rule = self.fake.faults.take("submit")
        if rule and rule.get("status") == 429:
            retry = {"Retry-After": str(rule["retry_after"])} if rule.get("retry_after") is not None else None
            return self._error(429, "Too many requests: rate limit exceeded", headers=retry)
        if rule and not rule.get("create", True):
            self.drop() if rule.get("status") == "drop" else self._error(int(rule.get("status", 500)), "Internal server error")
            return None
        task = self.fake.create_task(model, inputs, webhook)
        if task is None:
            # /docs/account-levels: the tier's videos per minute. No task; no Retry-After (none is documented).
            return self._error(429, "Too many requests: your account level's rate limit was reached")
        self.slow("submit")
        if rule:
            self.drop() if rule.get("status") == "drop" else self._error(int(rule.get("status", 500)), "Internal server error")
            return None
        return self._ok(self.fake.prediction(task))

    def _history(self) -> None:
        """``POST /api/v3/predictions`` (https://wavespeed.ai/docs/docs-common-api/predictions and
        /docs/predictions-api): page and page_size (1–100) are required; model, status (completed,
        failed, processing), created_after and created_before (ISO 8601) filter; items most recent first."""
        self.fake.count("history")
        query = self._json_object()
        self.slow("history")
        if query is None:
            return self._error(400, "request body must be a JSON object", 1401)
        for name in ("page", "page_size"):
            if name not in query:
                return self._error(400, f"missing required parameter: {name}", 1400)
        page, size = query["page"], query["page_size"]
        if not isinstance(page, int) or isinstance(page, bool) or page < 1:
            return self._error(400, "page must be an integer of at least 1", 1401)
        if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= 100:
            return self._error(400, "page_size must be an integer from 1 to 100", 1401)
        status = query.get("status")
        if status not in (None, "completed", "failed", "processing"):
            return self._error(400, "status must be completed, failed or processing", 1401)
        try:
            after, before = _parse_time(query.get("created_after")), _parse_time(query.get("created_before"))
        except ValueError:
            return self._error(400, "created_after/created_before must be ISO 8601 timestamps", 1401)
        items = self.fake.history(model=query.get("model"), status=status, after=after, before=before)
        chunk = items[(page - 1) * size : page * size]
        return self._ok({"page": page, "items": [self.fake.history_item(t) for t in chunk]})

    def _price(self, *, documented: bool) -> None:
        """``POST /api/v3/model/pricing`` → model_id, unit_price, currency
        (https://wavespeed.ai/docs/docs-common-api/pricing); ``POST /api/v3/model/price`` → price,
        discounted_price, discount_rate (PROVIDERS.md and issue 11; no documentation page was found for
        this route, and what discount_rate means is not documented)."""
        self.fake.count("price")
        query = self._json_object() or {}
        self.slow("price")
        model = query.get("model_id")
        if model not in schema.MODELS:
            return self._error(404, f"model {model} not found")
        try:
            inputs = schema.validate(dict(query.get("inputs") or {}), model)
        except schema.InputError as exc:
            return self._error(400, str(exc), exc.code)
        amount = schema.price(model, inputs)
        if documented:
            return self._ok({"model_id": model, "unit_price": float(amount), "currency": "USD"})
        discounted = amount * Decimal(str(self.fake.discount_rate))
        return self._ok({"model_id": model, "price": float(amount), "discounted_price": float(discounted),
                         "discount_rate": self.fake.discount_rate, "currency": "USD"})

    def _upload_ticket(self) -> None:
        """``POST /api/v3/media/uploads`` with {filename, size, content_type?} → {download_url, upload:
        {method: PUT, url, headers}}, then a PUT of the bytes (SDK 2.0.5 Client.upload). Size and format
        limits of https://wavespeed.ai/docs/upload-files."""
        query = self._json_object()
        if self.injected("upload"):
            return None
        self.slow("upload")
        if not query or not isinstance(query.get("filename"), str) or not isinstance(query.get("size"), int):
            return self._error(400, "filename and size are required", 1400)
        refusal = _upload_refusal(query["filename"], query["size"])
        if refusal:
            return self._error(*refusal)
        record = self.fake.new_upload(query["filename"], query["size"], query.get("content_type"))
        headers = {"Content-Type": record["content_type"]} if record["content_type"] else {}
        return self._ok(
            {
                "download_url": self.fake.download_url(record),
                "upload": {"method": "PUT", "url": f"{self.fake.base_url}/_upload/{record['token']}", "headers": headers},
            }
        )

    def _upload_binary(self, *, legacy: bool) -> None:
        """``POST /api/v3/media/upload/binary`` (multipart ``file`` → {type, download_url, filename, size},
        https://wavespeed.ai/docs/docs-common-api/media-upload) and the older ``POST /api/v3/upload``
        (→ {url}, https://wavespeed.ai/docs/upload-files-api)."""
        body = self.body()
        if self.injected("upload"):
            return None
        self.slow("upload")
        ctype = self.headers.get("Content-Type", "")
        message = BytesParser(policy=policy.HTTP).parsebytes(b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body)
        part = next(
            (p for p in message.iter_parts() if p.get_param("name", header="content-disposition") == "file"), None
        ) if message.is_multipart() else None
        if part is None:
            return self._error(400, "multipart field 'file' is required", 1400)
        data = part.get_payload(decode=True) or b""
        filename = part.get_filename() or "upload"
        refusal = _upload_refusal(filename, len(data))
        if refusal:
            return self._error(*refusal)
        record = self.fake.new_upload(filename, len(data), part.get_content_type())
        self.fake.finish_upload(record["token"], data)
        url = self.fake.download_url(record)
        if legacy:
            return self._ok({"url": url})
        kind = (upload_kind(filename) or ("file", 0))[0]
        return self._ok({"type": kind, "download_url": url, "filename": record["name"], "size": len(data)})

    def _media(self, path: str) -> None:
        """Outputs and uploads as pre-signed CDN links: no Authorization header (SDK 2.0.5 Client.upload
        PUTs with only the ticket's headers; outputs are plain URLs, /docs/get-result)."""
        if "Authorization" in self.headers:
            return self._error(400, "media URLs are pre-signed and take no Authorization header")
        parts = unquote(path).split("/")
        file: Path | None = None
        is_output = len(parts) == 4 and parts[2] == "outputs" and parts[3].endswith((".mp4", ".png", ".jpg"))
        if is_output:
            file = self.fake.output_path(parts[3].rsplit(".", 1)[0])
        elif len(parts) == 5 and parts[2] == "uploads":
            record = self.fake.uploads.get(parts[3])
            if record and record["done"] and record["name"] == parts[4]:
                file = self.fake.media_dir / "uploads" / parts[3] / parts[4]
        if file is None or not file.exists():
            return self._error(404, "media not found")
        types = {".mp4": "video/mp4", ".png": "image/png", ".jpg": "image/jpeg"}
        return self.serve_file(file, types.get(file.suffix, "application/octet-stream") if is_output
                               else "application/octet-stream", output=is_output)
