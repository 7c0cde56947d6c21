"""hayswitch errors are also the built-in exception types Haystack code catches: a missing secret
and a refused token serialisation are ValueErrors (as Haystack's ``Secret`` raises), a wrong input
type is a TypeError (as Haystack's components raise), a malformed backend answer a RuntimeError."""

from __future__ import annotations

import pytest
from haystack import Document

import hayswitch
from haystack_integrations.components.embedders.hayswitch import ProviderDocumentEmbedder, ProviderTextEmbedder
from hayswitch import InvalidInputError, MissingSecretError, ResponseError
from hayswitch.errors import InvalidInputTypeError
from hayswitch.secrets import SecretSerialisationError


def test_missing_secret_is_a_value_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HAYSWITCH_TEST_UNSET_KEY", raising=False)
    with pytest.raises(ValueError, match="HAYSWITCH_TEST_UNSET_KEY") as excinfo:
        hayswitch.get_provider("fake", api_key="env:HAYSWITCH_TEST_UNSET_KEY")
    assert isinstance(excinfo.value, MissingSecretError)


def test_token_serialisation_is_a_value_error() -> None:
    with pytest.raises(ValueError) as excinfo:
        hayswitch.Secret.from_token("tok-secret").to_dict()
    assert isinstance(excinfo.value, SecretSerialisationError)
    assert "tok-secret" not in str(excinfo.value)
    embedder = ProviderTextEmbedder(provider="fake", settings={"api_key": hayswitch.Secret.from_token("tok-secret")})
    with pytest.raises(ValueError) as excinfo:
        embedder.to_dict()
    assert "tok-secret" not in str(excinfo.value)


def test_wrong_input_types_are_type_errors_and_still_invalid_input() -> None:
    provider = hayswitch.get_provider("fake")
    calls = [
        lambda: provider.embed_documents("one string"),
        lambda: provider.embed_documents(["fine", 3]),
        lambda: provider.embed_text(["a list"]),
        lambda: ProviderDocumentEmbedder(provider="fake", progress_bar=False).run("one string"),
        lambda: ProviderDocumentEmbedder(provider="fake", progress_bar=False).run(["not a Document"]),
        lambda: ProviderTextEmbedder(provider="fake").run([Document(content="x")]),
    ]
    for call in calls:
        with pytest.raises(TypeError) as excinfo:
            call()
        assert isinstance(excinfo.value, InvalidInputTypeError)
        assert isinstance(excinfo.value, InvalidInputError)  # the generic contract is unchanged
        assert isinstance(excinfo.value, ValueError)
    with pytest.raises(InvalidInputError) as empty:  # a wrong value is not a type error
        provider.embed_text("   ")
    assert not isinstance(empty.value, TypeError)


def test_malformed_response_is_a_runtime_error() -> None:
    assert issubclass(ResponseError, RuntimeError)
    assert issubclass(ResponseError, hayswitch.ProviderError)
