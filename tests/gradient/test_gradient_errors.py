"""Every gradientai / urllib3 failure becomes a hayswitch error with an actionable message and no
secret anywhere (message, cause, repr, logs). Runs the real SDK against the live emulator."""

from __future__ import annotations

import logging
import socket
import traceback

import pytest
from gradient_emulator import EmulatorServer
from gradient_support import FAKE_TOKEN, FAKE_WORKSPACE

import hayswitch
from hayswitch import (
    NO_RETRY,
    AuthenticationError,
    ConfigurationError,
    InvalidInputError,
    InvalidRequestError,
    MissingSecretError,
    NotFoundError,
    PermissionDeniedError,
    ProviderConnectionError,
    ProviderTimeoutError,
    RateLimitError,
    ResponseError,
    ServerError,
    SettingsError,
)
from hayswitch_gradient.errors import Redactor, parse_retry_after, translate

pytestmark = pytest.mark.live

UNKNOWN_ADAPTER = "00000000-0000-4000-8000-000000000000_model_adapter"


def provider(**settings: object) -> hayswitch.Provider:
    return hayswitch.get_provider("gradient", retry=NO_RETRY, **settings)


def assert_no_secret(exc: BaseException, *secrets: str) -> None:
    text = "".join(traceback.format_exception(exc)) + repr(exc)
    for secret in secrets:
        assert secret not in text, f"a secret leaked into {type(exc).__name__}"


def test_wrong_token_is_authentication_error(live_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> None:
    leaked = "wrong-token-that-must-not-leak"
    monkeypatch.setenv("GRADIENT_ACCESS_TOKEN", leaked)
    with pytest.raises(AuthenticationError) as excinfo:
        provider().embed_text("hello")
    assert excinfo.value.status_code == 401
    assert "GRADIENT_ACCESS_TOKEN" in str(excinfo.value)
    assert excinfo.value.retryable is False
    assert_no_secret(excinfo.value, leaked, FAKE_WORKSPACE)


def test_wrong_workspace_is_permission_denied(live_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> None:
    workspace = "someone-elses_workspace"
    monkeypatch.setenv("GRADIENT_WORKSPACE_ID", workspace)
    with pytest.raises(PermissionDeniedError) as excinfo:
        provider(base_model_slug="nous-hermes2").generate("hi")
    assert excinfo.value.status_code == 403
    assert "GRADIENT_WORKSPACE_ID" in str(excinfo.value)
    # The emulator's 403 body names the workspace: it is redacted everywhere, cause included.
    assert_no_secret(excinfo.value, workspace, FAKE_TOKEN)


def test_unknown_adapter_and_slug_are_not_found(live_emulator: EmulatorServer) -> None:
    with pytest.raises(NotFoundError) as excinfo:
        provider(model_adapter_id=UNKNOWN_ADAPTER).generate("hi")
    assert excinfo.value.status_code == 404
    assert "model_adapter_id" in str(excinfo.value)
    with pytest.raises(NotFoundError) as excinfo:
        provider(base_model_slug="no-such-model").generate("hi")
    assert "nous-hermes2" in str(excinfo.value)  # lists the available slugs
    with pytest.raises(NotFoundError):
        provider().get_adapter(UNKNOWN_ADAPTER)  # type: ignore[attr-defined]
    with pytest.raises(NotFoundError):
        provider(embedding_model="bge-small").embed_text("x")


def test_sdk_stop_iteration_for_unknown_slug_is_translated(live_emulator: EmulatorServer) -> None:
    from gradientai import Gradient

    client = Gradient(access_token=FAKE_TOKEN, workspace_id=FAKE_WORKSPACE, host=live_emulator.api_url)
    with pytest.raises(StopIteration) as raw:
        client.get_base_model(base_model_slug="nope")
    err = translate(raw.value, what="looking up a base model")
    assert isinstance(err, NotFoundError)
    assert "slug" in str(err)


def test_server_side_400_is_invalid_request(live_emulator: EmulatorServer) -> None:
    with pytest.raises(InvalidRequestError) as excinfo:
        provider(base_model_slug="bloom-560m").generate("Is it?", {"guidance": ["yes", "no"]})
    assert excinfo.value.status_code == 400
    assert "guidance" in str(excinfo.value)
    with pytest.raises(InvalidRequestError) as excinfo:
        provider().create_adapter(base_model="bloom-560m", name="x")  # type: ignore[attr-defined]
    assert "fineTune" in str(excinfo.value)
    assert isinstance(excinfo.value, hayswitch.ProviderError)


def test_client_side_validation_is_invalid_input_before_any_request(live_emulator: EmulatorServer) -> None:
    p = provider(base_model_slug="nous-hermes2")
    for options in ({"max_tokens": 512}, {"top_k": 1.5}, {"stop": ["x"]}, {"seed": 1}, {"guidance": ["y" * 40]}):
        with pytest.raises(InvalidInputError):
            p.generate("hi", options)
    with pytest.raises(InvalidInputError):
        p.create_adapter(base_model="nous-hermes2", name="x", rank=33)  # type: ignore[attr-defined]
    with pytest.raises(InvalidInputError):
        p.create_adapter(base_model="nous-hermes2", name="x", learning_rate=1)  # type: ignore[attr-defined]
    with pytest.raises(InvalidInputError):
        p.get_adapter("too-short")  # type: ignore[attr-defined]
    with pytest.raises(InvalidInputError):
        p.embed_documents([""])
    assert live_emulator.stats()["requests"] == 0


def test_pydantic_v1_validation_errors_are_translated_by_side() -> None:
    from gradientai.openapi.client.models import CompleteModelBodyParams
    from pydantic.v1 import ValidationError

    with pytest.raises(ValidationError) as raw:
        CompleteModelBodyParams(query="x", max_generated_token_count=512)
    request_error = translate(raw.value, what="generating", request_side=True)
    assert isinstance(request_error, InvalidInputError)
    assert "max_generated_token_count" in str(request_error) or "maxGeneratedTokenCount" in str(request_error)
    response_error = translate(raw.value, what="generating", request_side=False)
    assert isinstance(response_error, ResponseError)


def test_429_is_rate_limit_with_retry_after_and_retried(live_emulator: EmulatorServer) -> None:
    live_emulator.add_fault(kind="429", times=1, retry_after=2.5)
    with pytest.raises(RateLimitError) as excinfo:
        provider().embed_text("x")
    assert excinfo.value.retry_after == 2.5
    assert excinfo.value.retryable is True
    live_emulator.add_fault(kind="429", times=2, retry_after=0.01)
    retrying = hayswitch.get_provider("gradient", retry=hayswitch.RetryPolicy(initial_wait=0.0, max_attempts=3))
    assert retrying.embed_text("x").dimension == 1024
    assert live_emulator.stats()["by_status"]["429"] == 3


@pytest.mark.parametrize("kind", ["500", "503"])
def test_5xx_is_server_error(live_emulator: EmulatorServer, kind: str) -> None:
    live_emulator.add_fault(kind=kind, times=1)
    with pytest.raises(ServerError) as excinfo:
        provider(base_model_slug="nous-hermes2").generate("hi")
    assert excinfo.value.status_code == int(kind)
    assert excinfo.value.retryable is True


def test_malformed_json_and_wrong_count_are_response_errors(live_emulator: EmulatorServer) -> None:
    live_emulator.add_fault(kind="malformed", times=1)
    with pytest.raises(ResponseError) as excinfo:
        provider().embed_documents(["a", "b"])
    assert "JSON" in str(excinfo.value)
    live_emulator.add_fault(kind="wrong_count", times=1)
    with pytest.raises(ResponseError) as excinfo:
        provider().embed_documents(["a", "b"])
    assert "1 vectors for 2 inputs" in str(excinfo.value)
    live_emulator.add_fault(kind="malformed", times=1, endpoint="complete")
    with pytest.raises(ResponseError):
        provider(base_model_slug="nous-hermes2").generate("hi")


def test_connection_reset_is_connection_error(live_emulator: EmulatorServer) -> None:
    live_emulator.add_fault(kind="reset", times=1)
    with pytest.raises(ProviderConnectionError) as excinfo:
        provider().embed_text("x")
    assert excinfo.value.retryable is True


def test_slow_response_is_timeout(live_emulator: EmulatorServer) -> None:
    live_emulator.add_fault(kind="slow", delay=1.0, times=1)
    with pytest.raises(ProviderTimeoutError) as excinfo:
        provider(timeout=0.2).embed_text("x")
    assert "timeout" in str(excinfo.value)


def test_unreachable_host_is_connection_error(live_emulator: EmulatorServer) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    with pytest.raises(ProviderConnectionError) as excinfo:
        provider(host=f"http://127.0.0.1:{port}/api").embed_text("x")
    assert f"127.0.0.1:{port}" in str(excinfo.value)
    assert "GRADIENT_API_URL" in str(excinfo.value)


def test_fine_tune_failures_after_sending_are_not_retried(live_emulator: EmulatorServer) -> None:
    retrying = hayswitch.get_provider("gradient", retry=hayswitch.RetryPolicy(initial_wait=0.0, max_attempts=3))
    adapter = retrying.create_adapter(base_model="nous-hermes2", name="a")  # type: ignore[attr-defined]
    live_emulator.add_fault(kind="500", times=1, endpoint="fine_tune")
    with pytest.raises(ServerError) as excinfo:
        retrying.fine_tune(adapter.id, ["sample one"], progress_bar=False)  # type: ignore[attr-defined]
    assert excinfo.value.retryable is False
    assert "not retried" in str(excinfo.value)
    assert live_emulator.stats()["by_operation"]["fine_tune"] == 1
    live_emulator.add_fault(kind="429", times=1, retry_after=0.01, endpoint="fine_tune")
    report = retrying.fine_tune(adapter.id, ["sample one"], progress_bar=False)  # type: ignore[attr-defined]
    assert report.trainable_tokens > 0  # a 429 means "not processed": retried


def test_missing_credentials_fail_at_creation_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GRADIENT_ACCESS_TOKEN", raising=False)
    monkeypatch.setenv("GRADIENT_WORKSPACE_ID", FAKE_WORKSPACE)
    settings = hayswitch.resolve_provider("gradient")[1]  # parsing settings reads no secret
    assert settings is not None
    with pytest.raises(MissingSecretError) as excinfo:
        hayswitch.get_provider("gradient")
    assert "GRADIENT_ACCESS_TOKEN" in str(excinfo.value)


def test_generation_without_a_model_is_a_configuration_error(live_emulator: EmulatorServer) -> None:
    p = provider()
    assert p.embed_text("embeddings work without a generation model").dimension == 1024
    with pytest.raises(ConfigurationError) as excinfo:
        p.generate("hi")
    assert "base_model_slug" in str(excinfo.value)


def test_settings_validation() -> None:
    with pytest.raises(SettingsError, match="only one"):
        hayswitch.resolve_provider(
            "gradient", settings={"base_model_slug": "nous-hermes2", "model_adapter_id": UNKNOWN_ADAPTER}
        )
    for bad in ({"max_generated_token_count": 512}, {"host": "api.gradient.ai"}, {"model_adapter_id": "short"}):
        with pytest.raises(SettingsError):
            hayswitch.resolve_provider("gradient", settings=bad)
    with pytest.raises(SettingsError):
        hayswitch.resolve_provider("gradient", settings={"access_token": "a-plain-token-string"})


def test_no_secret_in_logs_or_repr(
    live_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    p = hayswitch.get_provider(
        "gradient",
        base_model_slug="nous-hermes2",
        retry=hayswitch.RetryPolicy(initial_wait=0.0, max_attempts=2),
    )
    live_emulator.add_fault(kind="500", times=1)
    p.generate("hello")
    p.embed_documents(["a", "b"])
    text = caplog.text + repr(p) + str(p.settings)
    assert "attempt 1" in caplog.text  # the retry was logged ...
    assert FAKE_TOKEN not in text  # ... without the token
    assert FAKE_WORKSPACE not in text


def test_redactor_and_retry_after_parsing() -> None:
    redact = Redactor(["secret-token", "ws_1234", None, "ab"])
    assert redact("bearer secret-token in ws_1234, ab stays") == "bearer *** in ***, ab stays"
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after("0.5") == 0.5
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
