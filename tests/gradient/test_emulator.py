"""The Gradient emulator follows the wire contract of gradient-api.md (checked with raw HTTP and with
the real gradientai SDK), and its latency, concurrency limit and fault injection work."""

from __future__ import annotations

import json
import math
import threading
import time
from typing import Any

import pytest
import urllib3
from gradient_emulator import EmulatorServer, FaultRule, embedding, run_emulator
from gradient_support import FAKE_TOKEN, FAKE_WORKSPACE

pytestmark = pytest.mark.live

HEADERS = {"Authorization": f"Bearer {FAKE_TOKEN}", "x-gradient-workspace-id": FAKE_WORKSPACE}
HTTP = urllib3.PoolManager(retries=False, timeout=10)


def call(emu: EmulatorServer, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    hdrs = dict(HEADERS if headers is None else headers)
    if data is not None:
        hdrs["Content-Type"] = "application/json"
    return HTTP.request(method, emu.api_url + path, body=data, headers=hdrs)


def jbody(response: Any) -> Any:
    return json.loads(response.data)


def base_id(emu: EmulatorServer, slug: str = "nous-hermes2") -> str:
    models = jbody(call(emu, "GET", "/models?capability=any&onlyBase=True"))["models"]
    return next(m["id"] for m in models if m["slug"] == slug)


def new_adapter(emu: EmulatorServer, name: str = "a") -> str:
    body = {"model": {"baseModelId": base_id(emu), "name": name}}
    response = call(emu, "POST", "/models", body)
    assert response.status == 200
    return str(jbody(response)["id"])


# ---------------------------------------------------------------------------- auth


def test_missing_or_wrong_token_is_401(live_emulator: EmulatorServer) -> None:
    assert call(live_emulator, "GET", "/models", headers={"x-gradient-workspace-id": FAKE_WORKSPACE}).status == 401
    wrong = {"Authorization": "Bearer nope", "x-gradient-workspace-id": FAKE_WORKSPACE}
    response = call(live_emulator, "GET", "/models", headers=wrong)
    assert response.status == 401
    assert "message" in jbody(response)


def test_unknown_workspace_is_403_and_missing_is_400(live_emulator: EmulatorServer) -> None:
    other = {"Authorization": f"Bearer {FAKE_TOKEN}", "x-gradient-workspace-id": "someone-else_workspace"}
    assert call(live_emulator, "GET", "/models", headers=other).status == 403
    missing = {"Authorization": f"Bearer {FAKE_TOKEN}"}
    assert call(live_emulator, "GET", "/models", headers=missing).status == 400


def test_api_prefix_is_required(live_emulator: EmulatorServer) -> None:
    response = HTTP.request("GET", live_emulator.url + "/models", headers=HEADERS)
    assert response.status == 404


# ---------------------------------------------------------------------------- models


def test_only_base_is_case_insensitive_and_excludes_adapters(live_emulator: EmulatorServer) -> None:
    adapter = new_adapter(live_emulator)
    for flag in ("True", "true", "TRUE"):
        models = jbody(call(live_emulator, "GET", f"/models?capability=any&onlyBase={flag}"))["models"]
        assert models
        assert all(m["type"] == "baseModel" for m in models)
    everything = jbody(call(live_emulator, "GET", "/models?capability=any&onlyBase=False"))["models"]
    assert adapter in {m["id"] for m in everything}
    assert call(live_emulator, "GET", "/models?onlyBase=maybe").status == 400
    assert call(live_emulator, "GET", "/models?capability=everything").status == 400


def test_capability_filter_defaults_to_fine_tune(live_emulator: EmulatorServer) -> None:
    default = {m["slug"] for m in jbody(call(live_emulator, "GET", "/models?onlyBase=true"))["models"]}
    complete = {
        m["slug"] for m in jbody(call(live_emulator, "GET", "/models?capability=complete&onlyBase=true"))["models"]
    }
    assert "bloom-560m" not in default  # complete-only model
    assert "bloom-560m" in complete


def test_ids_are_50_characters(live_emulator: EmulatorServer) -> None:
    adapter = new_adapter(live_emulator)
    models = jbody(call(live_emulator, "GET", "/models?capability=any&onlyBase=false"))["models"]
    assert all(len(m["id"]) == 50 for m in models)
    assert adapter.endswith("_model_adapter")
    assert len(adapter) == 50
    described = jbody(call(live_emulator, "GET", f"/models/{adapter}"))
    assert described["type"] == "modelAdapter"
    assert described["latestUpdateTime"].endswith("Z")


def test_unknown_ids_are_404(live_emulator: EmulatorServer) -> None:
    unknown = "00000000-0000-4000-8000-000000000000_model_adapter"
    assert call(live_emulator, "GET", f"/models/{unknown}").status == 404
    assert call(live_emulator, "DELETE", f"/models/{unknown}").status == 404
    response = call(live_emulator, "POST", f"/models/{unknown}/complete", {"query": "hi"})
    assert response.status == 404
    assert jbody(response)["type"] == "unknownModelAdapter"
    unknown_base = "00000000-0000-4000-8000-000000000000_base_ml_model"
    response = call(live_emulator, "POST", "/models", {"model": {"baseModelId": unknown_base, "name": "x"}})
    assert response.status == 404
    assert call(live_emulator, "POST", "/embeddings/bge-small", {"inputs": [{"input": "x"}]}).status == 404


def test_success_is_200_json_even_for_delete(live_emulator: EmulatorServer) -> None:
    adapter = new_adapter(live_emulator)
    response = call(live_emulator, "DELETE", f"/models/{adapter}")
    assert response.status == 200
    assert response.headers["content-type"].startswith("application/json")
    assert jbody(response) == {}
    assert call(live_emulator, "GET", f"/models/{adapter}").status == 404


# ---------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "body",
    [
        {"query": ""},
        {"query": "x", "maxGeneratedTokenCount": 512},
        {"query": "x", "maxGeneratedTokenCount": 0},
        {"query": "x", "maxGeneratedTokenCount": 10.0},
        {"query": "x", "topK": 2.5},
        {"query": "x", "temperature": "hot"},
        {"query": "x", "guidance": {"type": "choice", "value": []}},
        {"query": "x", "guidance": {"type": "choice", "value": ["x" * 33]}},
        {"query": "x", "guidance": {"type": "regex", "value": ["a"]}},
        {"autoTemplate": True},
    ],
)
def test_complete_validation_is_400_body_parsing_error(live_emulator: EmulatorServer, body: dict[str, Any]) -> None:
    response = call(live_emulator, "POST", f"/models/{base_id(live_emulator)}/complete", body)
    assert response.status == 400
    error = jbody(response)
    assert error["type"] == "bodyParsingError"
    assert error["payload"]["formattedValidationError"]
    assert error["message"]


@pytest.mark.parametrize(
    ("path_kind", "body"),
    [
        (
            "create",
            {
                "model": {"baseModelId": "BASE", "name": "x"},
                "initialHyperparameters": {"loraHyperparameters": {"rank": 33}},
            },
        ),
        (
            "create",
            {
                "model": {"baseModelId": "BASE", "name": "x"},
                "initialHyperparameters": {"trainingArguments": {"learningRate": 1}},
            },
        ),
        ("create", {"model": {"baseModelId": "BASE", "name": ""}}),
        ("embed", {"inputs": []}),
        ("embed", {"inputs": [{"input": ""}]}),
        ("embed", {"inputs": [{"input": "x"}] * 257}),
        ("finetune", {"samples": [{"inputs": "x", "fineTuningParameters": {"multiplier": 0}}]}),
        ("finetune", {"samples": []}),
    ],
)
def test_sdk_rules_are_enforced_server_side(
    live_emulator: EmulatorServer, path_kind: str, body: dict[str, Any]
) -> None:
    if path_kind == "create":
        body = json.loads(json.dumps(body).replace("BASE", base_id(live_emulator)))
        response = call(live_emulator, "POST", "/models", body)
    elif path_kind == "embed":
        response = call(live_emulator, "POST", "/embeddings/bge-large", body)
    else:
        response = call(live_emulator, "POST", f"/models/{new_adapter(live_emulator)}/fine-tune", body)
    assert response.status == 400
    assert jbody(response)["type"] == "bodyParsingError"


def test_malformed_json_body_is_400(live_emulator: EmulatorServer) -> None:
    response = call(live_emulator, "POST", "/embeddings/bge-large", b"{not json")
    assert response.status == 400
    assert jbody(response)["type"] == "bodyParsingError"


def test_null_is_treated_as_absent(live_emulator: EmulatorServer) -> None:
    body = {
        "query": "What is the capital of France?",
        "autoTemplate": None,
        "guidance": None,
        "maxGeneratedTokenCount": None,
        "rag": None,
        "temperature": None,
        "topK": None,
        "topP": None,
    }
    response = call(live_emulator, "POST", f"/models/{base_id(live_emulator)}/complete", body)
    assert response.status == 200
    out = jbody(response)
    assert set(out) == {"finishReason", "generatedOutput"}
    create = {
        "model": {"baseModelId": base_id(live_emulator), "name": "n"},
        "initialHyperparameters": {"loraHyperparameters": {"rank": None}, "trainingArguments": {"learningRate": None}},
    }
    assert call(live_emulator, "POST", "/models", create).status == 200


# ---------------------------------------------------------------------------- outputs


def test_embeddings_are_deterministic_unit_norm_1024d_in_order(live_emulator: EmulatorServer) -> None:
    texts = ["alpha beta", "gamma", "alpha beta", "Grüße 東京 🚀"]
    out = jbody(call(live_emulator, "POST", "/embeddings/bge-large", {"inputs": [{"input": t} for t in texts]}))
    items = out["embeddings"]
    assert [e["index"] for e in items] == [0, 1, 2, 3]
    vectors = [e["embedding"] for e in items]
    assert all(len(v) == 1024 for v in vectors)
    assert all(math.isclose(math.sqrt(sum(x * x for x in v)), 1.0, abs_tol=1e-5) for v in vectors)
    assert vectors[0] == vectors[2]
    assert vectors[0] != vectors[1]
    assert vectors[1] == list(embedding("gamma"))
    again = jbody(call(live_emulator, "POST", "/embeddings/bge-large", {"inputs": [{"input": "gamma"}]}))
    assert again["embeddings"][0]["embedding"] == vectors[1]


def test_completion_respects_max_tokens_and_guidance(live_emulator: EmulatorServer) -> None:
    model = base_id(live_emulator)
    long = jbody(
        call(
            live_emulator,
            "POST",
            f"/models/{model}/complete",
            {"query": "one two three four five six", "maxGeneratedTokenCount": 3},
        )
    )
    assert long["finishReason"] == "length"
    assert len(long["generatedOutput"].split()) <= 3
    free = jbody(call(live_emulator, "POST", f"/models/{model}/complete", {"query": "Hello there"}))
    assert free["finishReason"] == "stop"
    assert "Hello there" in free["generatedOutput"]
    guided = {"query": "Is the sky blue? yes or no", "guidance": {"type": "choice", "value": ["maybe", "blue"]}}
    answer = jbody(call(live_emulator, "POST", f"/models/{model}/complete", guided))
    assert answer["generatedOutput"] in {"maybe", "blue"}
    bloom = base_id(live_emulator, "bloom-560m")
    refused = call(live_emulator, "POST", f"/models/{bloom}/complete", guided)
    assert refused.status == 400
    assert jbody(refused)["type"] == "modelDoesNotSupportGuidance"


def test_fine_tune_returns_integer_tokens_and_a_falling_loss(live_emulator: EmulatorServer) -> None:
    adapter = new_adapter(live_emulator)
    body = {
        "samples": [
            {
                "inputs": "### Instruction: Who makes X?\n\n### Response: Acme does.",
                "fineTuningParameters": {"multiplier": None},
            },
            {"inputs": [{"value": "Q: hi", "trainable": False}, {"value": " A: yo", "trainable": True}]},
        ]
    }
    first = jbody(call(live_emulator, "POST", f"/models/{adapter}/fine-tune", body))
    second = jbody(call(live_emulator, "POST", f"/models/{adapter}/fine-tune", body))
    assert type(first["numberOfTrainableTokens"]) is int
    assert first["numberOfTrainableTokens"] > 0
    assert isinstance(first["sumLoss"], float)
    assert second["sumLoss"] < first["sumLoss"]
    learned = jbody(
        call(live_emulator, "POST", f"/models/{adapter}/complete", {"query": "### Instruction: Who makes X?"})
    )
    assert learned["generatedOutput"].strip() == "### Response: Acme does."
    base = base_id(live_emulator)
    assert call(live_emulator, "POST", f"/models/{base}/fine-tune", body).status == 400


def test_bloom_cannot_be_fine_tuned(live_emulator: EmulatorServer) -> None:
    body = {"model": {"baseModelId": base_id(live_emulator, "bloom-560m"), "name": "x"}}
    response = call(live_emulator, "POST", "/models", body)
    assert response.status == 400
    assert jbody(response)["type"] == "modelIncapableOfFineTuning"


def test_adapters_are_scoped_to_their_workspace() -> None:
    with run_emulator(access_tokens=[FAKE_TOKEN], workspace_ids=[FAKE_WORKSPACE, "second_workspace"]) as emu:
        assert isinstance(emu, EmulatorServer)
        adapter = new_adapter(emu)
        other = {"Authorization": f"Bearer {FAKE_TOKEN}", "x-gradient-workspace-id": "second_workspace"}
        assert call(emu, "GET", f"/models/{adapter}", headers=other).status == 404


# ---------------------------------------------------------------------------- faults and limits


def test_fault_429_with_retry_after_and_times(live_emulator: EmulatorServer) -> None:
    live_emulator.add_fault(kind="429", times=2, retry_after=0.25, endpoint="embeddings")
    body = {"inputs": [{"input": "x"}]}
    statuses = [call(live_emulator, "POST", "/embeddings/bge-large", body) for _ in range(3)]
    assert [r.status for r in statuses] == [429, 429, 200]
    assert statuses[0].headers["Retry-After"] == "0.25"
    assert live_emulator.stats()["faults_injected"] == {"429": 2}
    assert live_emulator.faults()[0]["spent"] is True


def test_fault_rate_skip_and_contains(live_emulator: EmulatorServer) -> None:
    live_emulator.add_fault(kind="500", contains="poison", endpoint="embed")
    live_emulator.add_fault(kind="503", skip=1, times=1, endpoint="complete", retry_after=1)
    assert call(live_emulator, "POST", "/embeddings/bge-large", {"inputs": [{"input": "fine"}]}).status == 200
    assert call(live_emulator, "POST", "/embeddings/bge-large", {"inputs": [{"input": "poison"}]}).status == 500
    model = base_id(live_emulator)
    statuses = [call(live_emulator, "POST", f"/models/{model}/complete", {"query": "q"}).status for _ in range(3)]
    assert statuses == [200, 503, 200]
    live_emulator.clear_faults()
    live_emulator.add_fault(kind="500", rate=0.0)
    assert call(live_emulator, "GET", "/embeddings").status == 200


def test_fault_malformed_and_wrong_count(live_emulator: EmulatorServer) -> None:
    live_emulator.add_fault(kind="malformed", times=1)
    broken = call(live_emulator, "POST", "/embeddings/bge-large", {"inputs": [{"input": "x"}]})
    assert broken.status == 200
    with pytest.raises(ValueError):
        json.loads(broken.data)
    live_emulator.add_fault(kind="wrong_count", times=1)
    short = jbody(call(live_emulator, "POST", "/embeddings/bge-large", {"inputs": [{"input": "x"}, {"input": "y"}]}))
    assert len(short["embeddings"]) == 1


def test_fault_reset_aborts_the_connection(live_emulator: EmulatorServer) -> None:
    live_emulator.add_fault(kind="reset", times=1)
    with pytest.raises(urllib3.exceptions.ProtocolError):
        call(live_emulator, "GET", "/embeddings")
    assert call(live_emulator, "GET", "/embeddings").status == 200


def test_fault_slow_trips_a_client_timeout(live_emulator: EmulatorServer) -> None:
    live_emulator.add_fault(kind="slow", delay=1.0, times=1)
    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        HTTP.request("GET", live_emulator.api_url + "/embeddings", headers=HEADERS, timeout=0.2)
    deadline = time.monotonic() + 5
    while live_emulator.stats()["in_flight"] and time.monotonic() < deadline:  # let the slow answer finish
        time.sleep(0.05)
    assert live_emulator.stats()["in_flight"] == 0


def test_invalid_fault_rules_are_refused() -> None:
    with pytest.raises(ValueError):
        FaultRule(kind="slow")
    with pytest.raises(ValueError):
        FaultRule(kind="429", endpoint="nowhere")
    with pytest.raises(ValueError):
        FaultRule(kind="wrong_count", endpoint="complete")


def test_latency_and_concurrency_limit(live_emulator: EmulatorServer) -> None:
    live_emulator.configure(latency={"fixed": 0.15, "per_input": 0.0}, max_concurrency=2)
    results: list[int] = []

    def worker() -> None:
        results.append(call(live_emulator, "GET", "/embeddings").status)

    threads = [threading.Thread(target=worker) for _ in range(5)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    assert results == [200] * 5
    stats = live_emulator.stats()
    assert stats["max_in_flight"] == 2
    assert elapsed >= 0.15 * 3 - 0.01  # five requests, two at a time: at least three rounds


def test_concurrency_reject_mode_answers_429(live_emulator: EmulatorServer) -> None:
    live_emulator.configure(
        latency={"fixed": 0.3}, max_concurrency=1, concurrency_mode="reject", reject_retry_after=0.5
    )
    statuses: list[int] = []
    threads = [
        threading.Thread(target=lambda: statuses.append(call(live_emulator, "GET", "/embeddings").status))
        for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses).count(429) >= 1
    assert 200 in statuses


def test_admin_endpoints_over_http(live_emulator: EmulatorServer) -> None:
    rule = {"kind": "500", "times": 3, "endpoint": "embeddings"}
    added = HTTP.request("POST", live_emulator.url + "/_admin/faults", body=json.dumps(rule).encode())
    assert added.status == 200
    assert jbody(added)["faults"][0]["kind"] == "500"
    bad = HTTP.request("POST", live_emulator.url + "/_admin/faults", body=b'{"kind": "teapot"}')
    assert bad.status == 400
    config = HTTP.request("POST", live_emulator.url + "/_admin/config", body=b'{"latency": {"fixed": 0.01}}')
    assert jbody(config)["latency"]["fixed"] == 0.01
    call(live_emulator, "POST", "/embeddings/bge-large", {"inputs": [{"input": "x"}]})
    stats = jbody(HTTP.request("GET", live_emulator.url + "/_admin/stats"))
    assert stats["by_status"] == {"500": 1}
    assert stats["by_operation"] == {"embed": 1}
    HTTP.request("DELETE", live_emulator.url + "/_admin/faults")
    assert jbody(HTTP.request("GET", live_emulator.url + "/_admin/faults"))["faults"] == []
    assert HTTP.request("POST", live_emulator.url + "/_admin/reset").status == 200


def test_process_mode_with_cli_flags() -> None:
    with run_emulator(
        mode="process", access_tokens=[FAKE_TOKEN], workspace_ids=[FAKE_WORKSPACE], faults=[{"kind": "503", "times": 1}]
    ) as emu:
        first = HTTP.request("GET", emu.api_url + "/embeddings", headers=HEADERS)
        second = HTTP.request("GET", emu.api_url + "/embeddings", headers=HEADERS)
        assert [first.status, second.status] == [503, 200]
        emu.add_fault(kind="429", times=1, retry_after=0.1)
        assert HTTP.request("GET", emu.api_url + "/embeddings", headers=HEADERS).status == 429
        assert emu.stats()["by_status"] == {"503": 1, "200": 1, "429": 1}


def test_main_refuses_non_loopback_hosts(capsys: pytest.CaptureFixture[str]) -> None:
    from gradient_emulator.__main__ import main

    assert main(["--host", "0.0.0.0", "--port", "0"]) == 2
    assert "loopback" in capsys.readouterr().err
