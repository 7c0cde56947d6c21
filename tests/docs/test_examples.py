"""Every example under examples/ runs, and the YAML pipelines switch backend by configuration only.

* ``examples/pipelines/{indexing,query}.yaml`` are loaded with ``Pipeline.loads`` (Haystack's
  default allowlist) and run over ``examples/notes`` by ``examples/pipelines/rag.py`` on ``fake``,
  on the template provider ``wordbag`` and (slow) on ``local``, with nothing but
  ``HAYSWITCH_PROVIDER`` changed; on Gradient and on an OpenAI-compatible server (llama.cpp's)
  from cassettes, with ``HAYSWITCH_PROVIDER`` and the provider's settings variables only.
* Every example script runs as ``__main__`` (in this process, so models loaded by the ``local``
  provider are shared with the rest of the session) and must exit cleanly.
"""

from __future__ import annotations

import contextlib
import importlib.util
import runpy
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
import yaml
from haystack import Pipeline

from .docblocks import ROOT

EXAMPLES = ROOT / "examples"
PIPELINES = EXAMPLES / "pipelines"
NOTES = EXAMPLES / "notes"
CASSETTES = Path(__file__).resolve().parent / "cassettes"
MODEL_COMPONENTS = {
    "indexing": ["embedder"],
    "query": ["text_embedder", "generator"],
    "grounded_query": ["text_embedder", "evidence", "generator"],
}


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


needs_local = pytest.mark.skipif(not _installed("hayswitch_local"), reason="hayswitch-local is not installed")


@pytest.fixture(scope="module")
def rag() -> Iterator[ModuleType]:
    """examples/pipelines/rag.py, imported as a module."""
    spec = importlib.util.spec_from_file_location("hayswitch_example_rag", PIPELINES / "rag.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


# --------------------------------------------------------------------------- the YAML files


@pytest.mark.parametrize("name", sorted(MODEL_COMPONENTS))
def test_yaml_pipelines_name_no_provider(name: str) -> None:
    """The model components say ``provider: null``: the backend comes from configuration."""
    data = yaml.safe_load((PIPELINES / f"{name}.yaml").read_text(encoding="utf-8"))
    for component in MODEL_COMPONENTS[name]:
        params = data["components"][component]["init_parameters"]
        assert params["provider"] is None, f"{name}.yaml: {component} names a provider"
        assert not params.get("settings"), f"{name}.yaml: {component} holds provider settings"


@pytest.mark.parametrize("name", sorted(MODEL_COMPONENTS))
def test_yaml_pipelines_load_with_the_default_allowlist(name: str) -> None:
    pipeline = Pipeline.loads((PIPELINES / f"{name}.yaml").read_text(encoding="utf-8"))
    assert set(MODEL_COMPONENTS[name]) <= set(pipeline.graph.nodes)
    # A round trip keeps provider=None (no provider is pinned by serialisation).
    again = Pipeline.loads(pipeline.dumps())
    for component in MODEL_COMPONENTS[name]:
        assert again.get_component(component).to_dict()["init_parameters"]["provider"] is None


def test_query_pipeline_is_the_blog_posts_pipeline() -> None:
    """Connected exactly as in the Gradient blog post."""
    pipeline = Pipeline.loads((PIPELINES / "query.yaml").read_text(encoding="utf-8"))
    pairs = {(sender, receiver) for sender, receiver in pipeline.graph.edges()}
    assert pairs == {("text_embedder", "retriever"), ("retriever", "prompt_builder"), ("prompt_builder", "generator")}


# --------------------------------------------------------------------------- the RAG example


def test_rag_on_fake(rag: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HAYSWITCH_PROVIDER", "fake")
    written = rag.index_notes(NOTES)
    assert written >= len(list(NOTES.glob("*.md")))
    answer = rag.ask("What are the steps for creating a custom component?")
    assert answer.meta["provider"] == "fake"
    assert answer.answer.startswith("Echo:")  # the fake provider echoes the prompt it was given
    # The prompt it echoes is the blog's template filled with the best passage first.
    assert answer.answer.startswith(
        "Echo: Answer the query, based on the content in the documents. Documents: # Creating"
    )
    assert answer.sources[0]["file"] == "custom-components.md"
    assert len(answer.sources) == 3


def test_rag_switches_provider_by_configuration_only(rag: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same two YAML files, re-indexed and queried with another provider: only the env changes."""
    monkeypatch.setenv("HAYSWITCH_PROVIDER", "fake")
    rag.index_notes(NOTES)
    on_fake = rag.ask()

    monkeypatch.setenv("HAYSWITCH_PROVIDER", "wordbag")  # the provider template's distribution
    rag.index_notes(NOTES)
    on_wordbag = rag.ask()

    assert on_fake.meta["provider"] == "fake"
    assert on_wordbag.meta["provider"] == "wordbag"
    assert on_wordbag.meta["model"] == "wordbag-extractive"
    # The extractive provider answers from the retrieved note, list included.
    assert on_wordbag.answer.startswith("The steps for creating a custom component are:")
    assert "Write a class and decorate it with `@component`." in on_wordbag.answer
    assert on_wordbag.sources[0]["file"] == "custom-components.md"


def test_grounded_rag_on_fake(rag: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    """grounded_query.yaml: the answer is an evidence sentence with its source, or "not found"."""
    monkeypatch.setenv("HAYSWITCH_PROVIDER", "fake")
    rag.index_notes(NOTES)
    answer = rag.ask_grounded("What are the steps for creating a custom component?")
    # The fake provider echoes its prompt: the drift check replaces that by the evidence.
    assert answer.meta["status"] == "extracted"
    assert not answer.answer.startswith("Echo:")
    assert answer.meta["evidence"]
    assert answer.meta["evidence"][0]["text"] in answer.answer
    assert answer.meta["evidence"][0]["source"].startswith("custom-components.md")
    assert answer.sources[0]["file"] == "custom-components.md"
    missing = rag.ask_grounded("Who painted the Mona Lisa?")
    assert missing.answer == "I could not find this in the indexed documents."
    assert missing.meta["status"] == "not_found"
    assert missing.meta["evidence"] == []


def test_rag_refuses_an_empty_notes_folder(rag: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HAYSWITCH_PROVIDER", "fake")
    with pytest.raises(SystemExit, match=r"holds no \.md or \.txt files"):
        rag.index_notes(tmp_path)
    with pytest.raises(SystemExit, match="is not a folder"):
        rag.index_notes(tmp_path / "missing")


@pytest.mark.slow
@needs_local
def test_rag_on_local(rag: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    """Real models, offline: the embedded default provider retrieves the right note and answers."""
    monkeypatch.setenv("HAYSWITCH_PROVIDER", "local")
    rag.index_notes(NOTES)
    answer = rag.ask(max_tokens=24)
    assert answer.meta["provider"] == "local"
    assert answer.sources[0]["file"] == "custom-components.md"
    assert answer.answer.strip()


@pytest.mark.slow
@needs_local
def test_grounded_rag_on_local(rag: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HAYSWITCH_PROVIDER", "local")
    rag.index_notes(NOTES)
    answer = rag.ask_grounded()
    assert answer.meta["status"] in {"generated", "extracted"}
    assert answer.meta["evidence"][0]["source"].startswith("custom-components.md")
    assert "@component" in answer.answer or "decorat" in answer.answer or "run" in answer.answer
    assert rag.ask_grounded("Who painted the Mona Lisa?").meta["status"] == "not_found"


OPENAI_RECORD_PORT = 18452  # fixed while recording: the base URL is part of each recorded request
OPENAI_KEY = "hayswitch-examples-key"  # the test server's bearer token (not a real credential)


@pytest.mark.cassette
@pytest.mark.skipif(not _installed("hayswitch_openai"), reason="hayswitch-openai is not installed")
def test_rag_on_an_openai_compatible_server(rag: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same YAML on an OpenAI-compatible server, configured through the environment only.

    Replays ``tests/docs/cassettes/rag-notes-openai.hayswitch.yaml``, recorded (``HAYSWITCH_RECORD=1``)
    from llama.cpp's server serving SmolLM2 on 127.0.0.1, started with the openai provider's own
    server helper.
    """
    from hayswitch import get_provider_class
    from hayswitch.testing import is_recording, use_cassette
    from llamacpp_server import DEFAULT_ALIAS, LlamaCppServer

    monkeypatch.setenv("HAYSWITCH_PROVIDER", "openai")
    monkeypatch.setenv("HAYSWITCH_OPENAI__BASE_URL", f"http://127.0.0.1:{OPENAI_RECORD_PORT}/v1")
    monkeypatch.setenv("HAYSWITCH_OPENAI__API_KEY", "env:HAYSWITCH_EXAMPLES_KEY")
    monkeypatch.setenv("HAYSWITCH_EXAMPLES_KEY", OPENAI_KEY)
    monkeypatch.setenv("HAYSWITCH_OPENAI__CHAT_MODEL", DEFAULT_ALIAS)
    monkeypatch.setenv("HAYSWITCH_OPENAI__EMBEDDING_MODEL", DEFAULT_ALIAS)
    server = LlamaCppServer(port=OPENAI_RECORD_PORT, api_key=OPENAI_KEY) if is_recording() else None
    try:
        if server is not None:
            server.start()
        with use_cassette(get_provider_class("openai"), CASSETTES, "rag-notes-openai"):
            written = rag.index_notes(NOTES)
            answer = rag.ask(max_tokens=32)
    finally:
        if server is not None:
            server.stop()
    assert written >= len(list(NOTES.glob("*.md")))
    assert answer.meta["provider"] == "openai"
    assert answer.meta["model"] == DEFAULT_ALIAS
    assert answer.answer.strip()
    assert len(answer.sources) == 3


GRADIENT_RECORD_PORT = 38212  # fixed while recording: the host is part of each recorded request
GRADIENT_TOKEN = "fake-gradient-token-for-examples"  # the emulator's token (not a real credential)
GRADIENT_WORKSPACE = "fake-workspace-for-examples_workspace"


@pytest.mark.cassette
@pytest.mark.skipif(not _installed("hayswitch_gradient"), reason="hayswitch-gradient is not installed")
def test_rag_on_gradient(rag: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same YAML on Gradient, configured through the environment only.

    Replays ``tests/docs/cassettes/rag-notes-gradient.hayswitch.yaml``, recorded
    (``HAYSWITCH_RECORD=1``) with the real ``gradientai`` SDK against the Gradient emulator
    (``tools/gradient-emulator``); the hosted Gradient API is retired.
    """
    from hayswitch import get_provider_class
    from hayswitch.testing import is_recording, use_cassette

    monkeypatch.setenv("HAYSWITCH_PROVIDER", "gradient")
    monkeypatch.setenv("HAYSWITCH_GRADIENT__HOST", f"http://127.0.0.1:{GRADIENT_RECORD_PORT}/api")
    monkeypatch.setenv("HAYSWITCH_GRADIENT__BASE_MODEL_SLUG", "nous-hermes2")
    monkeypatch.setenv("GRADIENT_ACCESS_TOKEN", GRADIENT_TOKEN)
    monkeypatch.setenv("GRADIENT_WORKSPACE_ID", GRADIENT_WORKSPACE)
    with contextlib.ExitStack() as stack:
        if is_recording():
            from gradient_emulator.server import EmulatorServer, build_config

            config = build_config(access_tokens=[GRADIENT_TOKEN], workspace_ids=[GRADIENT_WORKSPACE])
            stack.enter_context(EmulatorServer(config, port=GRADIENT_RECORD_PORT))
        with use_cassette(get_provider_class("gradient"), CASSETTES, "rag-notes-gradient"):
            written = rag.index_notes(NOTES)
            answer = rag.ask(max_tokens=32)
    assert written >= len(list(NOTES.glob("*.md")))
    assert answer.meta["provider"] == "gradient"
    assert answer.answer.strip()
    assert answer.sources[0]["file"] == "custom-components.md"


# --------------------------------------------------------------------------- every example script


def _run_script(path: Path, argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    old_argv = sys.argv
    sys.argv = [str(path), *argv]
    code: object = 0
    try:
        runpy.run_path(str(path), run_name="__main__")
    except SystemExit as exc:  # argparse / sys.exit(main())
        code = exc.code
    finally:
        sys.argv = old_argv
    out = capsys.readouterr().out
    assert code in (0, None), f"{path.relative_to(ROOT)} exited with {code}:\n{out[-2000:]}"
    return out


SCRIPTS = sorted(p for p in EXAMPLES.rglob("*.py") if "provider-template" not in p.parts)


# Example modules that are not run as scripts here, and the test that covers each.
COVERED_ELSEWHERE: dict[str, str] = {
    "agents/weather_tools.py": "imported by agents/agent.yaml (agents/run_agent.py below)",
    "agents/build_agent_yaml.py": "tests/components/test_tools.py::test_agent_yaml_is_current",
}


def test_every_example_script_is_covered() -> None:
    """A new example script must be added to SCRIPT_ARGS (so it is run below) or, for a module that
    is not a script, to COVERED_ELSEWHERE with the test that covers it."""
    assert {p.relative_to(EXAMPLES).as_posix() for p in SCRIPTS} <= set(SCRIPT_ARGS) | set(COVERED_ELSEWHERE)


SCRIPT_ARGS: dict[str, list[str]] = {
    "blog_pipeline.py": ["--max-tokens", "24"],
    "blog_chat_pipeline.py": ["--max-tokens", "48"],
    "pipelines/rag.py": ["--max-tokens", "48"],
    "agents/run_agent.py": ["What is the weather in Paris?"],
}


FAKE_RUNS = [(script, args) for script, args in sorted(SCRIPT_ARGS.items())] + [
    ("blog_chat_pipeline.py", [*SCRIPT_ARGS["blog_chat_pipeline.py"], "--async", "--stream"]),
]


@pytest.mark.parametrize(("script", "args"), FAKE_RUNS, ids=[" ".join([s, *a]) for s, a in FAKE_RUNS])
def test_example_script_runs_on_fake(
    script: str, args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = EXAMPLES / script
    if not path.is_file():
        pytest.fail(f"examples/{script} is listed but missing")
    monkeypatch.setenv("HAYSWITCH_PROVIDER", "fake")
    out = _run_script(path, args, capsys)
    assert "Echo:" in out, out[-2000:]


@pytest.mark.slow
@needs_local
@pytest.mark.parametrize("script", ["blog_pipeline.py"])  # rag.py on local: test_rag_on_local
def test_example_script_runs_on_local(
    script: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = EXAMPLES / script
    if not path.is_file():
        pytest.fail(f"examples/{script} is listed but missing")
    monkeypatch.setenv("HAYSWITCH_PROVIDER", "local")
    out = _run_script(path, SCRIPT_ARGS[script], capsys)
    assert "local" in out, out[-2000:]
