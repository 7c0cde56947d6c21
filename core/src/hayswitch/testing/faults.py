"""A fault-injecting HTTP server for the contract kit's error-mapping checks.

:class:`FaultServer` listens on 127.0.0.1 (a free port) and answers *every* request with the
fault it was last given -- a status, headers and a body -- whatever the path or method, so it
stands in for any HTTP API. The ``{auth}`` placeholder in a body is replaced with the request's
``Authorization`` header (and ``{key}`` with its bearer token), which is how the kit checks that
a server echoing the credential never gets it into an error message::

    with FaultServer() as server:
        server.fault(429, {"error": {"message": "slow down"}}, headers={"Retry-After": "7"})
        provider = get_provider("acme", base_url=server.url, retry=NO_RETRY)
        provider.embed_text("x")  # -> RateLimitError(retry_after=7.0)
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["FaultServer"]


class _Handler(BaseHTTPRequestHandler):
    server: FaultServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        status, headers, body = self.server.current()
        auth = self.headers.get("Authorization") or self.headers.get("api-key") or ""
        key = auth.split(" ", 1)[1] if " " in auth else auth
        text = body if isinstance(body, str) else json.dumps(body)
        data = text.replace("{auth}", auth).replace("{key}", key).encode("utf-8")
        self.server.requests += 1
        self.send_response(status)
        if not any(k.lower() == "content-type" for k in headers):
            self.send_header("Content-Type", "application/json" if not isinstance(body, str) else "text/plain")
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer


class FaultServer(ThreadingHTTPServer):
    """Answers every request with one configurable fault (see the module docs)."""

    daemon_threads = True

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__((host, port), _Handler)
        self._lock = threading.Lock()
        self._fault: tuple[int, dict[str, str], Any] = (500, {}, {"error": {"message": "no fault configured"}})
        self._thread: threading.Thread | None = None
        self.requests = 0

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (append the API's path prefix as the provider expects)."""
        return f"http://127.0.0.1:{self.server_address[1]}"

    def fault(self, status: int, body: Any = None, *, headers: Mapping[str, str] | None = None) -> None:
        """Answer every following request with ``status``, ``headers`` and ``body`` (JSON, or text
        when a string)."""
        default = {"error": {"message": f"Injected HTTP {status}.", "code": "injected"}}
        with self._lock:
            self._fault = (status, dict(headers or {}), default if body is None else body)
            self.requests = 0

    def current(self) -> tuple[int, dict[str, str], Any]:
        with self._lock:
            return self._fault

    def __enter__(self) -> FaultServer:
        self._thread = threading.Thread(target=self.serve_forever, name="hayswitch-fault-server", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join()
