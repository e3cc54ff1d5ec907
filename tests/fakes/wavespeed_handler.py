"""HTTP routes of the fake WaveSpeed provider; state and the fault API live in ``tests.fakes.wavespeed``.

Each route names the page (or SDK file) it follows. The envelope ``{"code", "message", "data"}`` is
on every page of https://wavespeed.ai/docs (e.g. /docs/shared/submit-response); error bodies carry
``message`` and, for input errors, an ``error_code`` from https://wavespeed.ai/docs/error-codes.
"""

from __future__ import annotations

import json
import re
import socket
import time
from datetime import datetime
from decimal import Decimal
from email import policy
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from . import wavespeed_schema as schema
from .wavespeed_account import upload_kind
from .wavespeed_faults import FaultError

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


class Handler(BaseHTTPRequestHandler):
    """One request; ``self.server.fake`` is the :class:`FakeWaveSpeed` it serves."""

    protocol_version = "HTTP/1.1"
    server_version = "FakeWaveSpeed/1.0"

    @property
    def fake(self) -> FakeWaveSpeed:
        return self.server.fake  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # tests read stats, not access logs

    # --- plumbing -----------------------------------------------------------------------------

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _json_body(self) -> dict[str, Any] | None:
        try:
            value = json.loads(self._body() or b"{}")
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _ok(self, data: Any) -> None:
        self._send(200, {"code": 200, "message": "success", "data": data})

    def _error(self, status: int, message: str, error_code: int | None = None, headers: dict[str, str] | None = None) -> None:
        if self.fake.faults.http200_errors and status != 429:
            self._send(200, {"code": error_code or status, "message": message, "data": None}, headers)
            return
        payload: dict[str, Any] = {"code": status, "message": message, "data": None}
        if error_code:
            payload["error_code"] = error_code
        self._send(status, payload, headers)

    def _drop(self) -> None:
        """Close the connection without an answer, as a crashed gateway would."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _slow(self, route: str) -> None:
        rule = self.fake.faults.take("slow", route)
        if rule:
            time.sleep(float(rule.get("seconds", 1.0)))

    def _authorized(self) -> bool:
        header = self.headers.get("Authorization", "")
        token = header[7:].strip() if header.startswith("Bearer ") else ""
        if token and (self.fake.api_key is None or token == self.fake.api_key):
            return True
        self._body()
        self._error(401, f"Unauthorized: invalid API key {token!r}" if token else "Unauthorized: missing API key")
        return False

    def _injected(self, kind: str) -> bool:
        """Answer with an injected failure for ``kind``; True when the request is done."""
        rule = self.fake.faults.take(kind)
        if rule is None:
            return False
        status = rule.get("status", 500)
        if status == "drop":
            self._drop()
        else:
            headers = {"Retry-After": str(rule["retry_after"])} if rule.get("retry_after") is not None else None
            self._error(int(status), "Too many requests" if status == 429 else "Internal server error", headers=headers)
        return True

    # --- routing ------------------------------------------------------------------------------

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        path = urlsplit(self.path).path
        if path == "/_fake/stats":
            return self._send(200, self.fake.stats())
        if path == "/_fake/faults":
            return self._send(200, self.fake.faults.snapshot())
        if path == "/_fake/tasks":
            return self._send(200, list(self.fake.tasks.values()))
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
            if self._injected("poll"):
                return None
            self._slow("poll")
            task = self.fake.tasks.get(match.group(1))
            if task is None:
                return self._error(404, f"prediction {match.group(1)} not found")
            return self._ok(self.fake.prediction(task))
        return self._error(404, f"no route GET {path}")

    def do_DELETE(self) -> None:  # noqa: N802
        if urlsplit(self.path).path == "/_fake/faults":
            self.fake.faults.configure({"reset": True})
            return self._send(200, self.fake.faults.snapshot())
        return self._error(404, "no such route")

    def do_PUT(self) -> None:  # noqa: N802
        path = urlsplit(self.path).path
        match = re.fullmatch(r"/_upload/([0-9a-f]+)", path)
        record = self.fake.uploads.get(match.group(1)) if match else None
        data = self._body()
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
        path = urlsplit(self.path).path
        if path == "/_fake/faults":
            spec = self._json_body()
            try:
                self.fake.faults.configure(spec if spec is not None else {})
            except FaultError as exc:
                return self._send(400, {"error": str(exc)})
            return self._send(200, self.fake.faults.snapshot())
        if not path.startswith("/api/v3/"):
            self._body()
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
        body = self._json_body()
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
            self._drop() if rule.get("status") == "drop" else self._error(int(rule.get("status", 500)), "Internal server error")
            return None
        task = self.fake.create_task(model, inputs, webhook)
        if task is None:
            # /docs/account-levels: the tier's videos per minute. No task; no Retry-After (none is documented).
            return self._error(429, "Too many requests: your account level's rate limit was reached")
        self._slow("submit")
        if rule:
            self._drop() if rule.get("status") == "drop" else self._error(int(rule.get("status", 500)), "Internal server error")
            return None
        return self._ok(self.fake.prediction(task))

    def _history(self) -> None:
        """``POST /api/v3/predictions`` (https://wavespeed.ai/docs/docs-common-api/predictions and
        /docs/predictions-api): page and page_size (1–100) are required; model, status (completed,
        failed, processing), created_after and created_before (ISO 8601) filter; items most recent first."""
        self.fake.count("history")
        query = self._json_body()
        self._slow("history")
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
        query = self._json_body() or {}
        self._slow("price")
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
        query = self._json_body()
        if self._injected("upload"):
            return None
        self._slow("upload")
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
        body = self._body()
        if self._injected("upload"):
            return None
        self._slow("upload")
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
        data = file.read_bytes()
        truncate = None
        if is_output:
            self.fake.count("downloads")
            self._slow("download")
            truncate = self.fake.faults.take("truncate_downloads")
        announced = len(data)
        if truncate:
            data = data[: len(data) // 2]
            if truncate.get("mode", "body") == "file":
                announced = len(data)
        self.send_response(200)
        types = {".mp4": "video/mp4", ".png": "image/png", ".jpg": "image/jpeg"}
        self.send_header("Content-Type", types.get(file.suffix, "application/octet-stream") if is_output
                         else "application/octet-stream")
        self.send_header("Content-Length", str(announced))
        self.end_headers()
        self.wfile.write(data)
        if announced != len(data):
            self._drop()
        return None
