"""What the Provider base class does for every provider: batching, response checks, capability
checks, message normalisation and option validation (all before or around the hooks)."""

from __future__ import annotations

import asyncio
import math
from typing import Any, ClassVar

import pytest

from hayswitch import (
    NO_RETRY,
    Capabilities,
    EmbeddingResult,
    GenerationOptions,
    GenerationResult,
    InvalidInputError,
    Message,
    Provider,
    ResponseError,
    SettingsError,
    UnsupportedOperation,
    get_provider,
)


class Scripted(Provider):
    """Returns whatever ``self.reply`` builds, and records the batches it was given."""

    name: ClassVar[str] = "scripted"
    capabilities: ClassVar[Capabilities] = Capabilities(embeddings=True, max_batch_size=3, embedding_dimension=2)

    def setup(self) -> None:
        self.batches: list[list[str]] = []
        self.reply: Any = lambda texts: [[1.0, 0.0] for _ in texts]

    def _embed(self, texts: list[str], *, input_type: Any) -> EmbeddingResult:
        self.batches.append(texts)
        return EmbeddingResult(vectors=self.reply(texts), model="scripted-model")


class GenerateOnly(Provider):
    name: ClassVar[str] = "generate-only"
    capabilities: ClassVar[Capabilities] = Capabilities(generation=True)

    def setup(self) -> None:
        self.seen: list[list[Message]] = []

    def _generate(self, messages: list[Message], options: GenerationOptions) -> GenerationResult:
        self.seen.append(messages)
        return GenerationResult(text="ok", finish_reason="stop", model="g")


@pytest.mark.parametrize(("n", "batches"), [(1, [1]), (3, [3]), (4, [3, 1]), (7, [3, 3, 1])])
def test_batches_at_the_declared_maximum(n: int, batches: list[int]) -> None:
    provider = Scripted(retry=NO_RETRY)
    texts = [f"t{i}" for i in range(n)]
    result = provider.embed_documents(texts)
    assert [len(b) for b in provider.batches] == batches
    assert [t for b in provider.batches for t in b] == texts
    assert len(result.vectors) == n
    assert result.model == "scripted-model"


def test_fake_batches_at_64() -> None:
    provider = get_provider("fake")
    provider.embed_documents([f"text {i}" for i in range(130)])
    assert provider.requests == 3  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (lambda texts: [[1.0, 0.0]] * (len(texts) - 1), "Expected 2 vectors, the backend returned 1"),
        (lambda texts: [[1.0, 0.0], [1.0]], "mixed dimensions"),
        (lambda texts: [[1.0, 0.0, 0.0]] * len(texts), "Expected 2-dimensional vectors, the backend returned 3"),
        (lambda texts: [[math.nan, 0.0]] * len(texts), "NaN or infinite"),
        (lambda texts: [[math.inf, 0.0]] * len(texts), "NaN or infinite"),
    ],
)
def test_malformed_responses_raise_response_error(reply: Any, message: str) -> None:
    provider = Scripted(retry=NO_RETRY)
    provider.reply = reply
    with pytest.raises(ResponseError, match=message) as excinfo:
        provider.embed_documents(["a", "b"])
    assert excinfo.value.provider == "scripted"
    assert excinfo.value.retryable


def test_async_responses_are_checked_too() -> None:
    provider = Scripted(retry=NO_RETRY)
    provider.reply = lambda texts: []
    with pytest.raises(ResponseError):
        asyncio.run(provider.aembed_documents(["a"]))


def test_missing_operations_raise_unsupported_operation() -> None:
    embed_only = Scripted(retry=NO_RETRY)
    with pytest.raises(UnsupportedOperation, match="Provider 'scripted' does not support 'generate'"):
        embed_only.generate("hi")
    with pytest.raises(UnsupportedOperation, match="'stream'"):
        embed_only.stream("hi")
    generate_only = GenerateOnly(retry=NO_RETRY)
    with pytest.raises(UnsupportedOperation, match="'embed_documents'") as excinfo:
        generate_only.embed_documents(["x"])
    assert excinfo.value.operation == "embed_documents"

    async def first_chunk() -> Any:
        return await anext(generate_only.astream("hi"))

    with pytest.raises(UnsupportedOperation, match="'astream'"):
        asyncio.run(first_chunk())
    with pytest.raises(UnsupportedOperation, match="'aembed_text'"):
        asyncio.run(generate_only.aembed_text("hi"))


@pytest.mark.parametrize(
    ("messages", "expected"),
    [
        ("hello", [Message.user("hello")]),
        (Message.system("s"), [Message.system("s")]),
        ({"role": "user", "content": "d"}, [Message.user("d")]),
        (
            [Message.system("be brief"), {"role": "user", "content": "q"}, {"role": "assistant", "content": ""}],
            [Message.system("be brief"), Message.user("q"), Message.assistant("")],
        ),
    ],
)
def test_message_normalisation(messages: Any, expected: list[Message]) -> None:
    provider = GenerateOnly(retry=NO_RETRY)
    provider.generate(messages)
    assert provider.seen == [expected]


@pytest.mark.parametrize(
    ("messages", "match"),
    [
        ("", "The prompt is empty"),
        ([], "non-empty list of messages"),
        (None, "non-empty list of messages"),
        ([{"role": "robot", "content": "x"}], r"messages\[0\]: role"),
        ([{"role": "user"}], r"messages\[0\]: content"),
        ([42], r"messages\[0\] is a int"),
        ([{"role": "user", "content": "  "}], "All messages are empty"),
    ],
)
def test_invalid_messages(messages: Any, match: str) -> None:
    provider = GenerateOnly(retry=NO_RETRY)
    with pytest.raises(InvalidInputError, match=match):
        provider.generate(messages)
    assert provider.seen == []


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"temprature": 0.5}, "temprature: unknown setting"),
        ({"max_tokens": -1}, "max_tokens: Input should be greater than 0"),
        ({"top_p": 0}, "top_p"),
        ("fast", "must be a mapping"),
    ],
)
def test_invalid_options_are_refused_before_the_hook(options: Any, match: str) -> None:
    provider = GenerateOnly(retry=NO_RETRY)
    with pytest.raises(InvalidInputError, match=match) as excinfo:
        provider.generate("hi", options)
    assert "Allowed options" in str(excinfo.value) or "mapping" in str(excinfo.value)
    assert provider.seen == []


def test_options_accept_models_and_a_single_stop_string() -> None:
    opts = GenerateOnly.validate_options({"stop": "END", "max_tokens": 3})
    assert opts.stop == ["END"]
    assert GenerateOnly.validate_options(opts) is opts
    assert GenerateOnly.validate_options(None) == GenerationOptions()


@pytest.mark.parametrize("texts", ["one string", None, ["ok", 3], ["ok", ""], ["ok", " \n"]])
def test_invalid_embedding_inputs(texts: Any) -> None:
    provider = Scripted(retry=NO_RETRY)
    with pytest.raises(InvalidInputError):
        provider.embed_documents(texts)
    assert provider.batches == []


def test_empty_list_needs_no_request() -> None:
    provider = Scripted(retry=NO_RETRY)
    assert provider.embed_documents([]).vectors == []
    assert provider.batches == []


def test_settings_are_validated_with_field_names() -> None:
    with pytest.raises(SettingsError, match="dimension: Input should be greater than 0"):
        get_provider("fake", dimension=0)


def test_identity_helpers() -> None:
    provider = get_provider("fake", dimension=8, embedding_model="m1")
    assert provider.embedding_model_id == "m1"
    assert provider.generation_model_id == "fake-chat"
    assert provider.embedding_space() == {"provider": "fake", "model": "m1", "dimension": 8}
    assert provider.vector_settings_fingerprint() == {"dimension": 8}
    with provider:
        pass
    provider.close()


def test_fake_is_deterministic_across_calls_and_normalised() -> None:
    a = get_provider("fake", dimension=32).embed_text("the same text")
    b = get_provider("fake", dimension=32).embed_documents(["the same text"]).vectors[0]
    assert a.vector == b
    assert math.isclose(sum(x * x for x in a.vector), 1.0, rel_tol=1e-9)
    reply = get_provider("fake").generate("one two three four", {"max_tokens": 3})
    assert (reply.text, reply.finish_reason) == ("Echo: one two", "length")
    assert reply.usage is not None
    assert reply.usage.completion_tokens == 3


def test_fake_vectors_are_stable_across_processes() -> None:
    import os
    import subprocess
    import sys

    code = (
        "import hayswitch, json; "
        "print(json.dumps(hayswitch.get_provider('fake', dimension=16).embed_text('x y').vector))"
    )
    outputs = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        outputs.add(proc.stdout.strip())
    assert len(outputs) == 1
    assert outputs.pop() == str(get_provider("fake", dimension=16).embed_text("x y").vector).replace("'", '"')


def test_constructor_arguments_are_validated() -> None:
    from hayswitch.providers.fake import FakeProvider

    with pytest.raises(SettingsError, match="must be a mapping or a FakeSettings, got list"):
        FakeProvider(["dimension", 3])  # type: ignore[arg-type]
    with pytest.raises(SettingsError, match="'retry' must be a RetryPolicy"):
        FakeProvider(retry="twice")  # type: ignore[arg-type]
    assert FakeProvider(retry={"max_attempts": 2}).retry_policy.max_attempts == 2
    with pytest.raises(SettingsError, match=r"retry\.max_attempts"):
        FakeProvider(retry={"max_attempts": 0})


def test_settings_objects_are_accepted_as_they_are() -> None:
    from hayswitch import Secret
    from hayswitch.providers.fake import FakeProvider, FakeSettings

    settings = FakeSettings(dimension=12, api_key=Secret.from_token("tok"))
    assert FakeProvider(settings).settings is settings

    from hayswitch import ProviderSettings

    class Other(ProviderSettings):  # another provider's settings with compatible fields
        dimension: int = 7
        api_key: Secret | None = None

    converted = FakeProvider(Other(api_key=Secret.from_token("tok"))).settings
    assert type(converted) is FakeSettings
    assert converted.dimension == 7
    assert converted.api_key is not None
    assert converted.api_key.resolve_value() == "tok"
