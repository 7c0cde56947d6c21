"""The Starlette application: the Gradient API endpoints the hayswitch adapter uses, plus admin.

API endpoints (under the prefix, ``/api`` by default; see gradient-api.md §6):

* ``GET /models?capability=&onlyBase=``, ``GET /models/{id}``, ``POST /models``,
  ``DELETE /models/{id}``, ``POST /models/{id}/complete``, ``POST /models/{id}/fine-tune``
* ``GET /embeddings``, ``POST /embeddings/{slug}``

Every API request needs ``Authorization: Bearer <token>`` (401 otherwise) and an accepted
``x-gradient-workspace-id`` (403 otherwise). Success is always HTTP 200 with a JSON body.

Admin endpoints (no auth; loopback only; never part of the Gradient API):

* ``GET /_admin/health``
* ``GET /_admin/stats``, ``POST /_admin/stats/reset``
* ``GET /_admin/faults``, ``POST /_admin/faults`` (a rule, a list of rules, or
  ``{"rules": [...], "replace": true}``), ``DELETE /_admin/faults``
* ``GET /_admin/config``, ``POST /_admin/config`` (partial: ``{"latency": {"fixed": 0.08}}``)
* ``POST /_admin/reset`` (adapters, statistics and faults)
"""

from __future__ import annotations

import asyncio
import functools
import json
import socket
import struct
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gradient_emulator import outputs
from gradient_emulator.config import EmulatorConfig, FaultRule
from gradient_emulator.schemas import (
    CompleteBody,
    CreateModelBody,
    EmbeddingsBody,
    FineTuneBody,
    error_body,
    validation_error_body,
)
from gradient_emulator.state import Adapter, BaseModelEntry, EmulatorState

__all__ = ["ApiError", "create_app", "register_transport", "unregister_transport"]

# Client address -> transport, filled by the server's protocol class (gradient_emulator.server),
# so a "reset" fault can abort the very TCP connection a request came on.
_TRANSPORTS: dict[tuple[str, int], asyncio.BaseTransport] = {}


def register_transport(peer: tuple[str, int], transport: asyncio.BaseTransport) -> None:
    _TRANSPORTS[peer] = transport


def unregister_transport(peer: tuple[str, int]) -> None:
    _TRANSPORTS.pop(peer, None)


class ApiError(Exception):
    """An API error answer: status and JSON body."""

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        super().__init__(body.get("message", ""))
        self.status = status
        self.body = body
        self.headers = headers or {}


def _dumps(data: Any) -> bytes:
    # orjson: ~10x faster than json on 262,144-float embedding responses (the emulator's hot path).
    return orjson.dumps(data)


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(_dumps(data), status_code=status, media_type="application/json", headers=headers)


def _parse(model: type[BaseModel], raw: bytes) -> Any:
    try:
        data = json.loads(raw) if raw else None
    except ValueError as exc:
        raise ApiError(400, validation_error_body(ValueError(f"request body is not valid JSON ({exc})"))) from None
    if not isinstance(data, dict):
        raise ApiError(400, validation_error_body(ValueError("request body must be a JSON object")))
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ApiError(400, validation_error_body(exc)) from None


def _count_inputs(operation: str, raw: bytes) -> int:
    """Inputs for the latency model: embedding texts, fine-tuning samples, or 1."""
    if operation not in ("embed", "fine_tune") or not raw:
        return 1
    try:
        data = json.loads(raw)
    except ValueError:
        return 1
    key = "inputs" if operation == "embed" else "samples"
    items = data.get(key) if isinstance(data, dict) else None
    return len(items) if isinstance(items, list) else 1


def _abort_connection(request: Request) -> bool:
    """Abort the request's TCP connection with a RST (SO_LINGER 0). False if it cannot."""
    client = request.scope.get("client")
    transport = _TRANSPORTS.get((client[0], client[1])) if client else None
    if transport is None:
        return False
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    abort = getattr(transport, "abort", None)
    if callable(abort):
        abort()
    else:
        transport.close()
    return True


Handler = Callable[[Request, EmulatorState, str, bytes], Awaitable[Any]]


def create_app(config: EmulatorConfig | None = None, state: EmulatorState | None = None) -> Starlette:
    """Build the emulator's ASGI app. ``app.state.emulator`` is the :class:`EmulatorState`."""
    state = state or EmulatorState(config or EmulatorConfig())
    prefix = state.config.prefix.rstrip("/")

    def api(operation: str, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            state.begin(operation)
            status = 500
            inputs = 0
            try:
                response, inputs = await _serve(request, operation, handler)
                status = response.status_code
                return response
            finally:
                state.finish(operation, status, inputs=inputs, path=request.url.path)

        return endpoint

    async def _serve(request: Request, operation: str, handler: Handler) -> tuple[Response, int]:
        # 1. credentials: 401 for the token, 403 for the workspace.
        auth = request.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not state.token_ok(token.strip()):
            return _json({"message": "Invalid or missing access token: send 'Authorization: Bearer <token>'."}, 401), 0
        workspace = request.headers.get("x-gradient-workspace-id", "")
        if not workspace:
            body = error_body("queryOrPathParsingError", "Missing header x-gradient-workspace-id.", payload={})
            return _json(body, 400), 0
        if not state.workspace_ok(workspace):
            return _json({"message": f"This access token has no access to workspace {workspace!r}."}, 403), 0

        # 2. server-side concurrency limit.
        limiter = state.limiter
        if state.config.concurrency_mode == "reject":
            if not limiter.try_acquire():
                retry = state.config.reject_retry_after
                return _json({"message": "Too many concurrent requests."}, 429, {"Retry-After": f"{retry:g}"}), 0
        else:
            await limiter.acquire()
        state.enter_service()
        try:
            raw = await request.body()
            inputs = _count_inputs(operation, raw)
            rule = state.pick_fault(operation, raw)
            # 3. faults that replace the answer.
            if rule is not None:
                early = await _early_fault(request, rule)
                if early is not None:
                    return early, inputs
            # 4. service time.
            latency = state.latency
            delay = latency.fixed + latency.per_input * inputs
            if delay > 0:
                await asyncio.sleep(delay)
            # 5. the real work.
            try:
                result = await handler(request, state, workspace, raw)
            except ApiError as err:
                return _json(err.body, err.status, err.headers), inputs
            # 6. faults that corrupt a successful answer.
            if rule is not None and rule.kind == "malformed":
                return Response(b'{"embeddings": [{"embedding": [0.1, ', 200, media_type="application/json"), inputs
            if rule is not None and rule.kind == "wrong_count" and isinstance(result, dict):
                result = {**result, "embeddings": result.get("embeddings", [])[:-1]}
            text = await run_in_threadpool(functools.partial(_dumps, result))
            return Response(text, 200, media_type="application/json"), inputs
        finally:
            state.leave_service()
            await limiter.release()

    async def _early_fault(request: Request, rule: FaultRule) -> Response | None:
        if rule.kind == "429":
            retry = 1.0 if rule.retry_after is None else rule.retry_after
            return _json({"message": "Rate limit exceeded (injected)."}, 429, {"Retry-After": f"{retry:g}"})
        if rule.kind in ("500", "503"):
            headers = {"Retry-After": f"{rule.retry_after:g}"} if rule.retry_after is not None else None
            return _json(error_body("failed", f"Injected server error {rule.kind}."), int(rule.kind), headers)
        if rule.kind == "reset":
            if _abort_connection(request):
                await asyncio.sleep(0.01)  # let the loop notice the closed transport
                return Response(b"", 500)
            return _json({"message": "Injected reset (connection could not be aborted)."}, 500)
        if rule.kind == "slow":
            await asyncio.sleep(rule.delay)
        return None

    # ------------------------------------------------------------------ operations
    def find_model(workspace: str, model_id: str) -> BaseModelEntry | Adapter:
        base = state.base_by_id(model_id)
        if base is not None:
            return base
        adapter = state.workspace_adapters(workspace).get(model_id)
        if adapter is not None:
            return adapter
        if model_id.endswith("_model_adapter"):
            raise ApiError(404, error_body("unknownModelAdapter", f"Model adapter {model_id!r} does not exist."))
        raise ApiError(404, error_body("unknownBaseModel", f"Model {model_id!r} does not exist."))

    def find_adapter(workspace: str, model_id: str) -> Adapter:
        adapter = state.workspace_adapters(workspace).get(model_id)
        if adapter is None:
            raise ApiError(404, error_body("unknownModelAdapter", f"Model adapter {model_id!r} does not exist."))
        return adapter

    async def list_models(request: Request, st: EmulatorState, workspace: str, raw: bytes) -> Any:
        capability = request.query_params.get("capability", "fineTune")
        if capability not in ("any", "complete", "fineTune"):
            raise ApiError(
                400,
                error_body(
                    "queryOrPathParsingError",
                    f"capability must be one of any, complete, fineTune; got {capability!r}.",
                    payload={},
                ),
            )
        only_base_raw = request.query_params.get("onlyBase", "false")
        if only_base_raw.lower() not in ("true", "false"):
            raise ApiError(
                400,
                error_body(
                    "queryOrPathParsingError", f"onlyBase must be true or false; got {only_base_raw!r}.", payload={}
                ),
            )
        only_base = only_base_raw.lower() == "true"
        models: list[dict[str, Any]] = [
            m.to_json() for m in st.base_models if capability == "any" or capability in m.spec.capabilities
        ]
        if not only_base:
            models += [a.to_json() for a in st.workspace_adapters(workspace).values()]
        return {"models": models}

    async def get_model(request: Request, st: EmulatorState, workspace: str, raw: bytes) -> Any:
        return find_adapter(workspace, request.path_params["id"]).to_json()

    async def create_model(request: Request, st: EmulatorState, workspace: str, raw: bytes) -> Any:
        body: CreateModelBody = _parse(CreateModelBody, raw)
        base = st.base_by_id(body.model.base_model_id)
        if base is None:
            raise ApiError(
                404, error_body("unknownBaseModel", f"Base model {body.model.base_model_id!r} does not exist.")
            )
        if "fineTune" not in base.spec.capabilities:
            raise ApiError(
                400,
                error_body("modelIncapableOfFineTuning", f"Base model {base.spec.slug!r} cannot be fine-tuned."),
            )
        hyper = body.initial_hyperparameters
        rank = hyper.lora_hyperparameters.rank if hyper and hyper.lora_hyperparameters else None
        lr = hyper.training_arguments.learning_rate if hyper and hyper.training_arguments else None
        adapter = st.add_adapter(
            workspace, name=body.model.name, base=base, rank=rank, learning_rate=None if lr is None else float(lr)
        )
        return {"id": adapter.id}

    async def delete_model(request: Request, st: EmulatorState, workspace: str, raw: bytes) -> Any:
        adapter = find_adapter(workspace, request.path_params["id"])
        st.workspace_adapters(workspace).pop(adapter.id, None)
        return {}

    async def complete(request: Request, st: EmulatorState, workspace: str, raw: bytes) -> Any:
        model = find_model(workspace, request.path_params["id"])
        body: CompleteBody = _parse(CompleteBody, raw)
        base = model if isinstance(model, BaseModelEntry) else model.base
        if "complete" not in base.spec.capabilities:
            raise ApiError(400, error_body("failed", f"Model {base.spec.slug!r} cannot complete."))
        if body.rag is not None:
            if body.auto_template is False:
                raise ApiError(
                    400, error_body("ragRequiresAutoTemplating", "RAG requires autoTemplate to be true (or null).")
                )
            raise ApiError(
                404,
                error_body("unknownRagCollection", f"RAG collection {body.rag.collection_id!r} does not exist."),
            )
        if body.guidance is not None:
            if not base.spec.guidance:
                raise ApiError(
                    400,
                    error_body("modelDoesNotSupportGuidance", f"Model {base.spec.slug!r} does not support guidance."),
                )
            return {"finishReason": "stop", "generatedOutput": outputs.choose_guided(body.query, body.guidance.value)}
        max_tokens = body.max_generated_token_count or st.config.default_max_tokens
        name = model.spec.slug if isinstance(model, BaseModelEntry) else model.name
        trained = model.trained if isinstance(model, Adapter) else ()
        text, finish = outputs.complete(query=body.query, model_name=name, max_tokens=max_tokens, trained=trained)
        return {"finishReason": finish, "generatedOutput": text}

    async def fine_tune(request: Request, st: EmulatorState, workspace: str, raw: bytes) -> Any:
        model_id = request.path_params["id"]
        if st.base_by_id(model_id) is not None:
            raise ApiError(
                400,
                error_body(
                    "modelIncapableOfFineTuning", "Base models cannot be fine-tuned directly; create an adapter."
                ),
            )
        adapter = find_adapter(workspace, model_id)
        body: FineTuneBody = _parse(FineTuneBody, raw)
        figures = [(s.trainable_text(), s.multiplier) for s in body.samples]
        count, loss = outputs.fine_tune_figures(figures, adapter.epochs)
        adapter.trained.extend(s.full_text() for s in body.samples)
        adapter.epochs += 1
        adapter.updated = datetime.now(UTC)
        return {"numberOfTrainableTokens": count, "sumLoss": loss}

    async def list_embeddings(request: Request, st: EmulatorState, workspace: str, raw: bytes) -> Any:
        return {"embeddingsModels": [{"slug": outputs.EMBEDDING_SLUG}]}

    async def embed(request: Request, st: EmulatorState, workspace: str, raw: bytes) -> Any:
        slug = request.path_params["slug"]
        if slug != outputs.EMBEDDING_SLUG:
            raise ApiError(
                404, {"message": f"Unknown embeddings model {slug!r}; the only one is {outputs.EMBEDDING_SLUG!r}."}
            )
        body: EmbeddingsBody = _parse(EmbeddingsBody, raw)
        texts = [item.input for item in body.inputs]
        vectors = await run_in_threadpool(outputs.embedding_lists, texts)
        return {"embeddings": [{"embedding": v, "index": i} for i, v in enumerate(vectors)]}

    # ------------------------------------------------------------------ admin
    async def admin_health(request: Request) -> Response:
        return _json({"ok": True, "prefix": state.config.prefix})

    async def admin_stats(request: Request) -> Response:
        if request.method == "POST":
            state.reset_stats()
        return _json(state.stats())

    async def admin_faults(request: Request) -> Response:
        if request.method == "DELETE":
            state.clear_faults()
        elif request.method == "POST":
            try:
                data = json.loads(await request.body() or b"null")
                replace = False
                if isinstance(data, dict) and "rules" in data:
                    replace = bool(data.get("replace", False))
                    data = data["rules"]
                items = data if isinstance(data, list) else [data]
                rules = [FaultRule.model_validate(item) for item in items]
            except (ValueError, ValidationError) as exc:
                return _json({"message": f"Invalid fault rule: {exc}"}, 400)
            state.add_faults(rules, replace=replace)
        return _json({"faults": state.faults()})

    async def admin_config(request: Request) -> Response:
        if request.method == "POST":
            try:
                changes = json.loads(await request.body() or b"{}")
                if not isinstance(changes, dict):
                    raise ValueError("expected a JSON object")
                state.configure(changes)
            except (ValueError, ValidationError) as exc:
                return _json({"message": f"Invalid configuration: {exc}"}, 400)
        return _json(state.config.model_dump(mode="json"))

    async def admin_reset(request: Request) -> Response:
        state.reset_models()
        state.reset_stats()
        state.clear_faults()
        return _json({"ok": True})

    async def not_found(request: Request, exc: Exception) -> Response:
        return _json({"message": f"No such endpoint: {request.method} {request.url.path}."}, 404)

    routes = [
        Route(f"{prefix}/models", api("list_models", list_models), methods=["GET"]),
        Route(f"{prefix}/models", api("create_model", create_model), methods=["POST"]),
        Route(f"{prefix}/models/{{id}}", api("get_model", get_model), methods=["GET"]),
        Route(f"{prefix}/models/{{id}}", api("delete_model", delete_model), methods=["DELETE"]),
        Route(f"{prefix}/models/{{id}}/complete", api("complete", complete), methods=["POST"]),
        Route(f"{prefix}/models/{{id}}/fine-tune", api("fine_tune", fine_tune), methods=["POST"]),
        Route(f"{prefix}/embeddings", api("list_embeddings", list_embeddings), methods=["GET"]),
        Route(f"{prefix}/embeddings/{{slug}}", api("embed", embed), methods=["POST"]),
        Route("/_admin/health", admin_health, methods=["GET"]),
        Route("/_admin/stats", admin_stats, methods=["GET"]),
        Route("/_admin/stats/reset", admin_stats, methods=["POST"]),
        Route("/_admin/faults", admin_faults, methods=["GET", "POST", "DELETE"]),
        Route("/_admin/config", admin_config, methods=["GET", "POST"]),
        Route("/_admin/reset", admin_reset, methods=["POST"]),
    ]
    app = Starlette(routes=routes, exception_handlers={404: not_found})
    app.state.emulator = state
    return app
