"""docs/writing-a-provider.md works as written: its code, laid out as the package the guide
describes (with a dist-info, as pip installs it), is discovered through its entry point and passes
the whole contract kit -- first recording cassettes against a stand-in Acme API on 127.0.0.1 with
the *real* key (the declaration's dummy key is for replays only), then replaying them with that
server stopped and only the dummy key set.

(The recording here goes to a temporary directory against a loopback server, so it is allowed even
when ``CI`` is set; real cassettes are never recorded under CI.)
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from hayswitch.providers.fake import fake_embedding

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "writing-a-provider.md"
REAL_KEY = "real-acme-key-used-only-to-record"
_BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def guide_files() -> dict[str, str]:
    """The package files of the guide, keyed by the path named in each block's first comment."""
    files: dict[str, str] = {}
    for code in _BLOCK.findall(GUIDE.read_text(encoding="utf-8")):
        first = code.splitlines()[0]
        match = re.match(r"# (\S+\.py)( \(.*\))?$", first)
        if match:
            files[match.group(1)] = files.get(match.group(1), "") + code
    return files


class _AcmeHandler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        if self.headers.get("authorization") != f"Bearer {REAL_KEY}":
            self._send(401, {"error": "bad key"})
        elif self.path.endswith("/embed"):
            vectors = [fake_embedding(t, 16, body["model"]) for t in body["texts"]]
            self._send(200, {"model": body["model"], "embeddings": vectors, "usage": {"tokens": len(body["texts"])}})
        elif self.path.endswith("/chat"):
            words = ("Hello: " + body["messages"][-1]["content"]).split()[: body.get("max_tokens", 50)]
            usage = {"prompt_tokens": 3, "completion_tokens": len(words)}
            self._send(200, {"text": " ".join(words), "finish_reason": "stop", "usage": usage})
        else:
            self._send(404, {"error": "no such endpoint"})

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def acme_server() -> Iterator[tuple[str, ThreadingHTTPServer]]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _AcmeHandler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1", httpd
    finally:
        httpd.shutdown()
        httpd.server_close()


def _layout(root: Path, base_url: str) -> None:
    files = guide_files()
    assert set(files) == {
        "src/hayswitch_acme/provider.py",
        "src/hayswitch_acme/plugin.py",
        "tests/test_acme_contract.py",
    }, sorted(files)
    for rel, code in files.items():
        if rel.endswith("plugin.py"):  # the declaration's contract settings point at the stand-in API
            code = code.replace("https://api.acme.example/v1", base_url)
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(code, encoding="utf-8")
    package = root / "src" / "hayswitch_acme"
    (package / "__init__.py").write_text(
        "from hayswitch_acme.provider import AcmeProvider, AcmeSettings\n", encoding="utf-8"
    )
    (package / "py.typed").write_text("", encoding="utf-8")
    # What `pip install` writes: metadata and the entry points of the distribution.
    info = root / "src" / "hayswitch_acme-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: hayswitch-acme\nVersion: 0.1.0\n", encoding="utf-8")
    (info / "entry_points.txt").write_text("[hayswitch]\nacme = hayswitch_acme.plugin\n", encoding="utf-8")


def _run_kit(root: Path, record: bool) -> dict[str, tuple[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HAYSWITCH_") and k != "CI"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root / "src"), os.environ.get("PYTHONPATH")]))
    env["HAYSWITCH_STRICT_PLUGINS"] = "1"
    env.pop("ACME_API_KEY", None)
    if record:
        env["HAYSWITCH_RECORD"] = "1"
        env["ACME_API_KEY"] = REAL_KEY  # recording uses the real credentials from the environment
    report = root / ("record.xml" if record else "replay.xml")
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--junitxml", str(report), "tests"]
    proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert report.is_file(), proc.stdout[-3000:] + proc.stderr[-3000:]
    results = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        outcome, message = "passed", ""
        for child in case:
            if child.tag in {"failure", "error", "skipped"}:
                outcome, message = child.tag, (child.get("message") or "") + (child.text or "")
        results[str(case.get("name"))] = (outcome, message)
    return results


def test_the_guide_package_passes_the_contract_kit(
    tmp_path: Path, acme_server: tuple[str, ThreadingHTTPServer]
) -> None:
    base_url, httpd = acme_server
    _layout(tmp_path, base_url)

    recorded = _run_kit(tmp_path, record=True)
    problems = {name: r for name, r in recorded.items() if r[0] in {"failure", "error"}}
    assert not problems, problems
    cassettes = sorted((tmp_path / "src" / "hayswitch_acme" / "cassettes").glob("*.hayswitch.yaml"))
    assert len(cassettes) >= 10
    for cassette in cassettes:
        text = cassette.read_text(encoding="utf-8")
        assert REAL_KEY not in text
        assert "dummy-key-for-replay" not in text
        assert "REDACTED" in text
        assert "json:" in text

    httpd.shutdown()  # replays must not need the API: connections are now refused
    httpd.server_close()
    replayed = _run_kit(tmp_path, record=False)
    assert replayed.keys() == recorded.keys()
    problems = {name: r for name, r in replayed.items() if r[0] in {"failure", "error"}}
    assert not problems, problems
    skipped = {name: r[1] for name, r in replayed.items() if r[0] == "skipped"}
    # Acme has no streaming endpoint, no tools and no structured output, and is not declared
    # deterministic: only those checks skip.
    assert set(skipped) == {
        "test_stream_yields_chunks_with_final_finish_reason",
        "test_stream_concatenation_equals_generate",
        "test_async_stream_matches_sync",
        "test_invalid_tool_requests_fail_before_any_request",
        "test_tool_call_round_trip",
        "test_stream_tool_call",
        "test_structured_output_is_schema_valid",
    }, skipped
    assert all("not applicable" in reason for reason in skipped.values())
    assert replayed["test_discovered_by_name_through_registry"][0] == "passed"
    assert replayed["test_listing_does_not_import_heavy_modules"][0] == "passed"
