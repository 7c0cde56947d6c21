"""Fallback chains: when the next member is tried, what is recorded, and what is refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pytest

from hayswitch import (
    AuthenticationError,
    Capabilities,
    ConfigurationError,
    EmbeddingResult,
    InvalidInputError,
    InvalidRequestError,
    Provider,
    ProviderNotFoundError,
    RateLimitError,
    RetryPolicy,
    ServerError,
    get_provider,
)
from hayswitch.fallback import (
    FallbackChain,
    FallbackExhaustedError,
    build_fallback_chain,
    check_embedding_spaces,
    resolve_fallback_specs,
    triggers_fallback,
)
from hayswitch.provider import InputType
from hayswitch.providers.fake import fake_embedding

FAST = RetryPolicy(max_attempts=3, initial_wait=0, max_wait=0)


def fake(**settings: Any) -> Provider:
    return get_provider("fake", retry=FAST, **settings)


# --------------------------------------------------------------------------- generation


def test_falls_back_after_the_retries_of_the_primary_are_exhausted() -> None:
    primary = fake(fail_first=100, fail_with="rate_limit", retry_after=0)
    backup = fake(chat_model="backup-chat")
    chain = FallbackChain([primary, ("backup", backup)])
    result = chain.generate("hello there")
    assert result.text == "Echo: hello there"
    assert result.model == "backup-chat"
    assert primary.requests == FAST.max_attempts  # type: ignore[attr-defined]
    fallback = result.meta["fallback"]
    assert fallback["used"] == "backup"
    assert fallback["position"] == 1
    assert fallback["skipped"] == [
        {
            "provider": "fake",
            "error": "RateLimitError",
            "message": "[fake] Injected failure. Retry after 0s. (HTTP 429)",
            "status_code": 429,
        }
    ]


def test_the_primary_is_used_when_it_works_and_meta_says_so() -> None:
    chain = FallbackChain([fake(), ("backup", fake())])
    result = chain.generate("hi")
    assert result.meta["fallback"] == {"used": "fake", "provider": "fake", "position": 0, "skipped": []}
    assert chain.members[1][1].requests == 0  # type: ignore[attr-defined]


def test_authentication_failure_falls_back_without_retrying() -> None:
    primary = fake(fail_first=100, fail_with="auth")
    chain = FallbackChain([primary, ("backup", fake())])
    assert chain.generate("hi").meta["fallback"]["skipped"][0]["error"] == "AuthenticationError"
    assert primary.requests == 1  # type: ignore[attr-defined]


@pytest.mark.parametrize(("kind", "error"), [("invalid", InvalidRequestError)])
def test_invalid_requests_are_raised_not_routed_around(kind: str, error: type[Exception]) -> None:
    backup = fake()
    chain = FallbackChain([fake(fail_first=100, fail_with=kind), ("backup", backup)])
    with pytest.raises(error):
        chain.generate("hi")
    assert backup.requests == 0  # type: ignore[attr-defined]


def test_invalid_input_is_raised_before_any_request() -> None:
    primary, backup = fake(), fake()
    chain = FallbackChain([primary, ("backup", backup)])
    with pytest.raises(InvalidInputError):
        chain.generate("   ")
    with pytest.raises(InvalidInputError, match="max_tokens"):
        chain.generate("hi", {"max_tokens": -1})
    assert primary.requests == backup.requests == 0  # type: ignore[attr-defined]


def test_which_errors_trigger_fallback() -> None:
    assert triggers_fallback(RateLimitError("x"))
    assert triggers_fallback(ServerError("x"))
    assert triggers_fallback(AuthenticationError("x"))
    assert not triggers_fallback(InvalidRequestError("x"))
    assert not triggers_fallback(InvalidInputError("x"))
    assert not triggers_fallback(ConfigurationError("x"))
    assert not triggers_fallback(ValueError("x"))


def test_all_members_failing_raises_one_typed_error_listing_each() -> None:
    chain = FallbackChain([fake(fail_first=99, fail_with="server"), ("b", fake(fail_first=99, fail_with="timeout"))])
    with pytest.raises(FallbackExhaustedError) as info:
        chain.generate("hi")
    err = info.value
    assert [(n, type(e).__name__) for n, e in err.errors] == [("fake", "ServerError"), ("b", "ProviderTimeoutError")]
    assert err.__cause__ is err.errors[-1][1]
    assert "Every provider of the fallback chain failed to generate" in str(err)
    assert not err.retryable


def test_stream_falls_back_before_the_first_chunk() -> None:
    chain = FallbackChain([fake(fail_first=99, fail_with="connection"), ("b", fake())])
    chunks = list(chain.stream("one two three"))
    assert "".join(c.text for c in chunks) == "Echo: one two three"
    assert chunks[0].meta["fallback"]["used"] == "b"
    assert chunks[-1].finish_reason == "stop"


async def test_async_generate_and_stream_fall_back() -> None:
    chain = FallbackChain([fake(fail_first=99, fail_with="server"), ("b", fake())])
    result = await chain.agenerate("async hello")
    assert result.text == "Echo: async hello"
    assert result.meta["fallback"]["used"] == "b"
    chunks = [c async for c in chain.astream("streamed words")]
    assert "".join(c.text for c in chunks) == "Echo: streamed words"
    assert chunks[0].meta["fallback"]["position"] == 1


async def test_async_exhaustion_is_typed() -> None:
    chain = FallbackChain([fake(fail_first=99), ("b", fake(fail_first=99))])
    with pytest.raises(FallbackExhaustedError):
        await chain.agenerate("x")


def test_options_are_validated_for_every_member() -> None:
    chain = FallbackChain([fake(), ("b", fake())])
    with pytest.raises(InvalidInputError, match="Allowed options"):
        chain.generate("hi", {"frequency_penalty": 1})


def test_chain_looks_like_its_primary_and_closes_all_members() -> None:
    primary, backup = fake(), fake()
    chain = FallbackChain([primary, ("b", backup)])
    assert chain.name == "fake"
    assert chain.settings is primary.settings
    assert chain.retry_policy == FAST
    assert chain.capabilities.streaming
    assert chain.generation_model_id == "fake-chat"
    assert "fake -> b" in repr(chain)
    with chain:
        pass
    assert primary._closed
    assert backup._closed


# --------------------------------------------------------------------------- construction


class _EmbedOnly(Provider):
    name: ClassVar[str] = "embed-only"
    capabilities: ClassVar[Capabilities] = Capabilities(embeddings=True)

    def _embed(self, texts: list[str], *, input_type: InputType) -> EmbeddingResult:
        return EmbeddingResult(vectors=[fake_embedding(t, 64) for t in texts], model=self.name)


def test_chain_construction_is_checked() -> None:
    with pytest.raises(ConfigurationError, match="at least one"):
        FallbackChain([])
    with pytest.raises(ConfigurationError, match="does not support generation"):
        FallbackChain([fake(), _EmbedOnly()])
    with pytest.raises(ConfigurationError, match="purpose"):
        FallbackChain([fake()], purpose="rerank")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="must be providers"):
        FallbackChain([fake(), ("x", object())])  # type: ignore[list-item]


# --------------------------------------------------------------------------- embeddings


def test_embedding_fallback_within_one_space() -> None:
    primary = fake(fail_first=99, fail_with="server")
    chain = FallbackChain([primary, ("twin", fake(chat_model="other"))], purpose="embeddings")
    result = chain.embed_documents(["alpha", "beta"])
    assert result.vectors == [fake_embedding("alpha", 64), fake_embedding("beta", 64)]
    assert result.meta["fallback"]["used"] == "twin"
    assert chain.embed_text("query").meta["fallback"]["used"] == "twin"
    assert chain.embedding_space() == {"provider": "fake", "model": "fake-embed", "dimension": 64}
    assert chain.vector_settings_fingerprint() == {"dimension": 64}


async def test_async_embedding_fallback() -> None:
    chain = FallbackChain([fake(fail_first=99), ("twin", fake())], purpose="embeddings")
    result = await chain.aembed_documents(["x"])
    assert result.vectors == [fake_embedding("x", 64)]
    assert (await chain.aembed_text("y")).meta["fallback"]["position"] == 1


@pytest.mark.parametrize(
    ("settings", "fragment"),
    [
        ({"dimension": 32}, "dimension 32"),
        ({"embedding_model": "other-embed"}, "'other-embed' vectors"),
    ],
)
def test_embedding_fallback_across_spaces_is_refused(settings: dict[str, object], fragment: str) -> None:
    with pytest.raises(ConfigurationError, match="Embedding fallback refused") as info:
        FallbackChain([fake(), ("other", fake(**settings))], purpose="embeddings")
    assert fragment in str(info.value)


def test_embedding_fallback_with_an_unknown_dimension_is_refused() -> None:
    class _Unknown(_EmbedOnly):
        name: ClassVar[str] = "unknown-dim"

        def embedding_space(self) -> dict[str, object]:
            return {"provider": self.name, "model": "fake-embed", "dimension": None}

    with pytest.raises(ConfigurationError, match="not known before the first request"):
        FallbackChain([fake(), ("u", _Unknown())], purpose="embeddings")


def test_same_class_members_must_share_vector_settings() -> None:
    class _Prompted(_EmbedOnly):
        vector_settings: ClassVar[tuple[str, ...]] = ()
        _prompt: str = ""

        def vector_settings_fingerprint(self) -> dict[str, object]:
            return {"query_prompt": self._prompt}

        def embedding_space(self) -> dict[str, object]:
            return {"provider": self.name, "model": "m", "dimension": 64}

    a, b = _Prompted(), _Prompted()
    a._prompt, b._prompt = "query: ", ""
    with pytest.raises(ConfigurationError, match="different vector settings"):
        check_embedding_spaces([("a", a), ("b", b)])


def test_generation_only_member_is_refused_for_embeddings() -> None:
    class _ChatOnly(Provider):
        name: ClassVar[str] = "chat-only"
        capabilities: ClassVar[Capabilities] = Capabilities(generation=True)

    with pytest.raises(ConfigurationError, match="does not support embeddings"):
        FallbackChain([fake(), _ChatOnly()], purpose="embeddings")


# --------------------------------------------------------------------------- configuration


TOML = """
default_profile = "prod"

[providers.fake]
dimension = 64

[profiles.prod]
provider = "fake"
fallbacks = ["dev", "fake"]
settings = { fail_first = 1000, fail_with = "server", chat_model = "prod-chat" }

[profiles.dev]
provider = "fake"
settings = { chat_model = "dev-chat" }

[profiles.broken]
provider = "fake"
fallbacks = ["nonexistent"]
"""


@pytest.fixture
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "hayswitch.toml").write_text(TOML)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_profile_fallbacks_from_hayswitch_toml(config_dir: Path) -> None:
    chain = build_fallback_chain(profile="prod", retry={"max_attempts": 2, "initial_wait": 0})
    assert [label for label, _ in chain.members] == ["prod", "dev", "fake"]
    result = chain.generate("from config")
    assert result.model == "dev-chat"
    assert result.meta["fallback"]["used"] == "dev"
    assert result.meta["fallback"]["skipped"][0]["provider"] == "prod"
    assert chain.members[0][1].requests == 2  # type: ignore[attr-defined]
    chain.close()


def test_explicit_fallbacks_override_the_profile_and_accept_mappings(config_dir: Path) -> None:
    chain = build_fallback_chain(
        "fake",
        settings={"fail_first": 5},
        fallbacks=[{"provider": "fake", "settings": {"chat_model": "m2"}, "label": "second"}, {"profile": "dev"}],
        retry=RetryPolicy(max_attempts=1),
    )
    assert [label for label, _ in chain.members] == ["prod", "second", "dev"]
    assert chain.generate("x").model == "m2"


def test_unknown_fallback_names_fail_at_configuration_time(config_dir: Path) -> None:
    with pytest.raises(ProviderNotFoundError, match="nonexistent"):
        build_fallback_chain(profile="broken")
    with pytest.raises(ConfigurationError, match="unknown profile 'nope'"):
        resolve_fallback_specs([{"profile": "nope"}])


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ({"provider": "fake", "profile": "dev"}, "exactly one of"),
        ({"providr": "fake"}, "exactly one of"),
        ({"provider": "fake", "settings": "x"}, "settings must be a mapping"),
        (3, "must be a profile/provider name or a mapping"),
        ("  ", "is empty"),
    ],
)
def test_malformed_fallback_entries(config_dir: Path, spec: object, fragment: str) -> None:
    with pytest.raises(ConfigurationError, match="fallbacks\\[0\\]") as info:
        resolve_fallback_specs([spec])  # type: ignore[list-item]
    assert fragment in str(info.value)


def test_invalid_fallback_settings_name_the_field(config_dir: Path) -> None:
    with pytest.raises(ConfigurationError, match="dimension"):
        build_fallback_chain("fake", fallbacks=[{"provider": "fake", "settings": {"dimension": -1}}])


def test_duplicates_are_refused(config_dir: Path) -> None:
    with pytest.raises(ConfigurationError, match="appears twice"):
        build_fallback_chain(profile="dev", fallbacks=["dev"])


def test_embedding_chain_from_configuration_checks_the_space(config_dir: Path) -> None:
    with pytest.raises(ConfigurationError, match="Embedding fallback refused"):
        build_fallback_chain(
            "fake", fallbacks=[{"provider": "fake", "settings": {"dimension": 8}}], purpose="embeddings"
        )
    chain = build_fallback_chain("fake", fallbacks=["dev"], purpose="embeddings")
    assert len(chain.members) == 2


def test_an_existing_provider_can_head_a_chain(config_dir: Path) -> None:
    primary = fake(fail_first=99)
    chain = build_fallback_chain(primary, fallbacks=["dev"])
    assert chain.primary is primary
    assert chain.generate("x").meta["fallback"]["used"] == "dev"
