"""Run the same caller-visible scenarios against gradient-haystack 0.4.0 or the hayswitch drop-ins.

Not a test module: a script that prints one normalised line per scenario (outputs, request pattern,
and which built-in exception types the error is an instance of), so the outputs of the two
implementations can be diffed. Both provide the same import paths, so each runs in its own
virtualenv, against the Gradient emulator (``tools/gradient-emulator``) on a free loopback port::

    python -m venv /tmp/gh040 && /tmp/gh040/bin/pip install gradient-haystack==0.4.0 haystack-ai==3.4.1 \
        starlette uvicorn orjson && /tmp/gh040/bin/pip install --no-deps -e tools/gradient-emulator
    /tmp/gh040/bin/python tests/gradient/peer/side_by_side.py > /tmp/peer-0.4.0.txt
    python tests/gradient/peer/side_by_side.py > /tmp/peer-hayswitch.txt   # the project's venv
    diff /tmp/peer-0.4.0.txt /tmp/peer-hayswitch.txt

The differences it shows are the ones listed (with their reasons) in ``README.md`` beside this file.
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from collections.abc import Callable, Iterator
from typing import Any

from gradient_emulator import EmulatorServer, run_emulator
from haystack import Document, Pipeline, component
from haystack.components.builders.answer_builder import AnswerBuilder
from haystack.utils import Secret

TOKEN, WORKSPACE = "side-by-side-token", "side-by-side_workspace"
ADAPTER_ID = "0" * 36 + "_model_adapter"


@component
class DocumentCounter:
    @component.output_types(count=int)
    def run(self, documents: list[Document]) -> dict[str, Any]:
        return {"count": len(documents)}


def _kind(exc: BaseException) -> str:
    builtins = [
        t.__name__ for t in (ValueError, TypeError, RuntimeError, AttributeError, LookupError) if isinstance(exc, t)
    ]
    if isinstance(exc, StopIteration):
        builtins.append("StopIteration")
    return "raises " + ("|".join(builtins) or "other")


def scenarios(emu: EmulatorServer) -> Iterator[tuple[str, Callable[[], Any]]]:
    from haystack_integrations.components.embedders.gradient import GradientDocumentEmbedder, GradientTextEmbedder
    from haystack_integrations.components.generators.gradient import GradientGenerator

    def embed_sizes(embedder: Any, count: int) -> list[int]:
        embedder.warm_up()
        emu.reset_stats()
        docs = [Document(content=f"document {i}") for i in range(count)]
        out = embedder.run(documents=docs)
        if out["documents"] is not docs or any(d.embedding is None for d in docs):
            raise AssertionError("the input Documents were not returned embedded")
        return sorted(emu.stats()["embed_batch_sizes"])

    def warmed(c: Any) -> Any:
        c.warm_up()
        return c

    yield "doc run 5 docs: request sizes", lambda: embed_sizes(GradientDocumentEmbedder(), 5)
    yield (
        "doc run 101 docs batch_size=20: request sizes",
        lambda: embed_sizes(GradientDocumentEmbedder(batch_size=20), 101),
    )
    yield (
        "doc run 101 docs batch_size=20 no bar",
        lambda: embed_sizes(GradientDocumentEmbedder(batch_size=20, progress_bar=False), 101),
    )
    yield "doc run 600 docs no bar", lambda: embed_sizes(GradientDocumentEmbedder(progress_bar=False), 600)
    yield "doc run 600 docs batch_size=300", lambda: embed_sizes(GradientDocumentEmbedder(batch_size=300), 600)
    yield "doc output keys", lambda: sorted(warmed(GradientDocumentEmbedder()).run(documents=[Document(content="x")]))
    yield (
        "doc meta after run",
        lambda: (
            (d := Document(content="x", meta={"k": 1})),
            warmed(GradientDocumentEmbedder()).run(documents=[d]),
            d.meta,
        )[2],
    )
    yield "doc run [] (bar)", lambda: warmed(GradientDocumentEmbedder()).run(documents=[])
    yield "doc run [] (no bar)", lambda: warmed(GradientDocumentEmbedder(progress_bar=False)).run(documents=[])
    yield "doc run content None", lambda: warmed(GradientDocumentEmbedder()).run(documents=[Document(content=None)])
    yield "doc run content ''", lambda: warmed(GradientDocumentEmbedder()).run(documents=[Document(content="")])
    yield (
        "doc run content ' '",
        lambda: len(
            warmed(GradientDocumentEmbedder()).run(documents=[Document(content=" ")])["documents"][0].embedding
        ),
    )
    yield "doc run str", lambda: warmed(GradientDocumentEmbedder()).run(documents="abc")
    yield "doc run [str]", lambda: warmed(GradientDocumentEmbedder()).run(documents=["abc"])
    yield "doc run not warmed", lambda: GradientDocumentEmbedder().run(documents=[Document(content="x")])
    yield (
        "doc batch_size=0 (bar)",
        lambda: warmed(GradientDocumentEmbedder(batch_size=0)).run(documents=[Document(content="x")]),
    )
    yield (
        "doc batch_size=0 (no bar)",
        lambda: len(
            warmed(GradientDocumentEmbedder(batch_size=0, progress_bar=False)).run(documents=[Document(content="x")])[
                "documents"
            ]
        ),
    )

    def wrong_count_docs() -> Any:
        e = warmed(GradientDocumentEmbedder())
        emu.add_fault(kind="wrong_count", times=1, endpoint="embed")
        docs = [Document(content="a"), Document(content="b")]
        try:
            e.run(documents=docs)
        finally:
            emu.clear_faults()
        return [d.embedding is not None for d in docs]

    yield "doc wrong_count", wrong_count_docs
    yield "text output keys", lambda: sorted(warmed(GradientTextEmbedder()).run(text="x"))
    yield "text run ''", lambda: warmed(GradientTextEmbedder()).run(text="")
    yield "text run ' '", lambda: len(warmed(GradientTextEmbedder()).run(text=" ")["embedding"])
    yield "text run 1", lambda: warmed(GradientTextEmbedder()).run(text=1)
    yield "text run not warmed", lambda: GradientTextEmbedder().run(text="x")

    def text_fault(kind: str) -> Callable[[], Any]:
        def run() -> Any:
            e = warmed(GradientTextEmbedder())
            emu.add_fault(kind=kind, times=1, endpoint="embed")
            try:
                return len(e.run(text="abc")["embedding"])
            finally:
                emu.clear_faults()

        return run

    yield "text wrong_count once", text_fault("wrong_count")
    yield "text 500 once", text_fault("500")
    yield "text model '' warm_up+run", lambda: warmed(GradientTextEmbedder(model="")).run(text="x")
    yield "text model unknown warm_up+run", lambda: warmed(GradientTextEmbedder(model="nope")).run(text="x")
    yield (
        "text warm_up requests",
        lambda: (emu.reset_stats(), GradientTextEmbedder().warm_up(), emu.stats()["by_operation"])[2],
    )
    yield "gen neither", lambda: GradientGenerator()
    yield "gen both", lambda: GradientGenerator(base_model_slug="nous-hermes2", model_adapter_id=ADAPTER_ID)
    yield (
        "gen '' slug + adapter",
        lambda: GradientGenerator(base_model_slug="", model_adapter_id=ADAPTER_ID).to_dict()["init_parameters"][
            "base_model_slug"
        ],
    )
    yield "gen short adapter: init", lambda: type(GradientGenerator(model_adapter_id="short")).__name__
    yield "gen short adapter: warm_up", lambda: GradientGenerator(model_adapter_id="short").warm_up()
    yield (
        "gen unknown adapter: warm_up+run",
        lambda: warmed(GradientGenerator(model_adapter_id=ADAPTER_ID)).run(prompt="hi"),
    )
    yield "gen unknown slug: warm_up+run", lambda: warmed(GradientGenerator(base_model_slug="nope")).run(prompt="hi")
    yield (
        "gen max_generated_token_count=1000: init",
        lambda: GradientGenerator(base_model_slug="nous-hermes2", max_generated_token_count=1000).to_dict()[
            "init_parameters"
        ]["max_generated_token_count"],
    )
    yield (
        "gen max_generated_token_count=1000: run",
        lambda: warmed(GradientGenerator(base_model_slug="nous-hermes2", max_generated_token_count=1000)).run(
            prompt="hi"
        ),
    )
    yield (
        "gen top_k=0: run",
        lambda: warmed(GradientGenerator(base_model_slug="nous-hermes2", top_k=0)).run(prompt="hi"),
    )
    yield "gen run", lambda: warmed(GradientGenerator(base_model_slug="nous-hermes2")).run(prompt="hi")
    yield (
        "gen run 3 tokens",
        lambda: warmed(GradientGenerator(base_model_slug="nous-hermes2", max_generated_token_count=3)).run(
            prompt="a b c d e"
        ),
    )
    yield "gen run ''", lambda: warmed(GradientGenerator(base_model_slug="nous-hermes2")).run(prompt="")
    yield "gen run ' '", lambda: warmed(GradientGenerator(base_model_slug="nous-hermes2")).run(prompt=" ")
    yield "gen run 1", lambda: warmed(GradientGenerator(base_model_slug="nous-hermes2")).run(prompt=1)
    yield "gen run not warmed", lambda: GradientGenerator(base_model_slug="nous-hermes2").run(prompt="hi")

    def connect_llm() -> Any:
        p = Pipeline()
        p.add_component("llm", GradientGenerator(base_model_slug="nous-hermes2"))
        p.add_component("answer_builder", AnswerBuilder())
        p.connect("llm", "answer_builder")
        return p.to_dict()["connections"]

    def connect_docs() -> Any:
        p = Pipeline()
        p.add_component("document_embedder", GradientDocumentEmbedder())
        p.add_component("counter", DocumentCounter())
        p.connect("document_embedder", "counter")
        return p.to_dict()["connections"]

    yield "connect llm -> answer_builder", connect_llm
    yield "connect document_embedder -> custom", connect_docs
    yield "to_dict token secret", lambda: GradientTextEmbedder(access_token=Secret.from_token("t")).to_dict()
    yield "to_dict default", lambda: GradientTextEmbedder().to_dict()["init_parameters"]

    def env(**values: str | None) -> Callable[[Callable[[], Any]], Callable[[], Any]]:
        def wrap(fn: Callable[[], Any]) -> Callable[[], Any]:
            def run() -> Any:
                saved = {k: os.environ.get(k) for k in values}
                for k, v in values.items():
                    if v is None:
                        os.environ.pop(k, None)
                    else:
                        os.environ[k] = v
                try:
                    return fn()
                finally:
                    for k, v in saved.items():
                        if v is None:
                            os.environ.pop(k, None)
                        else:
                            os.environ[k] = v

            return run

        return wrap

    yield "init without GRADIENT_ACCESS_TOKEN", env(GRADIENT_ACCESS_TOKEN=None)(lambda: GradientTextEmbedder())
    yield "init without GRADIENT_WORKSPACE_ID", env(GRADIENT_WORKSPACE_ID=None)(lambda: GradientDocumentEmbedder())
    yield (
        "init non-strict secret, env fallback",
        lambda: (
            type(GradientTextEmbedder(access_token=Secret.from_env_var("SIDE_BY_SIDE_UNSET", strict=False))).__name__
        ),
    )
    yield "init empty token: init", env(GRADIENT_ACCESS_TOKEN="")(lambda: type(GradientTextEmbedder()).__name__)
    yield (
        "init empty token: warm_up+run",
        env(GRADIENT_ACCESS_TOKEN="")(lambda: warmed(GradientTextEmbedder()).run(text="x")),
    )


def main() -> None:
    warnings.simplefilter("ignore")
    with run_emulator(access_tokens=[TOKEN], workspace_ids=[WORKSPACE]) as emu:
        os.environ.update(GRADIENT_ACCESS_TOKEN=TOKEN, GRADIENT_WORKSPACE_ID=WORKSPACE, GRADIENT_API_URL=emu.api_url)
        for name, fn in scenarios(emu):
            with contextlib.redirect_stderr(io.StringIO()):  # progress bars
                try:
                    outcome = f"ok {fn()!r}"
                except BaseException as exc:
                    outcome = _kind(exc)
            print(f"{name}: {outcome}"[:200], flush=True)


if __name__ == "__main__":
    main()
