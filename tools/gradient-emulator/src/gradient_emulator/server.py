"""Running the emulator: in a background thread or a child process, always on 127.0.0.1.

Typical use in tests::

    from gradient_emulator import run_emulator

    with run_emulator(latency_fixed=0.01) as emu:
        os.environ["GRADIENT_API_URL"] = emu.api_url      # http://127.0.0.1:<port>/api
        emu.add_fault(kind="429", times=2, retry_after=0.05)
        ...
        assert emu.stats()["by_status"]["429"] == 2

``mode="thread"`` (default) serves from a uvicorn server on a thread of the test process and
controls it directly; ``mode="process"`` starts ``python -m gradient_emulator`` (own GIL, for
benchmarks) and controls it through the admin endpoints. Both shut down on exit, even on errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from typing import Any, Literal

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from gradient_emulator.app import create_app, register_transport, unregister_transport
from gradient_emulator.config import EmulatorConfig, FaultRule, LatencyConfig
from gradient_emulator.state import EmulatorState

__all__ = [
    "EmulatorError",
    "EmulatorProcess",
    "EmulatorServer",
    "TrackingH11Protocol",
    "build_config",
    "run_emulator",
    "serve",
]


class EmulatorError(RuntimeError):
    """The emulator could not start, or an admin call failed."""


class TrackingH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, remembering each connection's transport so that a ``reset`` fault
    can abort the exact connection its request arrived on."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        peer = transport.get_extra_info("peername")
        self._hayswitch_peer = (str(peer[0]), int(peer[1])) if peer else None
        if self._hayswitch_peer is not None:
            register_transport(self._hayswitch_peer, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        peer = getattr(self, "_hayswitch_peer", None)
        if peer is not None:
            unregister_transport(peer)
        super().connection_lost(exc)


def build_config(
    config: EmulatorConfig | Mapping[str, Any] | None = None,
    *,
    latency_fixed: float | None = None,
    latency_per_input: float | None = None,
    faults: list[FaultRule | Mapping[str, Any]] | None = None,
    **overrides: Any,
) -> EmulatorConfig:
    """Merge a base config with keyword overrides (``latency_fixed``/``latency_per_input`` are
    shortcuts for ``latency={...}``)."""
    data = config.model_dump() if isinstance(config, EmulatorConfig) else dict(config or {})
    data.update(overrides)
    latency = dict(data.get("latency") or {})
    if isinstance(data.get("latency"), LatencyConfig):
        latency = data["latency"].model_dump()
    if latency_fixed is not None:
        latency["fixed"] = latency_fixed
    if latency_per_input is not None:
        latency["per_input"] = latency_per_input
    data["latency"] = latency
    if faults is not None:
        data["faults"] = [f.model_dump() if isinstance(f, FaultRule) else dict(f) for f in faults]
    return EmulatorConfig.model_validate(data)


def _bind(host: str, port: int) -> socket.socket:
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise EmulatorError(f"The emulator only binds loopback IPv4 addresses such as 127.0.0.1, not {host!r}.")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise EmulatorError(f"Cannot bind the emulator to {host}:{port}: {exc}") from exc
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _uvicorn_config(app: Any, log_level: str) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        http=TrackingH11Protocol,
        lifespan="off",
        log_level=log_level,
        access_log=False,
        timeout_keep_alive=30,
        backlog=2048,
    )


def serve(config: EmulatorConfig, *, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning") -> None:
    """Run the emulator in the foreground until interrupted (``python -m gradient_emulator``).
    Prints ``gradient-emulator listening on <url>`` once the port is bound."""
    sock = _bind(host, port)
    actual = sock.getsockname()[1]
    print(f"gradient-emulator listening on http://{host}:{actual}{config.prefix}", flush=True)
    server = uvicorn.Server(_uvicorn_config(create_app(config), log_level))
    server.run(sockets=[sock])


class _Handle(ABC):
    """What both runners offer: URLs plus fault/stats/config control."""

    host: str
    port: int
    prefix: str

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` (no prefix)."""
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        """The value for ``GRADIENT_API_URL`` / ``host=``: the URL with the ``/api`` prefix."""
        return self.url + self.prefix

    @abstractmethod
    def add_fault(self, rule: FaultRule | Mapping[str, Any] | None = None, **fields: Any) -> list[dict[str, Any]]:
        """Add a fault rule (``add_fault(kind="429", rate=0.2, retry_after=0.05)``)."""

    @abstractmethod
    def clear_faults(self) -> None:
        """Remove every fault rule."""

    @abstractmethod
    def faults(self) -> list[dict[str, Any]]:
        """The fault rules with their counters (seen, fired, spent)."""

    @abstractmethod
    def stats(self) -> dict[str, Any]:
        """Request counts by operation and status, injected faults, batch sizes, peak concurrency."""

    @abstractmethod
    def reset_stats(self) -> None:
        """Zero the statistics."""

    @abstractmethod
    def configure(self, **changes: Any) -> dict[str, Any]:
        """Change settings at run time, e.g. ``configure(latency={"fixed": 0.08}, max_concurrency=16)``."""

    @abstractmethod
    def reset(self) -> None:
        """Forget adapters, statistics and faults."""


class EmulatorServer(_Handle):
    """The emulator on a uvicorn server in a daemon thread of this process.

    :param config: the emulator configuration.
    :param host: loopback address to bind.
    :param port: port to bind (0: a free one).
    :param startup_timeout: seconds to wait for readiness.
    """

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        startup_timeout: float = 15.0,
        log_level: str = "warning",
    ) -> None:
        self.config = config or EmulatorConfig()
        self.host = host
        self.prefix = self.config.prefix
        self.state = EmulatorState(self.config)
        self.app = create_app(state=self.state)
        self._requested_port = port
        self._startup_timeout = startup_timeout
        self._log_level = log_level
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self.port = 0

    def start(self) -> EmulatorServer:
        if self._thread is not None:
            return self
        sock = _bind(self.host, self._requested_port)
        self.port = sock.getsockname()[1]
        server = uvicorn.Server(_uvicorn_config(self.app, self._log_level))
        self._server = server

        def run() -> None:
            try:
                server.run(sockets=[sock])
            except BaseException as exc:  # noqa: BLE001 - reported to the starting thread
                self._error = exc
            finally:
                sock.close()

        self._thread = threading.Thread(target=run, name=f"gradient-emulator-{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + self._startup_timeout
        while not server.started:
            if self._error is not None or not self._thread.is_alive():
                self.stop()
                raise EmulatorError(f"The emulator failed to start: {self._error!r}")
            if time.monotonic() > deadline:
                self.stop()
                raise EmulatorError(f"The emulator did not start within {self._startup_timeout}s.")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Shut the server down and wait for its thread (idempotent)."""
        server, thread = self._server, self._thread
        if server is not None:
            server.should_exit = True
        if thread is not None:
            thread.join(timeout=10)
            if thread.is_alive() and server is not None:
                server.force_exit = True
                thread.join(timeout=5)
        self._thread = None
        self._server = None

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def add_fault(self, rule: FaultRule | Mapping[str, Any] | None = None, **fields: Any) -> list[dict[str, Any]]:
        parsed = rule if isinstance(rule, FaultRule) else FaultRule.model_validate({**dict(rule or {}), **fields})
        return self.state.add_faults([parsed])

    def clear_faults(self) -> None:
        self.state.clear_faults()

    def faults(self) -> list[dict[str, Any]]:
        return self.state.faults()

    def stats(self) -> dict[str, Any]:
        return self.state.stats()

    def reset_stats(self) -> None:
        self.state.reset_stats()

    def configure(self, **changes: Any) -> dict[str, Any]:
        return self.state.configure(changes).model_dump(mode="json")

    def reset(self) -> None:
        self.state.reset_models()
        self.state.reset_stats()
        self.state.clear_faults()


class EmulatorProcess(_Handle):
    """The emulator as a child process (``python -m gradient_emulator``), controlled over HTTP
    through the admin endpoints."""

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        startup_timeout: float = 30.0,
        python: str | None = None,
    ) -> None:
        self.config = config or EmulatorConfig()
        self.host = host
        self.prefix = self.config.prefix
        self._requested_port = port
        self._startup_timeout = startup_timeout
        self._python = python or sys.executable
        self._proc: subprocess.Popen[str] | None = None
        self.port = 0

    def start(self) -> EmulatorProcess:
        if self._proc is not None:
            return self
        cmd = [
            self._python,
            "-m",
            "gradient_emulator",
            "--host",
            self.host,
            "--port",
            str(self._requested_port),
            "--config-json",
            self.config.model_dump_json(),
        ]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self._proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        marker = "listening on "
        if marker not in line:
            err = self._proc.stderr.read() if self._proc.stderr else ""
            self.stop()
            raise EmulatorError(f"The emulator process failed to start: {line.strip()} {err.strip()}")
        url = line.split(marker, 1)[1].strip()
        self.port = int(url.rsplit(":", 1)[1].split("/", 1)[0])
        deadline = time.monotonic() + self._startup_timeout
        while True:
            try:
                self._admin("GET", "/_admin/health")
                break
            except EmulatorError:
                if self._proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise
                time.sleep(0.05)
        return self

    def stop(self) -> None:
        """Terminate the child process (idempotent)."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
        self._proc = None

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _admin(self, method: str, path: str, payload: Any = None) -> Any:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            raise EmulatorError(f"Admin call {method} {path} failed: {exc.code} {exc.read().decode()}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise EmulatorError(f"Admin call {method} {path} failed: {exc}") from exc

    def add_fault(self, rule: FaultRule | Mapping[str, Any] | None = None, **fields: Any) -> list[dict[str, Any]]:
        parsed = rule if isinstance(rule, FaultRule) else FaultRule.model_validate({**dict(rule or {}), **fields})
        result = self._admin("POST", "/_admin/faults", parsed.model_dump())
        return list(result["faults"])

    def clear_faults(self) -> None:
        self._admin("DELETE", "/_admin/faults")

    def faults(self) -> list[dict[str, Any]]:
        return list(self._admin("GET", "/_admin/faults")["faults"])

    def stats(self) -> dict[str, Any]:
        return dict(self._admin("GET", "/_admin/stats"))

    def reset_stats(self) -> None:
        self._admin("POST", "/_admin/stats/reset")

    def configure(self, **changes: Any) -> dict[str, Any]:
        return dict(self._admin("POST", "/_admin/config", changes))

    def reset(self) -> None:
        self._admin("POST", "/_admin/reset")


@contextlib.contextmanager
def run_emulator(
    config: EmulatorConfig | Mapping[str, Any] | None = None,
    *,
    mode: Literal["thread", "process"] = "thread",
    host: str = "127.0.0.1",
    port: int = 0,
    **overrides: Any,
) -> Iterator[EmulatorServer | EmulatorProcess]:
    """Start the emulator on a free loopback port, yield its handle, always shut it down.

    Keyword overrides are :class:`EmulatorConfig` fields plus ``latency_fixed`` and
    ``latency_per_input``.
    """
    cfg = build_config(config, **overrides)
    handle: EmulatorServer | EmulatorProcess
    if mode == "thread":
        handle = EmulatorServer(cfg, host=host, port=port)
    else:
        handle = EmulatorProcess(cfg, host=host, port=port)
    handle.start()
    try:
        yield handle
    finally:
        handle.stop()
