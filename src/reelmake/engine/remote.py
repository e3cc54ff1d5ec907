"""The team's shared clip store: a folder of clips by render key, anywhere fsspec reaches.

Layout, meant to be read by people as well as by reelmake::

    <remote>/clips/<key>.mp4     the clip, byte for byte as a local store holds it
    <remote>/clips/<key>.json    its sidecar: sha256, size, host (backend), model, task id, cost, created,
                                 the machine that published it
    <remote>/claims/<key>.json   a machine's claim on a paid render in progress (see engine.claims)

Like a DVC remote, it is just another object store next to the local one (engine.clips): clips go
from one to the other, and nothing crosses unverified. A clip is published by uploading it first and
its sidecar last, so an entry exists once its sidecar does and a partial upload is never visible; a
pulled clip must match its sidecar's sha256 before the local store takes it (and ``ClipStore.put``
hashes and records it again).

URLs: ``s3://bucket/prefix`` (s3fs; ``AWS_ENDPOINT_URL`` and the usual AWS variables and profiles),
``gs://`` (gcsfs), ``az://`` (adlfs) and ``file:///mnt/share/…`` for a NAS. Credentials come from each
service's own environment and config only, never from the repository. Errors are translated once,
here: :class:`RemoteRefused` (wrong credentials, no such bucket) is for a person to fix;
:class:`RemoteUnavailable` (cannot connect) makes the run go on with the local store, and the store
remembers it so the rest of the run does not wait for each shot's timeout again.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import RemoteRefused, RemoteUnavailable, StoryboardError
from ..fsutil import sha256_file
from .clips import ClipStore, Entry, _suffix

# scheme as written → (fsspec protocol, the package that provides it)
PROTOCOLS = {"s3": ("s3", "s3fs"), "gs": ("gcs", "gcsfs"), "gcs": ("gcs", "gcsfs"), "az": ("abfs", "adlfs"),
             "abfs": ("abfs", "adlfs"), "abfss": ("abfs", "adlfs"), "file": ("file", None)}
FEW_KEYS = 16  # up to this many keys are looked up one object each (concurrently); more, by one listing
# Service error codes and exception names that mean "not with these credentials". No bare status numbers
# here: a connection error's text holds object URLs whose 64-hex keys may well contain "401" or "403".
_DENIED = ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken",
           "NoCredentialsError", "PartialCredentialsError", "AuthorizationFailure", "AuthenticationFailed",
           "Forbidden", "Unauthorized")
_DENIED_WORDS = re.compile(r"\b(?:%s)\b" % "|".join(_DENIED))
_DENIED_STATUS = (401, 403)


@dataclass(frozen=True)
class Pulled:
    """What a pull found: the local entry, or the sidecar of a damaged remote clip, or neither."""

    entry: Entry | None = None
    damaged: dict[str, Any] | None = None  # the sidecar of a clip that does not match it


def _describe(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) < 300 else text[:300] + "…"


def _status(value: Any) -> int | None:
    with contextlib.suppress(TypeError, ValueError):
        return int(value)
    return None


def _refused(exc: BaseException) -> bool:
    """Whether the service refused these credentials: judged by the exception's type, its service's error
    code and its HTTP status (botocore's ``response``, gcsfs's ``code``, azure's ``status_code``,
    aiohttp's ``status``), and by the service's error codes as words in its message, never by digits in
    the message (see _DENIED). The causes are looked at too: s3fs re-raises botocore's error as another."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen and len(seen) < 8:
        seen.add(id(exc))
        if isinstance(exc, PermissionError) or type(exc).__name__ in _DENIED:
            return True
        response = getattr(exc, "response", None)
        if isinstance(response, dict):
            error = response.get("Error")
            code = error.get("Code") if isinstance(error, dict) else None
            if isinstance(code, str) and (code in _DENIED or _status(code) in _DENIED_STATUS):
                return True
            metadata = response.get("ResponseMetadata")
            if isinstance(metadata, dict) and _status(metadata.get("HTTPStatusCode")) in _DENIED_STATUS:
                return True
        elif response is not None and _status(getattr(response, "status_code", None)) in _DENIED_STATUS:
            return True
        if any(_status(getattr(exc, field, None)) in _DENIED_STATUS for field in ("status_code", "status", "code")):
            return True
        if _DENIED_WORDS.search(str(exc)):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


class RemoteStore:
    """One remote clip store, opened from its URL; every method raises only ``RemoteError`` (or
    returns), so a remote can never crash a run with a library's traceback."""

    def __init__(self, url: str, fs: Any, base: str, protocol: str) -> None:
        self.url, self.fs, self.base, self.protocol = url, fs, base.rstrip("/"), protocol
        self.down: str | None = None  # why it was found unreachable in this process

    @classmethod
    def open(cls, url: str) -> RemoteStore:
        """Open ``url``; StoryboardError for a URL reelmake cannot use (unknown scheme, package missing)."""
        scheme, sep, rest = url.partition("://")
        if not sep or scheme.lower() not in PROTOCOLS or not rest.strip("/"):
            raise StoryboardError(f"remote {url!r} is not a URL reelmake can use: write s3://bucket/prefix, "
                                  "gs://bucket/prefix, az://container/prefix or file:///absolute/path")
        protocol, package = PROTOCOLS[scheme.lower()]
        if protocol == "file":
            if not rest.startswith("/"):
                raise StoryboardError(f"remote {url!r}: a file:// remote needs an absolute path (file:///mnt/share)")
            base = os.path.normpath(rest)
        else:
            base = rest.strip("/")
        try:
            import fsspec

            options: dict[str, Any] = {"skip_instance_cache": True}
            if protocol == "s3":
                # Fail over to local-only in seconds, not minutes, when the endpoint is down; listings are
                # never cached, so a clip a teammate just published is seen.
                options.update(use_listings_cache=False, config_kwargs={
                    "connect_timeout": 5, "read_timeout": 60, "retries": {"max_attempts": 2, "mode": "standard"}})
            elif protocol == "file":
                options = {"auto_mkdir": True}
            fs = fsspec.filesystem(protocol, **options)
        except ImportError as exc:
            extra = " (pip install 'reelmake[remote]')" if package == "s3fs" else ""
            raise StoryboardError(f"remote {url}: needs the {package} package{extra}: {exc}") from None
        except Exception as exc:  # a library refusing its own configuration
            raise StoryboardError(f"remote {url}: cannot be opened: {_describe(exc)}") from None
        return cls(url, fs, base, protocol)

    # -- paths
    def _path(self, *parts: str) -> str:
        return "/".join((self.base, *parts))

    def clip_path(self, key: str) -> str:
        return self._path("clips", f"{key}.mp4")

    def sidecar_path(self, key: str) -> str:
        return self._path("clips", f"{key}.json")

    def claim_path(self, key: str) -> str:
        return self._path("claims", f"{key}.json")

    # -- errors
    @contextlib.contextmanager
    def _io(self, doing: str) -> Iterator[None]:
        """Translate whatever the storage library raised into RemoteRefused or RemoteUnavailable."""
        if self.down is not None:
            raise RemoteUnavailable(self.down)
        try:
            yield
        except (FileExistsError, FileNotFoundError):
            raise  # answers, not faults: callers decide
        except Exception as exc:
            name = type(exc).__name__
            text = _describe(exc)
            if _refused(exc):
                raise RemoteRefused(
                    f"remote {self.url} refused this machine while {doing}: {text}. Check the credentials this "
                    "machine uses for it (for S3: AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, and "
                    "AWS_ENDPOINT_URL for a non-AWS endpoint); they come from the environment, never from the "
                    "repository") from None
            self.down = (f"remote {self.url} is unreachable ({name}: {text}); working with this machine's "
                         "clips only")
            raise RemoteUnavailable(self.down) from None

    def _missing_base(self, exc: FileNotFoundError) -> None:
        """A missing bucket (or an unmounted share) is a setup problem, not an empty store."""
        text = _describe(exc)
        if "bucket" in text.lower() or "container" in text.lower():
            raise RemoteRefused(f"remote {self.url}: {text}; create it, or fix the URL in reelmake.toml") from None
        if self.protocol == "file" and not os.path.isdir(self.base):
            self.down = f"remote {self.url} is not there (an unmounted share?); working with this machine's clips only"
            raise RemoteUnavailable(self.down) from None

    def check(self) -> None:
        """Reach the store with one small request: RemoteRefused or RemoteUnavailable when it cannot be used."""
        self.read(self._path("clips", "reelmake-check.json"))

    # -- objects (the claims use these too)
    def read(self, path: str) -> bytes | None:
        with self._io(f"reading {path}"):
            try:
                return self.fs.cat_file(path)
            except FileNotFoundError as exc:
                self._missing_base(exc)
                return None

    def write(self, path: str, data: bytes) -> None:
        """Replace ``path`` whole: readers see the old bytes or the new, never a mix."""
        with self._io(f"writing {path}"):
            if self.protocol == "file":  # a rename is the atomic step on a file system
                tmp = f"{path}.{uuid.uuid4().hex[:8]}.part"
                self.fs.pipe_file(tmp, data)
                os.replace(tmp, path)
            else:  # one PUT: an object store shows the old object until the new one is complete
                self.fs.pipe_file(path, data)

    def create(self, path: str, data: bytes) -> bool:
        """Write ``path`` only if nothing is there (If-None-Match: * on S3, an exclusive create on a file
        system): True if this call created it, False if it already existed."""
        with self._io(f"creating {path}"):
            try:
                if self.protocol == "file":
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                    tmp = f"{path}.{uuid.uuid4().hex[:8]}.part"
                    with open(tmp, "wb") as fh:
                        fh.write(data)
                    try:  # link() fails if the name exists, and the content is complete when it appears
                        os.link(tmp, path)
                    except FileExistsError:
                        raise
                    except OSError:  # a share without hard links: an exclusive create (O_EXCL) instead
                        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
                        with os.fdopen(fd, "wb") as fh:
                            fh.write(data)
                    finally:
                        os.unlink(tmp)
                else:
                    self.fs.pipe_file(path, data, mode="create")
            except FileExistsError:
                return False
            return True

    def delete(self, path: str) -> None:
        with self._io(f"deleting {path}"):
            with contextlib.suppress(FileNotFoundError):
                self.fs.rm_file(path)

    def names(self, folder: str) -> list[str]:
        """The file names in ``folder`` ("clips", "claims"): one listing, however many pages it takes."""
        with self._io(f"listing {folder}"):
            try:
                return [p.rstrip("/").rsplit("/", 1)[-1] for p in self.fs.ls(self._path(folder), detail=False)]
            except FileNotFoundError as exc:
                self._missing_base(exc)
                return []

    # -- clips
    def published(self, keys: Iterable[str]) -> set[str]:
        """Which of ``keys`` have a published clip: a few looked up at once, many by one listing."""
        wanted = set(keys)
        if not wanted:
            return set()
        if len(wanted) > FEW_KEYS:
            return {name[:-5] for name in self.names("clips") if name.endswith(".json") and name[:-5] in wanted}
        paths = {self.sidecar_path(k): k for k in wanted}
        with self._io("looking up clips"):  # one concurrent batch on an object store
            answers = self.fs.cat(list(paths), on_error="return")
            faults = [a for a in answers.values() if isinstance(a, Exception) and not isinstance(a, FileNotFoundError)]
            if faults:
                raise faults[0]
        return {key for path, key in paths.items()
                if isinstance(answers.get(path, answers.get(path.lstrip("/"))), bytes)}

    def sidecar(self, key: str) -> dict[str, Any] | None:
        raw = self.read(self.sidecar_path(key))
        if raw is None:
            return None
        try:
            meta = json.loads(raw)
        except ValueError:
            return {"key": key, "damaged_sidecar": True}
        return meta if isinstance(meta, dict) else {"key": key, "damaged_sidecar": True}

    def pull(self, key: str, clips: ClipStore, tmp_dir: Path) -> Pulled:
        """Download ``key``'s clip into the local store if it is published and matches its sidecar."""
        meta = self.sidecar(key)
        if meta is None:
            return Pulled()
        if not isinstance(meta.get("sha256"), str) or not isinstance(meta.get("size_bytes"), int):
            return Pulled(damaged=meta)
        tmp_dir.mkdir(parents=True, exist_ok=True)
        # The remote keeps every clip as <key>.mp4; the local store keeps an image under its own suffix,
        # taken from the file's name (ClipStore.put), so the download is named as the sidecar says.
        tmp = tmp_dir / f"{key}.{uuid.uuid4().hex[:8]}.pull{_suffix(meta)}"
        try:
            with self._io(f"downloading {self.clip_path(key)}"):
                try:
                    self.fs.get_file(self.clip_path(key), str(tmp))
                except FileNotFoundError:
                    return Pulled(damaged=meta)  # a sidecar without its clip
            if tmp.stat().st_size != meta["size_bytes"] or sha256_file(tmp) != meta["sha256"]:
                return Pulled(damaged=meta)
            # put records sha256, size and suffix itself, from the file it stores
            kept = {k: v for k, v in meta.items() if k not in ("key", "sha256", "size_bytes", "suffix")}
            return Pulled(entry=clips.put(key, tmp, {**kept, "pulled_from": self.url}))
        finally:
            tmp.unlink(missing_ok=True)

    def publish(self, entry: Entry, machine: str, *, replace: bool = False) -> bool:
        """Upload a local entry: the clip, then its sidecar. False when the remote already has a clip for
        the key, unless ``replace`` (a damaged remote clip, replaced by its claim's holder): then a sidecar
        that names other bytes goes first, so nobody pairs it with the new clip."""
        existing = self.sidecar(entry.key)
        if existing is not None and not replace:
            return False
        if existing is not None and existing.get("sha256") != entry.sha256:
            self.delete(self.sidecar_path(entry.key))
        with self._io(f"uploading {self.clip_path(entry.key)}"):
            if self.protocol == "file":
                tmp = f"{self.clip_path(entry.key)}.{uuid.uuid4().hex[:8]}.part"
                self.fs.put_file(str(entry.clip), tmp)
                os.replace(tmp, self.clip_path(entry.key))
            else:
                self.fs.put_file(str(entry.clip), self.clip_path(entry.key))
        sidecar = {**entry.meta, "host": entry.meta.get("backend"), "machine": machine,
                   "published_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        self.write(self.sidecar_path(entry.key), json.dumps(sidecar, indent=2, sort_keys=True, default=str).encode())
        return True


__all__ = ["FEW_KEYS", "PROTOCOLS", "Pulled", "RemoteStore"]
