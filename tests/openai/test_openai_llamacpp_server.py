"""The llama.cpp server helper behind the live tests and the documented llama.cpp recipe."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hayswitch import ProviderConnectionError
from llamacpp_server import LlamaCppServer, find_smollm2_gguf, free_port, server_config


def test_smollm2_gguf_is_found_in_the_package() -> None:
    path = find_smollm2_gguf()
    assert path.suffix == ".gguf"
    assert path.is_file()
    assert path.stat().st_size > 10_000_000


def test_server_config_serves_chat_and_pooled_embeddings(tmp_path: Path) -> None:
    config = server_config(tmp_path / "m.gguf", port=8123, alias="tiny", n_threads=1, api_key="k")
    (model,) = config["models"]
    assert model["model_alias"] == "tiny"
    assert model["embedding"] is True
    assert model["kv_overrides"] == ["llama.pooling_type=int:1"]
    assert config["interrupt_requests"] is False
    assert config["host"] == "127.0.0.1"
    assert config["api_key"] == "k"
    assert "api_key" not in server_config(tmp_path / "m.gguf")


def test_cli_prints_the_config_without_the_key() -> None:
    # sys.path: the dev-only tools/llamacpp-server may be importable only through pytest's pythonpath.
    env = {"PATH": "/usr/bin:/bin", "SERVER_KEY": "very-secret-value", "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run(
        [sys.executable, "-m", "llamacpp_server", "--print-config", "--api-key-env", "SERVER_KEY"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=60,
    ).stdout
    config = json.loads(out)
    assert config["api_key"] == "***"
    assert "very-secret-value" not in out
    assert config["models"][0]["model"].endswith(".gguf")


def test_free_port_is_bindable() -> None:
    port = free_port()
    assert 1024 <= port <= 65535


def test_start_failure_reports_the_server_log(tmp_path: Path) -> None:
    broken = tmp_path / "not-a-model.gguf"
    broken.write_bytes(b"this is not a gguf file")
    server = LlamaCppServer(broken, startup_timeout=60)
    with pytest.raises(ProviderConnectionError) as excinfo:
        server.start()
    assert "exited during start-up" in str(excinfo.value)
    assert not server.running
    server.stop()  # idempotent
