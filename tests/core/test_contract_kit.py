"""The contract kit itself: each check fails on a provider that breaks its rule, checks that do not
apply are skipped with a reason, and a stale cassette fails the test that owns it.

The deliberately broken providers live in a generated test module that runs in a separate pytest
process (so its failures are data here, not failures of this suite).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET

import pytest

KIT_MODULE = textwrap.dedent(
    """
    from __future__ import annotations

    import wave  # "heavy" for HeavyProvider below: imported at module level on purpose

    from typing import Any, ClassVar

    import hayswitch
    from hayswitch import (
        Capabilities, EmbeddingResult, GenerationChunk, GenerationOptions, GenerationResult,
        InvalidInputError, Provider, ProviderSettings, Secret,
    )
    from hayswitch.providers.fake import fake_embedding
    from hayswitch.testing import ProviderContractTests

    EMBED = Capabilities(embeddings=True, max_batch_size=4, normalized_embeddings=True, deterministic=True)


    class EmbedOnly(Provider):
        name: ClassVar[str] = "kit-embed-only"
        capabilities: ClassVar[Capabilities] = EMBED

        def _embed(self, texts, *, input_type):
            return EmbeddingResult(vectors=[fake_embedding(t, 8) for t in texts], model="m")


    class Reordering(EmbedOnly):
        name: ClassVar[str] = "kit-reordering"

        def _embed(self, texts, *, input_type):
            return EmbeddingResult(vectors=[fake_embedding(t, 8) for t in reversed(texts)], model="m")


    class Unnormalised(EmbedOnly):
        name: ClassVar[str] = "kit-unnormalised"

        def _embed(self, texts, *, input_type):
            return EmbeddingResult(vectors=[[2 * x for x in fake_embedding(t, 8)] for t in texts], model="m")


    class OneBigBatch(EmbedOnly):
        name: ClassVar[str] = "kit-one-big-batch"

        def embed_documents(self, texts):
            return self._embed(list(texts), input_type="document") if texts else super().embed_documents(texts)


    class WrongLongText(EmbedOnly):
        name: ClassVar[str] = "kit-wrong-long-text"
        capabilities: ClassVar[Capabilities] = EMBED.model_copy(update={"long_text": "error"})


    class Heavy(EmbedOnly):
        name: ClassVar[str] = "kit-heavy"
        heavy_modules: ClassVar[tuple[str, ...]] = ("wave",)


    class LeakySettings(ProviderSettings):
        api_key: str = "plain-text-key"


    class LeakySettingsProvider(EmbedOnly):
        name: ClassVar[str] = "kit-leaky-settings"
        settings_model: ClassVar[type[ProviderSettings]] = LeakySettings


    class SecretSettings(ProviderSettings):
        api_key: Secret = Secret.from_env_var("KIT_TOKEN")


    class LeakyRepr(EmbedOnly):
        name: ClassVar[str] = "kit-leaky-repr"
        settings_model: ClassVar[type[ProviderSettings]] = SecretSettings

        def setup(self):
            self._token = self.settings.api_key.resolve_value()

        def __repr__(self):
            return f"LeakyRepr(token={self._token})"


    GEN = Capabilities(generation=True, streaming=True, deterministic=True)


    class LateOptions(Provider):
        name: ClassVar[str] = "kit-late-options"
        capabilities: ClassVar[Capabilities] = GEN

        @classmethod
        def validate_options(cls, options):
            return options  # wrong: options are only checked once the request is being made

        def _late_check(self, options):
            try:
                GenerationOptions.model_validate(dict(options or {}))
            except (ValueError, TypeError) as exc:
                raise InvalidInputError(str(exc)) from None

        def _generate(self, messages, options):
            self._late_check(options)
            return GenerationResult(text="hi", finish_reason="stop", model="m")

        def _stream(self, messages, options):
            self._late_check(options)
            yield GenerationChunk(text="hi", finish_reason="stop")


    class StreamMismatch(Provider):
        name: ClassVar[str] = "kit-stream-mismatch"
        capabilities: ClassVar[Capabilities] = GEN

        def _generate(self, messages, options):
            return GenerationResult(text="hello world", finish_reason="stop", model="m")

        def _stream(self, messages, options):
            yield GenerationChunk(text="hello")
            yield GenerationChunk(text=" there", finish_reason="stop")


    class FalseUnsupported(EmbedOnly):
        name: ClassVar[str] = "kit-false-unsupported"

        def generate(self, messages, options=None):
            return GenerationResult(text="sneaky", finish_reason="stop", model="m")


    for cls in (EmbedOnly, Reordering, Unnormalised, OneBigBatch, WrongLongText, Heavy, LeakySettingsProvider,
                LeakyRepr, LateOptions, StreamMismatch, FalseUnsupported):
        hayswitch.get_registry().register(cls)


    class TestEmbedOnly(ProviderContractTests):
        provider_name = "kit-embed-only"
        long_text_words = 200


    class TestStale(ProviderContractTests):
        provider_name = "kit-embed-only"
        cassette_dir = "cassettes"
        long_text_words = 200


    class TestReordering(ProviderContractTests):
        provider_name = "kit-reordering"


    class TestUnnormalised(ProviderContractTests):
        provider_name = "kit-unnormalised"


    class TestOneBigBatch(ProviderContractTests):
        provider_name = "kit-one-big-batch"


    class TestWrongLongText(ProviderContractTests):
        provider_name = "kit-wrong-long-text"
        long_text_words = 200


    class TestHeavy(ProviderContractTests):
        provider_name = "kit-heavy"


    class TestLeakySettings(ProviderContractTests):
        provider_name = "kit-leaky-settings"


    class TestLeakyRepr(ProviderContractTests):
        provider_name = "kit-leaky-repr"
        env = {"KIT_TOKEN": "kit-token-value-42"}


    class TestLateOptions(ProviderContractTests):
        provider_name = "kit-late-options"


    class TestStreamMismatch(ProviderContractTests):
        provider_name = "kit-stream-mismatch"


    class TestFalseUnsupported(ProviderContractTests):
        provider_name = "kit-false-unsupported"
    """
)

STALE_CASSETTE = textwrap.dedent(
    """\
    version: 1
    interactions:
    - request:
        method: POST
        uri: http://127.0.0.1:9/v1/embed
        body:
          json: {input: [a]}
        headers: {}
      response:
        status: {code: 200, message: OK}
        headers: {}
        body:
          json: {data: []}
    """
)


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, str]]:
    """Run the generated module once; map ``Class::test`` to (outcome, message)."""
    root = tmp_path_factory.mktemp("kit")
    (root / "test_kit.py").write_text(KIT_MODULE, encoding="utf-8")
    (root / "cassettes").mkdir()
    name = "TestStale.test_embed_empty_list_makes_no_request.hayswitch.yaml"
    (root / "cassettes" / name).write_text(STALE_CASSETTE, encoding="utf-8")
    report = root / "report.xml"
    # The heavy-module check starts a fresh interpreter per class: run it only where it is asserted.
    select = "not test_listing_does_not_import_heavy_modules or TestHeavy or TestEmbedOnly"
    env_cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", select]
    env_cmd += ["--junitxml", str(report), "test_kit.py"]
    subprocess.run(env_cmd, cwd=root, capture_output=True, text=True, timeout=300, check=False)
    assert report.is_file(), "the kit run produced no report"
    results: dict[str, tuple[str, str]] = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        key = f"{case.get('classname', '').split('.')[-1]}::{case.get('name')}"
        outcome, message = "passed", ""
        for child in case:
            if child.tag in {"failure", "error", "skipped"}:
                outcome, message = child.tag, (child.get("message") or "") + (child.text or "")
                break
        results[key] = (outcome, message)
    return results


@pytest.mark.parametrize(
    ("test", "needle"),
    [
        ("TestReordering::test_embed_documents_cardinality_and_order", "reversed input"),
        ("TestUnnormalised::test_embeddings_normalised_when_declared", "not 1"),
        ("TestOneBigBatch::test_embed_batch_one_above_max_size", "batches"),
        ("TestWrongLongText::test_embed_very_long_text", "DID NOT RAISE"),
        ("TestHeavy::test_listing_does_not_import_heavy_modules", "wave"),
        ("TestLeakySettings::test_secret_like_settings_are_secret_fields", "api_key"),
        ("TestLeakyRepr::test_settings_serialise_without_secrets", "resolved secret"),
        ("TestLateOptions::test_invalid_options_fail_before_any_request", "request was made"),
        ("TestStreamMismatch::test_stream_concatenation_equals_generate", "differs"),
        ("TestFalseUnsupported::test_unsupported_operations_raise_unsupported_operation", "DID NOT RAISE"),
        ("TestEmbedOnly::test_discovered_by_name_through_registry", "entry point"),
        ("TestStale::test_embed_empty_list_makes_no_request", "did not play"),
    ],
)
def test_kit_fails_a_provider_that_breaks_the_rule(
    outcomes: dict[str, tuple[str, str]], test: str, needle: str
) -> None:
    outcome, message = outcomes[test]
    assert outcome == "failure", f"{test} should fail, got {outcome}: {message[:500]}"
    assert needle in message


@pytest.mark.parametrize(
    "test",
    [
        "TestEmbedOnly::test_embed_documents_cardinality_and_order",
        "TestEmbedOnly::test_embeddings_normalised_when_declared",
        "TestEmbedOnly::test_embed_batch_at_max_size",
        "TestEmbedOnly::test_embed_batch_one_above_max_size",
        "TestEmbedOnly::test_embed_batch_one_below_max_size",
        "TestEmbedOnly::test_unsupported_operations_raise_unsupported_operation",
        "TestEmbedOnly::test_listing_does_not_import_heavy_modules",
        "TestEmbedOnly::test_async_embed_documents_matches_sync",
        "TestOneBigBatch::test_embed_batch_at_max_size",
        "TestStale::test_embed_batch_at_max_size",
        "TestLeakyRepr::test_secrets_resolved_at_creation",
        "TestLateOptions::test_generate_returns_text_and_finish_reason",
    ],
)
def test_kit_passes_what_the_provider_does_right(outcomes: dict[str, tuple[str, str]], test: str) -> None:
    outcome, message = outcomes[test]
    assert outcome == "passed", f"{test}: {outcome}: {message[:500]}"


@pytest.mark.parametrize(
    "test",
    [
        "TestEmbedOnly::test_generate_returns_text_and_finish_reason",
        "TestEmbedOnly::test_invalid_options_fail_before_any_request",
        "TestEmbedOnly::test_stream_concatenation_equals_generate",
        "TestEmbedOnly::test_async_generate_matches_sync",
        "TestEmbedOnly::test_token_secrets_refuse_serialisation",
        "TestLateOptions::test_embed_batch_at_max_size",
    ],
)
def test_kit_skips_only_what_does_not_apply(outcomes: dict[str, tuple[str, str]], test: str) -> None:
    outcome, message = outcomes[test]
    assert outcome == "skipped", f"{test}: {outcome}"
    assert "not applicable" in message
