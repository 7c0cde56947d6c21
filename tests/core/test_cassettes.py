"""Cassette rules of the contract kit: replay only by default, recording refused under CI, secrets
scrubbed, request bodies matched, JSON bodies readable, unplayed interactions fail.

Interactions are recorded against a throw-away HTTP server on 127.0.0.1 and replayed with the
server stopped, so replays provably do not touch the network.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
import yaml  # type: ignore[import-untyped, unused-ignore]
from vcr.errors import CannotOverwriteExistingCassetteException

from hayswitch import Provider
from hayswitch.testing import (
    REDACTED,
    CassetteRecordingError,
    UnplayedInteractionsError,
    cassette_config,
    cassette_path,
    record_mode,
    use_cassette,
)


class ScrubbingProvider(Provider):
    """Only its class attributes matter here: the names the cassettes scrub."""

    name: ClassVar[str] = "scrubbing"
    scrub_headers: ClassVar[tuple[str, ...]] = ("authorization", "x-api-key", "set-cookie")
    scrub_query_params: ClassVar[tuple[str, ...]] = ("key",)


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", "0"))
        payload = json.loads(self.rfile.read(length) or b"{}")
        body = json.dumps({"echo": payload, "data": [{"embedding": [0.1, 0.2], "index": 0}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Api-Key", "response-secret-abc")
        self.send_header("Set-Cookie", "session=cookie-secret-xyz")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _post(base: str, body: dict[str, Any], token: str = "sk-request-secret", key: str = "query-secret") -> Any:
    with httpx.Client() as client:
        response = client.post(
            f"{base}/v1/embed", params={"key": key, "v": "1"}, json=body, headers={"Authorization": f"Bearer {token}"}
        )
        response.raise_for_status()
        return response.json()


def _record(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, base: str, name: str, bodies: list[dict[str, Any]]
) -> Path:
    monkeypatch.setenv("HAYSWITCH_RECORD", "1")
    monkeypatch.delenv("CI", raising=False)
    with use_cassette(ScrubbingProvider, tmp_path, name):
        for body in bodies:
            _post(base, body)
    monkeypatch.delenv("HAYSWITCH_RECORD")
    path = cassette_path(tmp_path, name)
    assert path.is_file()
    return path


def test_record_scrubs_secrets_and_stores_json_readably(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, server: str
) -> None:
    path = _record(monkeypatch, tmp_path, server, "scrub", [{"input": ["a", "b"], "model": "m"}])
    text = path.read_text(encoding="utf-8")
    for secret in ("sk-request-secret", "query-secret", "response-secret-abc", "cookie-secret-xyz"):
        assert secret not in text
    data = yaml.safe_load(text)
    (interaction,) = data["interactions"]
    request, response = interaction["request"], interaction["response"]
    assert {k.lower(): v for k, v in request["headers"].items()}["authorization"] == [REDACTED]
    assert f"key={REDACTED}" in request["uri"]
    assert request["body"] == {"json": {"input": ["a", "b"], "model": "m"}}
    assert response["body"]["json"]["data"][0]["embedding"] == [0.1, 0.2]
    headers = {k.lower(): v for k, v in response["headers"].items()}
    assert headers["x-api-key"] == [REDACTED]
    assert headers["set-cookie"] == [REDACTED]


def test_replay_needs_no_server_and_matches_json_bodies_parsed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, server: str
) -> None:
    _record(monkeypatch, tmp_path, server, "replay", [{"model": "m", "input": ["x"]}])
    # A different token and query secret (scrubbed before matching) and a different key order
    # (JSON compared parsed) still match; the server is never contacted.
    with use_cassette(ScrubbingProvider, tmp_path, "replay") as cassette:
        reply = _post(server, {"input": ["x"], "model": "m"}, "other", "other")
    assert reply["echo"] == {"model": "m", "input": ["x"]}
    assert cassette.play_count == 1


def test_replay_refuses_a_request_with_a_different_body(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, server: str
) -> None:
    _record(monkeypatch, tmp_path, server, "body", [{"input": ["x"]}])
    with (
        pytest.raises(CannotOverwriteExistingCassetteException),
        use_cassette(ScrubbingProvider, tmp_path, "body"),
    ):
        _post(server, {"input": ["y"]})


def test_replay_without_a_cassette_makes_no_request(tmp_path: Path, server: str) -> None:
    with (
        pytest.raises(CannotOverwriteExistingCassetteException),
        use_cassette(ScrubbingProvider, tmp_path, "missing"),
    ):
        _post(server, {"input": ["x"]})
    assert not cassette_path(tmp_path, "missing").exists()


def test_unplayed_interactions_fail(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, server: str) -> None:
    _record(monkeypatch, tmp_path, server, "stale", [{"input": ["one"]}, {"input": ["two"]}])
    with (
        pytest.raises(UnplayedInteractionsError, match="1 interaction"),
        use_cassette(ScrubbingProvider, tmp_path, "stale"),
    ):
        _post(server, {"input": ["one"]})


def test_rerecording_replaces_the_cassette(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, server: str) -> None:
    _record(monkeypatch, tmp_path, server, "again", [{"input": ["old"]}, {"input": ["older"]}])
    path = _record(monkeypatch, tmp_path, server, "again", [{"input": ["new"]}])
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert [i["request"]["body"]["json"]["input"] for i in data["interactions"]] == [["new"]]


def test_recording_under_ci_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HAYSWITCH_RECORD", "1")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(CassetteRecordingError, match="under CI"):
        record_mode()
    with pytest.raises(CassetteRecordingError, match="under CI"), use_cassette(ScrubbingProvider, tmp_path, "ci"):
        pass
    with pytest.raises(CassetteRecordingError):
        cassette_config(ScrubbingProvider)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "none"),
        ({"HAYSWITCH_RECORD": "0"}, "none"),
        ({"HAYSWITCH_RECORD": "1"}, "rewrite"),
        ({"HAYSWITCH_RECORD": "new_episodes"}, "new_episodes"),
        ({"HAYSWITCH_RECORD": "0", "CI": "1"}, "none"),
        ({"HAYSWITCH_RECORD": "1", "CI": "false"}, "rewrite"),
    ],
)
def test_record_mode_from_environment(env: dict[str, str], expected: str) -> None:
    assert record_mode(env) == expected


def test_unknown_record_value_is_an_error() -> None:
    with pytest.raises(CassetteRecordingError, match="HAYSWITCH_RECORD=1"):
        record_mode({"HAYSWITCH_RECORD": "sometimes"})


def test_cassette_config_for_pytest_recording() -> None:
    config = cassette_config(ScrubbingProvider, extra_scrub_headers=["X-Extra"])
    assert config["record_mode"] == "none"
    assert ("authorization", REDACTED) in config["filter_headers"]
    assert ("x-extra", REDACTED) in config["filter_headers"]
    assert config["filter_query_parameters"] == [("key", REDACTED)]
    assert "hayswitch_body" in config["match_on"]
    assert config["serializer"] == "hayswitch.yaml"


def test_cassette_config_rejects_non_providers() -> None:
    from hayswitch import ConfigurationError

    with pytest.raises(ConfigurationError, match="Provider subclass"):
        cassette_config(object)  # type: ignore[arg-type]


PYTEST_RECORDING_MODULE = """
import httpx
import pytest

from hayswitch import Provider
from hayswitch.testing import cassette_config


class Scrub(Provider):
    name = "scrub"


@pytest.fixture
def vcr_config():
    return cassette_config(Scrub)


@pytest.fixture
def vcr_cassette_dir():
    return "cassettes"


def _post(text):
    return httpx.post("http://127.0.0.1:9/v1/embed", json={"input": [text]}).json()


@pytest.mark.cassette
@pytest.mark.vcr
def test_plays_everything():
    assert _post("one") == {"data": [1]}
    assert _post("two") == {"data": [2]}


@pytest.mark.cassette
@pytest.mark.vcr
def test_leaves_one_unplayed():
    assert _post("one") == {"data": [1]}


@pytest.mark.cassette
@pytest.mark.vcr
def test_unknown_body():
    _post("three")
"""

TWO_INTERACTIONS = """\
version: 1
interactions:
- request: {method: POST, uri: "http://127.0.0.1:9/v1/embed", body: {json: {input: [one]}}, headers: {}}
  response: {status: {code: 200, message: OK}, headers: {}, body: {json: {data: [1]}}}
- request: {method: POST, uri: "http://127.0.0.1:9/v1/embed", body: {json: {input: [two]}}, headers: {}}
  response: {status: {code: 200, message: OK}, headers: {}, body: {json: {data: [2]}}}
"""


def test_pytest_recording_integration(tmp_path: Path) -> None:
    """pytest-recording with cassette_config(): the plugin's serializer and body matcher are used,
    and a test that leaves interactions unplayed fails."""
    import os
    import subprocess
    import sys

    (tmp_path / "test_rec.py").write_text(PYTEST_RECORDING_MODULE, encoding="utf-8")
    (tmp_path / "cassettes").mkdir()
    for name in ("test_plays_everything", "test_leaves_one_unplayed", "test_unknown_body"):
        (tmp_path / "cassettes" / f"{name}.hayswitch.yaml").write_text(TWO_INTERACTIONS, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HAYSWITCH_")}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA", "test_rec.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    out = proc.stdout
    assert "PASSED test_rec.py::test_plays_everything" in out, out[-3000:]
    assert "FAILED test_rec.py::test_leaves_one_unplayed" in out, out[-3000:]
    assert "did not play" in out
    assert "FAILED test_rec.py::test_unknown_body" in out, out[-3000:]
    assert "CannotOverwriteExistingCassetteException" in out
