"""A small language-server-protocol client over stdio, enough to drive yaml-language-server the way
an editor does: open a document, collect the diagnostics it publishes, ask for completions.

The wire format is JSON-RPC 2.0 framed by ``Content-Length`` headers (LSP 3.17, "Base Protocol").
"""

from __future__ import annotations

import collections
import itertools
import json
import queue
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

EDITOR_TOOLS = Path(__file__).resolve().parent / "editor"
SERVER = EDITOR_TOOLS / "node_modules" / "yaml-language-server" / "bin" / "yaml-language-server"

# What VS Code's YAML extension sends for `yaml.*`, narrowed to what the tests need. The schema store
# is off: it would fetch a catalog from the network, and the modeline names the schema anyway.
SETTINGS = {
    "yaml": {
        "validate": True,
        "completion": True,
        "hover": True,
        "format": {"enable": False},
        "schemaStore": {"enable": False},
        "schemas": {},
    },
}


class LanguageServerError(RuntimeError):
    pass


class LanguageServer:
    """One yaml-language-server process; each call blocks until the answer arrives (or ``timeout``)."""

    def __init__(self, node: str, timeout: float = 30) -> None:
        self.timeout = timeout
        self._ids = itertools.count(1)
        self._answers: dict[int, queue.Queue] = {}
        self._diagnostics: queue.Queue = queue.Queue()
        self._versions = itertools.count(1)
        self._stderr: collections.deque[str] = collections.deque(maxlen=20)
        self._exited = threading.Event()
        self._process = subprocess.Popen([node, str(SERVER), "--stdio"], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        threading.Thread(target=self._read, daemon=True).start()
        self._stderr_reader = threading.Thread(target=self._drain_stderr, daemon=True)
        self._stderr_reader.start()
        self.request("initialize", {
            "processId": None,
            "rootUri": None,
            "capabilities": {
                "workspace": {"configuration": True, "didChangeConfiguration": {"dynamicRegistration": True}},
                "textDocument": {
                    "publishDiagnostics": {"relatedInformation": False},
                    "completion": {"completionItem": {"documentationFormat": ["markdown", "plaintext"],
                                                      "snippetSupport": True}},
                },
            },
        })
        self.notify("initialized", {})
        self.notify("workspace/didChangeConfiguration", {"settings": SETTINGS})

    # -- documents --------------------------------------------------------------------------------------

    def diagnostics(self, path: Path, text: str | None = None) -> list[dict[str, Any]]:
        """Open ``path`` (with ``text`` in place of its contents, if given) and return what the server
        reports for it; the document is closed again so the next call starts clean."""
        uri = path.resolve().as_uri()
        self._open(uri, path.read_text(encoding="utf-8") if text is None else text)
        try:
            return self._published(uri)
        finally:
            self._close(uri)

    def completion(self, path: Path, text: str, line: int, character: int) -> list[dict[str, Any]]:
        """The completion items offered at (0-based) ``line``/``character`` of ``text`` saved as ``path``."""
        uri = path.resolve().as_uri()
        self._open(uri, text)
        try:
            self._published(uri)  # the schema is loaded once the document has been validated
            answer = self.request("textDocument/completion", {"textDocument": {"uri": uri},
                                                              "position": {"line": line, "character": character}})
        finally:
            self._close(uri)
        return answer["items"] if isinstance(answer, dict) else (answer or [])

    def _open(self, uri: str, text: str) -> None:
        self.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "yaml",
                                                              "version": next(self._versions), "text": text}})

    def _close(self, uri: str) -> None:
        self.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
        # The server clears a closed document's diagnostics; take that message now, or the next
        # document opened under the same name would read it as its own.
        self._published(uri)

    def _published(self, uri: str) -> list[dict[str, Any]]:
        deadline = time.monotonic() + self.timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                params = self._diagnostics.get(timeout=left)
            except queue.Empty:
                break
            if params is None:
                self._diagnostics.put(None)  # for the next waiter too
                raise LanguageServerError(self._exit_message())
            if params["uri"] == uri:
                return params["diagnostics"]
        raise LanguageServerError(f"no diagnostics for {uri} within {self.timeout} s")

    # -- JSON-RPC -----------------------------------------------------------------------------------------

    def request(self, method: str, params: Any) -> Any:
        number = next(self._ids)
        answer: queue.Queue = queue.Queue()
        self._answers[number] = answer
        if self._exited.is_set():
            raise LanguageServerError(self._exit_message())
        self._send({"jsonrpc": "2.0", "id": number, "method": method, "params": params})
        try:
            message = answer.get(timeout=self.timeout)
        except queue.Empty:
            raise LanguageServerError(f"{method}: no answer within {self.timeout} s") from None
        if "error" in message:
            raise LanguageServerError(f"{method}: {message['error']}")
        if message.get("exited"):
            raise LanguageServerError(self._exit_message())
        return message.get("result")

    def notify(self, method: str, params: Any) -> None:
        self._send({"jsonrpc": "2.0", "method": method, "params": params})

    def close(self) -> None:
        try:
            self.request("shutdown", None)
            self.notify("exit", None)
            self._process.wait(timeout=5)
        except (LanguageServerError, OSError, subprocess.TimeoutExpired):
            self._process.kill()
            self._process.wait()

    def _send(self, message: dict[str, Any]) -> None:
        body = json.dumps(message).encode("utf-8")
        assert self._process.stdin is not None
        self._process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self._process.stdin.flush()

    def _read(self) -> None:
        stream = self._process.stdout
        assert stream is not None
        while True:
            length = None
            while (header := stream.readline()) not in (b"\r\n", b""):
                name, _, value = header.decode("ascii").partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            if header == b"" or length is None:
                break
            self._dispatch(json.loads(stream.read(length)))
        # The server exited: wake everyone waiting, so a broken server fails a test at once, not by timeout.
        self._exited.set()
        for answer in list(self._answers.values()):
            answer.put({"exited": True})
        self._diagnostics.put(None)

    def _dispatch(self, message: dict[str, Any]) -> None:
        method = message.get("method")
        if method is None:
            self._answers.pop(message["id"]).put(message)
        elif "id" in message:
            self._answer_server(message)
        elif method == "textDocument/publishDiagnostics":
            self._diagnostics.put(message["params"])

    def _answer_server(self, message: dict[str, Any]) -> None:
        """Requests the server makes of its editor: settings (per section asked for) and registrations."""
        result: Any = None
        if message["method"] == "workspace/configuration":
            result = [_section(item.get("section", "")) for item in message["params"]["items"]]
        self._send({"jsonrpc": "2.0", "id": message["id"], "result": result})

    def _drain_stderr(self) -> None:
        assert self._process.stderr is not None
        for line in self._process.stderr:  # drained, or a full pipe would block the server
            self._stderr.append(line.decode("utf-8", "replace").rstrip())

    def _exit_message(self) -> str:
        self._stderr_reader.join(timeout=2)  # its last words come after the end of stdout
        return "yaml-language-server exited:\n" + "\n".join(self._stderr)


def _section(name: str) -> Any:
    value: Any = SETTINGS
    for part in filter(None, name.split(".")):
        value = value.get(part) if isinstance(value, dict) else None
    return value
