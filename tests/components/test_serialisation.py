"""to_dict/from_dict round-trips, secrets as env-var references, and Pipeline.dumps/loads under
Haystack's default deserialization allowlist (in a fresh interpreter)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest
from haystack import Pipeline
from haystack.components.generators.utils import print_streaming_chunk
from haystack.document_stores.in_memory import InMemoryDocumentStore
from haystack.utils import Secret as HaystackSecret

import hayswitch
from haystack_integrations.components.embedders.hayswitch import ProviderDocumentEmbedder, ProviderTextEmbedder
from haystack_integrations.components.generators.hayswitch import ProviderChatGenerator, ProviderGenerator
from hayswitch import ConfigurationError, RetryPolicy

from .blog import CORPUS, indexing_pipeline, rag_pipeline, run_data

ENV_SECRET = {"type": "env_var", "env_vars": ["FAKE_API_KEY"], "strict": True}
COMMON: dict[str, Any] = {
    "provider": "fake",
    "settings": {"dimension": 32, "api_key": "env:FAKE_API_KEY"},
    "model": None,
    "retry": {"max_attempts": 2, "initial_wait": 0.0},
}

COMPONENTS: list[tuple[type, dict[str, Any]]] = [
    (
        ProviderDocumentEmbedder,
        {
            "batch_size": 7,
            "max_concurrency": 2,
            "progress_bar": False,
            "meta_fields_to_embed": ["title"],
            "embedding_separator": " | ",
            "prefix": "passage: ",
            "suffix": "!",
            "raise_on_failure": False,
            "provenance": False,
        },
    ),
    (ProviderTextEmbedder, {"prefix": "query: ", "suffix": "?"}),
    (ProviderChatGenerator, {"generation_kwargs": {"max_tokens": 9}, "streaming_callback": print_streaming_chunk}),
    (
        ProviderGenerator,
        {"generation_kwargs": {"temperature": 0.5}, "system_prompt": "Be brief.", "streaming_callback": None},
    ),
]


@pytest.mark.parametrize(("cls", "options"), COMPONENTS, ids=lambda x: getattr(x, "__name__", ""))
def test_round_trip(cls: type, options: dict[str, Any]) -> None:
    component = cls(**COMMON, **options)
    data = component.to_dict()
    assert data["type"].startswith("haystack_integrations.components.")
    init = data["init_parameters"]
    assert init["provider"] == "fake"
    assert init["settings"] == {"dimension": 32, "api_key": "env:FAKE_API_KEY"}
    assert init["retry"] == RetryPolicy(max_attempts=2, initial_wait=0).model_dump()
    json.dumps(data)  # plain JSON
    restored = cls.from_dict(data)
    assert restored.to_dict() == data
    for key, value in options.items():
        assert getattr(restored, key) == value
    if "streaming_callback" in options and options["streaming_callback"] is not None:
        assert init["streaming_callback"] == "haystack.components.generators.utils.print_streaming_chunk"


def test_defaults_round_trip_with_provider_none() -> None:
    for cls in (ProviderDocumentEmbedder, ProviderTextEmbedder, ProviderChatGenerator, ProviderGenerator):
        component = cls()
        data = component.to_dict()
        assert data["init_parameters"]["provider"] is None
        assert data["init_parameters"]["settings"] == {}
        assert cls.from_dict(data).to_dict() == data


@pytest.mark.parametrize(
    "secret",
    [hayswitch.Secret.from_env_var("FAKE_API_KEY"), HaystackSecret.from_env_var("FAKE_API_KEY"), ENV_SECRET],
    ids=["hayswitch-secret", "haystack-secret", "serialised-dict"],
)
def test_secrets_serialise_as_env_var_references_and_resolve_at_warm_up(
    secret: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FAKE_API_KEY", raising=False)
    embedder = ProviderTextEmbedder(provider="fake", settings={"api_key": secret})  # no resolution here
    data = embedder.to_dict()
    assert data["init_parameters"]["settings"]["api_key"] == ENV_SECRET
    with pytest.raises(hayswitch.MissingSecretError, match="FAKE_API_KEY"):
        embedder.warm_up()
    monkeypatch.setenv("FAKE_API_KEY", "s3cr3t-value")
    restored = ProviderTextEmbedder.from_dict(data)
    assert restored.run("hello")["meta"]["provider"] == "fake"
    assert "s3cr3t-value" not in json.dumps(restored.to_dict())


@pytest.mark.parametrize(
    "secret", [hayswitch.Secret.from_token("tok-123-secret"), HaystackSecret.from_token("tok-123-secret")]
)
def test_token_secrets_work_in_memory_but_refuse_to_serialise(secret: Any) -> None:
    generator = ProviderGenerator(provider="fake", settings={"api_key": secret})
    assert generator.run("hi")["replies"] == ["Echo: hi"]
    with pytest.raises(ConfigurationError, match="api_key") as info:
        generator.to_dict()
    assert "tok-123-secret" not in str(info.value)


def test_plain_string_secret_is_refused_at_init() -> None:
    with pytest.raises(hayswitch.SettingsError, match="env:VARIABLE_NAME"):
        ProviderChatGenerator(provider="fake", settings={"api_key": "sk-literal"})


def test_retry_option_forms() -> None:
    assert ProviderTextEmbedder(retry=RetryPolicy(max_attempts=3)).retry == RetryPolicy(max_attempts=3)
    assert ProviderTextEmbedder(retry={"max_attempts": 3}).to_dict()["init_parameters"]["retry"]["max_attempts"] == 3
    with pytest.raises(hayswitch.SettingsError, match="max_attempts"):
        ProviderTextEmbedder(retry={"max_attempts": 0})
    with pytest.raises(hayswitch.SettingsError, match="Valid fields"):
        ProviderTextEmbedder(retry={"attempts": 3})
    with pytest.raises(ConfigurationError, match="retry must be"):
        ProviderTextEmbedder(retry=3)  # type: ignore[arg-type]


def test_pipeline_dumps_and_loads_in_process() -> None:
    store = InMemoryDocumentStore(index=f"ser-{uuid.uuid4()}")
    rag = rag_pipeline(store, provider="fake", settings={"dimension": 256})
    loaded = Pipeline.loads(rag.dumps())
    before, after = rag.to_dict(), loaded.to_dict()
    assert after["components"] == before["components"]

    def key(c: dict[str, str]) -> tuple[str, str]:
        return c["sender"], c["receiver"]

    assert sorted(after["connections"], key=key) == sorted(before["connections"], key=key)
    assert type(loaded.get_component("generator")) is ProviderGenerator


LOADER = textwrap.dedent(
    """
    import json, sys
    from haystack import Pipeline
    from haystack.core import serialization_security as sec

    assert not sec._extra_allowed_modules and not sec._patterns_from_env()  # the default allowlist only
    from haystack import Document
    docs = [Document.from_dict(d) for d in json.load(open("docs.json"))]
    question = "What are the steps for creating a custom component?"
    results = {}
    for name in sys.argv[1:]:
        indexing = Pipeline.loads(open(f"{name}-indexing.yaml").read())
        rag = Pipeline.loads(open(f"{name}-rag.yaml").read())
        written = indexing.run({"embedder": {"documents": docs}})["writer"]["documents_written"]
        out = rag.run({"text_embedder": {"text": question}, "prompt_builder": {"query": question}})
        results[name] = {"written": written, "reply": out["generator"]["replies"][0],
                         "provider": out["generator"]["meta"][0]["provider"]}
    print(json.dumps(results))
    """
)


def test_pipeline_loads_in_a_fresh_interpreter_with_the_default_allowlist(tmp_path: Path) -> None:
    """A YAML naming the provider and a YAML with ``provider: null`` (HAYSWITCH_PROVIDER=fake in the
    child's environment) both load and run in a new interpreter, with no ``allowed_modules``."""
    for name, provider in (("named", "fake"), ("configured", None)):
        store = InMemoryDocumentStore(index=f"fresh-{name}")
        (tmp_path / f"{name}-indexing.yaml").write_text(indexing_pipeline(store, provider=provider).dumps())
        (tmp_path / f"{name}-rag.yaml").write_text(rag_pipeline(store, provider=provider).dumps())
    assert "provider: null" in (tmp_path / "configured-rag.yaml").read_text()
    assert "haystack_integrations.components.embedders.hayswitch" in (tmp_path / "named-rag.yaml").read_text()
    (tmp_path / "docs.json").write_text(json.dumps([d.to_dict() for d in CORPUS]))
    (tmp_path / "loader.py").write_text(LOADER)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("HAYSWITCH_", "HAYSTACK_DESERIALIZATION", "HAYSTACK_UNSAFE"))
    }
    env["HAYSWITCH_PROVIDER"] = "fake"  # only the provider: null pipeline reads it
    done = subprocess.run(
        [sys.executable, "loader.py", "named", "configured"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout.strip().splitlines()[-1])
    for name in ("named", "configured"):
        assert results[name]["written"] == len(CORPUS)
        assert results[name]["provider"] == "fake"
        assert results[name]["reply"].startswith("Echo: Answer the query")
        assert run_data()["prompt_builder"]["query"] in results[name]["reply"]
