"""Hostile and careless input, across the command line, configuration, components, plugins and
the embedding cache (issue 15).

Every case asserts two things: the exit code (for Python-level cases, the code the ``hayswitch``
command would exit with for that error, through the same :func:`hayswitch.cli._common.friendly_errors`
the commands use) and that the message says what to do (each case names the words of its advice).
No case may end in a traceback or a raw Python exception.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import io
import os
import sqlite3
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

import hayswitch
from hayswitch.cli import build_app
from hayswitch.cli._common import EXIT_CONFIG, EXIT_INPUT, EXIT_OK, friendly_errors

USAGE = 2  # click's usage errors share the configuration code

# --------------------------------------------------------------------------- harness


@dataclass
class Outcome:
    code: int
    message: str


@dataclass
class Ctx:
    """What a case may use: a scratch folder and an environment to change."""

    tmp: Path
    monkeypatch: pytest.MonkeyPatch

    def file(self, name: str, content: str | bytes = "") -> Path:
        path = self.tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    def env(self, **values: str) -> None:
        for key, value in values.items():
            self.monkeypatch.setenv(key, value)

    def plugin(self, ep_name: str, source: str, dist: str = "hostile-plugin") -> None:
        module = f"hostile_{self.tmp.name.replace('-', '_').lower()}_{ep_name.replace('-', '_')}"
        self.file(f"{module}.py", textwrap.dedent(source))
        self.monkeypatch.syspath_prepend(str(self.tmp))
        entries = [
            _EP("fake", "hayswitch.providers.fake", _Dist("hayswitch")),
            _EP(ep_name, module, _Dist(dist)),
        ]
        self.monkeypatch.setattr(importlib.metadata, "entry_points", lambda **kw: list(entries))


@dataclass
class _Dist:
    name: str
    version: str = "1.0"


@dataclass
class _EP:
    name: str
    value: str
    dist: _Dist
    group: str = "hayswitch"

    def load(self) -> Any:
        return importlib.import_module(self.value)


def cli(*argv: str) -> Callable[[Ctx], Outcome]:
    """A case that runs ``hayswitch *argv`` (paths may use ``{tmp}``)."""

    def run(ctx: Ctx) -> Outcome:
        args = [a.replace("{tmp}", str(ctx.tmp)) for a in argv]
        result = CliRunner().invoke(build_app(), args)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise AssertionError(f"raw exception from the CLI: {result.exception!r}") from result.exception
        return Outcome(result.exit_code, result.stderr + result.stdout)

    return run


def py(fn: Callable[[Ctx], Any]) -> Callable[[Ctx], Outcome]:
    """A case that runs Python code; the outcome is what the CLI would make of its error."""

    def run(ctx: Ctx) -> Outcome:
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            try:
                with friendly_errors():
                    fn(ctx)
            except typer.Exit as exc:
                return Outcome(exc.exit_code, err.getvalue())
        return Outcome(EXIT_OK, err.getvalue())

    return run


@dataclass
class Case:
    id: str
    setup: Callable[[Ctx], object] | None
    run: Callable[[Ctx], Outcome]
    code: int
    advice: tuple[str, ...]


CASES: list[Case] = []


def case(
    id: str, run: Callable[[Ctx], Outcome], code: int, *advice: str, setup: Callable[[Ctx], object] | None = None
) -> None:
    CASES.append(Case(id, setup, run, code, advice))


# --------------------------------------------------------------------------- the command line

DOC = "# Title\n\nSome text about hayswitch providers.\n"


def _doc(ctx: Ctx) -> Path:
    return ctx.file("docs/a.md", DOC)


case("cli-index-missing-path", cli("index", "{tmp}/nowhere"), EXIT_INPUT, "does not exist", "Pass existing files")
case(
    "cli-index-no-text-files",
    cli("index", "{tmp}/bin", "-p", "fake", "-q"),
    EXIT_INPUT,
    ".md",
    setup=lambda c: c.file("bin/x.png", b"\x89PNG\r\n\x1a\n\x00\x00"),
)
case(
    "cli-index-unknown-provider",
    cli("index", "{tmp}/docs", "-p", "nosuchprovider", "-q"),
    EXIT_CONFIG,
    "Install",
    "hayswitch providers",
    setup=_doc,
)
case(
    "cli-index-misspelt-provider",
    cli("index", "{tmp}/docs", "-p", "fkae", "-q"),
    EXIT_CONFIG,
    "Did you mean 'fake'",
    setup=_doc,
)
case(
    "cli-index-provider-and-profile",
    cli("index", "{tmp}/docs", "-p", "fake", "--profile", "x"),
    EXIT_INPUT,
    "either --provider or --profile",
    setup=_doc,
)
case(
    "cli-index-batch-size-zero",
    cli("index", "{tmp}/docs", "--batch-size", "0"),
    USAGE,
    "--batch-size",
    "--help",
    setup=_doc,
)
case(
    "cli-index-corrupt-store",
    cli("index", "{tmp}/docs", "-p", "fake", "-q", "--store", "{tmp}/idx"),
    EXIT_INPUT,
    "--rebuild",
    setup=lambda c: [_doc(c), c.file("idx/chroma.sqlite3", "{not a database")],
)
case(
    "cli-index-store-under-a-file",
    cli("index", "{tmp}/docs", "-p", "fake", "-q", "--store", "{tmp}/blocker/store.json"),
    EXIT_INPUT,
    "Choose another --store",
    setup=lambda c: [_doc(c), c.file("blocker", "x")],
)
case(
    "cli-index-store-is-a-folder",
    cli("index", "{tmp}/docs", "-p", "fake", "-q", "--store", "{tmp}/docs"),
    EXIT_INPUT,
    "Choose a new or empty folder",
    setup=_doc,
)
case("cli-ask-empty-question", cli("ask", "   "), EXIT_INPUT, "Example: hayswitch ask")
case("cli-ask-no-index", cli("ask", "what?", "-p", "fake", "--store", "{tmp}/none.json"), EXIT_INPUT, "Build one first")
case("cli-ask-stream-and-json", cli("ask", "what?", "--stream", "--json"), EXIT_INPUT, "cannot be combined")
case("cli-ask-top-k-zero", cli("ask", "what?", "--top-k", "0"), USAGE, "--top-k", "--help")
case("cli-ask-provider-and-profile", cli("ask", "what?", "-p", "fake", "--profile", "p"), EXIT_INPUT, "either")
case("cli-unknown-command", cli("indx"), USAGE, "No such command", "--help")
case("cli-unknown-option", cli("index", "--frobnicate"), USAGE, "No such option", "--help")
case("cli-cache-stats-missing", cli("cache", "stats", "--path", "{tmp}/none.sqlite"), EXIT_INPUT, "hayswitch index")
case(
    "cli-cache-clear-missing",
    cli("cache", "clear", "--path", "{tmp}/none.sqlite", "--yes"),
    EXIT_OK,
    "nothing to clear",
)
case(
    "cli-check-unknown-provider",
    cli("check", "nosuchprovider"),
    EXIT_CONFIG,
    "hayswitch providers",
)

# --------------------------------------------------------------------------- configuration


def _index_with_env(**env: str) -> tuple[Callable[[Ctx], Outcome], Callable[[Ctx], None]]:
    def setup(ctx: Ctx) -> None:
        _doc(ctx)
        ctx.env(**env)

    return cli("index", "{tmp}/docs", "-q", "--no-cache", "--store", "{tmp}/idx/store.json"), setup


def env_case(id: str, env: dict[str, str], code: int, *advice: str) -> None:
    run, setup = _index_with_env(**env)
    case(id, run, code, *advice, setup=setup)


env_case("env-provider-unknown", {"HAYSWITCH_PROVIDER": "nosuch"}, EXIT_CONFIG, "Install", "hayswitch providers")
env_case("env-provider-upper-case-typo", {"HAYSWITCH_PROVIDER": "FAKEE"}, EXIT_CONFIG, "Did you mean 'fake'")
env_case("env-profile-unknown", {"HAYSWITCH_PROFILE": "nope"}, EXIT_CONFIG, "Known profiles")
env_case(
    "env-config-missing-file", {"HAYSWITCH_CONFIG": "/nonexistent/hayswitch.toml"}, EXIT_CONFIG, "HAYSWITCH_CONFIG"
)
env_case(
    "env-bool-as-number",
    {"HAYSWITCH_PROVIDER": "fake", "HAYSWITCH_FAKE__DIMENSION": "true"},
    EXIT_CONFIG,
    "HAYSWITCH_FAKE__DIMENSION",
    "number",
)
env_case(
    "env-negative-dimension",
    {"HAYSWITCH_PROVIDER": "fake", "HAYSWITCH_FAKE__DIMENSION": "-3"},
    EXIT_CONFIG,
    "HAYSWITCH_FAKE__DIMENSION",
    "greater than 0",
)
env_case(
    "env-word-as-number",
    {"HAYSWITCH_PROVIDER": "fake", "HAYSWITCH_FAKE__DIMENSION": "sixty-four"},
    EXIT_CONFIG,
    "HAYSWITCH_FAKE__DIMENSION",
    "integer",
)
env_case(
    "env-infinity",
    {"HAYSWITCH_PROVIDER": "fake", "HAYSWITCH_FAKE__TIMEOUT": "Infinity"},
    EXIT_CONFIG,
    "HAYSWITCH_FAKE__TIMEOUT",
    "finite number",
)
env_case(
    "env-nan",
    {"HAYSWITCH_PROVIDER": "fake", "HAYSWITCH_FAKE__LATENCY": "NaN"},
    EXIT_CONFIG,
    "HAYSWITCH_FAKE__LATENCY",
    "finite number",
)
env_case(
    "env-overflowing-float",
    {"HAYSWITCH_PROVIDER": "fake", "HAYSWITCH_FAKE__LATENCY": "1e999"},
    EXIT_CONFIG,
    "finite number",
)
env_case(
    "env-unknown-setting",
    {"HAYSWITCH_PROVIDER": "fake", "HAYSWITCH_FAKE__DIMENSOIN": "8"},
    EXIT_CONFIG,
    "unknown setting",
    "valid settings",
)
env_case(
    "env-plain-string-secret",
    {"HAYSWITCH_PROVIDER": "fake", "HAYSWITCH_FAKE__API_KEY": "sk-plain-123456"},
    EXIT_CONFIG,
    "env:VARIABLE_NAME",
)
env_case(
    "env-secret-variable-not-set",
    {"HAYSWITCH_PROVIDER": "fake", "HAYSWITCH_FAKE__API_KEY": "env:HS_HOSTILE_UNSET_VAR"},
    EXIT_CONFIG,
    "export HS_HOSTILE_UNSET_VAR",
)
env_case(
    "env-list-given-as-a-word",
    {"HAYSWITCH_PROVIDER": "fake", "HAYSWITCH_FAKE__FAIL_ON": "oops"},
    EXIT_CONFIG,
    "HAYSWITCH_FAKE__FAIL_ON",
    "list",
)
env_case(
    "env-literal-out-of-range",
    {"HAYSWITCH_PROVIDER": "fake", "HAYSWITCH_FAKE__FAIL_WITH": "meteor"},
    EXIT_CONFIG,
    "HAYSWITCH_FAKE__FAIL_WITH",
    "rate_limit",
)
env_case("env-plugins-empty", {"HAYSWITCH_PROVIDER": "fake", "HAYSWITCH_PLUGINS": ""}, EXIT_CONFIG, "HAYSWITCH_PLUGINS")
env_case(
    "env-plugins-unknown-name",
    {"HAYSWITCH_PROVIDER": "fake", "HAYSWITCH_PLUGINS": "nosuch"},
    EXIT_CONFIG,
    "HAYSWITCH_PLUGINS",
    "unset",
)
env_case(
    "env-openai-ftp-url",
    {"HAYSWITCH_PROVIDER": "openai", "HAYSWITCH_OPENAI__BASE_URL": "ftp://example.invalid/v1"},
    EXIT_CONFIG,
    "http(s) URL",
)
env_case(
    "env-openai-credentials-in-url",
    {"HAYSWITCH_PROVIDER": "openai", "HAYSWITCH_OPENAI__BASE_URL": "http://u:pw@127.0.0.1:9/v1"},
    EXIT_CONFIG,
    "api_key",
)
env_case(
    "env-openai-plain-credential-header",
    {
        "HAYSWITCH_PROVIDER": "openai",
        "HAYSWITCH_OPENAI__BASE_URL": "http://127.0.0.1:9/v1",
        "HAYSWITCH_OPENAI__EXTRA_HEADERS": '{"api-key": "plain-secret-value"}',
    },
    EXIT_CONFIG,
    "env:VARIABLE_NAME",
)
env_case(
    "env-openai-bad-header-name",
    {
        "HAYSWITCH_PROVIDER": "openai",
        "HAYSWITCH_OPENAI__BASE_URL": "http://127.0.0.1:9/v1",
        "HAYSWITCH_OPENAI__EXTRA_HEADERS": '{"bad header": "x"}',
    },
    EXIT_CONFIG,
    "invalid header name",
)
env_case(
    "env-openai-timeout-zero",
    {"HAYSWITCH_PROVIDER": "openai", "HAYSWITCH_OPENAI__TIMEOUT": "0"},
    EXIT_CONFIG,
    "HAYSWITCH_OPENAI__TIMEOUT",
    "greater than 0",
)


def toml_case(id: str, toml: str, code: int, *advice: str) -> None:
    def setup(ctx: Ctx) -> None:
        _doc(ctx)
        ctx.env(HAYSWITCH_CONFIG=str(ctx.file("hayswitch.toml", textwrap.dedent(toml))))

    case(
        id,
        cli("index", "{tmp}/docs", "-q", "--no-cache", "--store", "{tmp}/idx/store.json"),
        code,
        *advice,
        setup=setup,
    )


toml_case("toml-not-toml", "this is = = not toml", EXIT_CONFIG, "not valid TOML")
toml_case("toml-unknown-key", "colour = 'blue'\n", EXIT_CONFIG, "unknown setting")
toml_case("toml-profile-without-provider", "[profiles.dev]\nsettings = {}\n", EXIT_CONFIG, "profiles.dev.provider")
toml_case("toml-default-profile-missing", "default_profile = 'ghost'\n", EXIT_CONFIG, "Known profiles")
toml_case(
    "toml-plain-string-secret",
    "default_profile = 'p'\n[providers.fake]\napi_key = 'sk-in-the-file-0000'\n[profiles.p]\nprovider = 'fake'\n",
    EXIT_CONFIG,
    "env:VARIABLE_NAME",
)
toml_case(
    "toml-nan-float",
    "default_profile = 'p'\n[profiles.p]\nprovider = 'fake'\nsettings = { latency = nan }\n",
    EXIT_CONFIG,
    "finite number",
)

# --------------------------------------------------------------------------- components


def _doc_embedder(**kwargs: Any) -> Any:
    from haystack_integrations.components.embedders.hayswitch import ProviderDocumentEmbedder

    return ProviderDocumentEmbedder(**{"provider": "fake", "progress_bar": False, **kwargs})


def _chat(**kwargs: Any) -> Any:
    from haystack_integrations.components.generators.hayswitch import ProviderChatGenerator

    return ProviderChatGenerator(**{"provider": "fake", **kwargs})


def _text_embedder(**kwargs: Any) -> Any:
    from haystack_integrations.components.embedders.hayswitch import ProviderTextEmbedder

    return ProviderTextEmbedder(**{"provider": "fake", **kwargs})


case("component-batch-size-zero", py(lambda c: _doc_embedder(batch_size=0)), EXIT_INPUT, "positive integer")
case("component-batch-size-bool", py(lambda c: _doc_embedder(batch_size=True)), EXIT_INPUT, "positive integer")
case("component-concurrency-negative", py(lambda c: _doc_embedder(max_concurrency=-1)), EXIT_INPUT, "None")
case(
    "component-meta-fields-string",
    py(lambda c: _doc_embedder(meta_fields_to_embed="title")),
    EXIT_INPUT,
    "list of field names",
)
case("component-prefix-not-string", py(lambda c: _doc_embedder(prefix=3)), EXIT_INPUT, "must be a string")
case("component-cache-number", py(lambda c: _doc_embedder(cache=123)), EXIT_CONFIG, "file path")
case("component-fallbacks-string", py(lambda c: _doc_embedder(fallbacks="other")), EXIT_CONFIG, "list of")
case(
    "component-settings-not-mapping",
    py(lambda c: _doc_embedder(settings="dim=3")),
    EXIT_CONFIG,
    "dict of provider settings",
)
case("component-empty-model", py(lambda c: _doc_embedder(model="")), EXIT_CONFIG, "non-empty string")
case("component-unknown-provider", py(lambda c: _doc_embedder(provider="nosuch")), EXIT_CONFIG, "hayswitch providers")
case("component-unknown-setting", py(lambda c: _doc_embedder(settings={"dimensoin": 8})), EXIT_CONFIG, "valid settings")
case("component-run-with-a-string", py(lambda c: _doc_embedder().run("text")), EXIT_INPUT, "ProviderTextEmbedder")
case(
    "component-run-with-non-documents",
    py(lambda c: _doc_embedder().run(["text"])),
    EXIT_INPUT,
    "Document(content=...)",
)
case("component-text-embedder-list", py(lambda c: _text_embedder().run(["a"])), EXIT_INPUT, "embed")
case("component-text-embedder-empty", py(lambda c: _text_embedder().run("   ")), EXIT_INPUT, "empty")
case(
    "component-retry-invalid",
    py(lambda c: _doc_embedder(retry={"max_attempts": 0})),
    EXIT_CONFIG,
    "max_attempts",
)
case("component-retry-wrong-type", py(lambda c: _doc_embedder(retry="often")), EXIT_CONFIG, "RetryPolicy")


def _chat_run(**generation_kwargs: Any) -> Callable[[Ctx], Any]:
    def run(ctx: Ctx) -> Any:
        from haystack.dataclasses import ChatMessage

        return _chat().run([ChatMessage.from_user("hi")], generation_kwargs=generation_kwargs)

    return run


case("component-generation-temperature-out-of-range", py(_chat_run(temperature=9)), EXIT_INPUT, "Allowed options")
case("component-generation-unknown-option", py(_chat_run(temprature=0.2)), EXIT_INPUT, "Allowed options")
case("component-generation-bool-max-tokens", py(_chat_run(max_tokens="many")), EXIT_INPUT, "max_tokens")


def _blank_prompt(ctx: Ctx) -> Any:
    from haystack.dataclasses import ChatMessage

    return _chat().run([ChatMessage.from_user("   ")])


case("component-chat-blank-messages", py(_blank_prompt), EXIT_INPUT, "empty")


def _token_to_dict(ctx: Ctx) -> Any:
    from hayswitch import Secret

    return _doc_embedder(settings={"api_key": Secret.from_token("tok-123456")}).to_dict()


case("component-token-secret-to-dict", py(_token_to_dict), EXIT_CONFIG, "env:")


def _generator_without_generation(ctx: Ctx) -> Any:
    ctx.plugin(
        "embed-only",
        """
        from typing import ClassVar
        from hayswitch import Capabilities, EmbeddingResult, Provider, hookimpl

        class EmbedOnly(Provider):
            name: ClassVar[str] = "embed-only"
            capabilities: ClassVar[Capabilities] = Capabilities(embeddings=True)

            def _embed(self, texts, *, input_type):
                return EmbeddingResult(vectors=[[1.0] for _ in texts], model="m")

        @hookimpl
        def register_providers(register):
            register(EmbedOnly)
        """,
    )
    return _chat(provider="embed-only")


case("component-provider-lacks-capability", py(_generator_without_generation), EXIT_CONFIG, "hayswitch providers")

# --------------------------------------------------------------------------- plugins


def _plugin_case(id: str, source: str, *advice: str, name: str = "hostile") -> None:
    def run(ctx: Ctx) -> Any:
        import warnings

        from hayswitch.registry import PluginWarning

        ctx.plugin(name, source, dist="hostile-dist")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PluginWarning)
            return hayswitch.get_provider(name)

    case(id, py(run), EXIT_CONFIG, "hostile-dist", *advice)


_plugin_case("plugin-import-error", "import no_such_module_hostile\n", "No module named")
_plugin_case("plugin-sys-exit-at-import", "import sys\nsys.exit(4)\n", "sys.exit(4)")
_plugin_case("plugin-keyboard-interrupt-at-import", "raise KeyboardInterrupt\n", "KeyboardInterrupt")
_plugin_case(
    "plugin-registers-a-non-provider",
    """
    from hayswitch import hookimpl

    @hookimpl
    def register_providers(register):
        register(object)
    """,
    "Provider subclass",
)
_plugin_case("plugin-without-hooks", "VALUE = 1\n", "hookimpl")
_plugin_case(
    "plugin-misspelt-hook",
    """
    from hayswitch import hookimpl

    @hookimpl
    def register_provider(register):
        pass
    """,
    "check the function name",
)
_plugin_case(
    "plugin-bad-provider-name",
    """
    from typing import ClassVar
    from hayswitch import Provider, hookimpl

    class Bad(Provider):
        name: ClassVar[str] = "Bad Name"

    @hookimpl
    def register_providers(register):
        register(Bad)
    """,
    "lowercase identifier",
)
_plugin_case(
    "plugin-hook-exits",
    """
    import sys
    from hayswitch import hookimpl

    @hookimpl
    def register_providers(register):
        sys.exit("no")
    """,
    "raise an exception instead of exiting",
)


def _impostor(ctx: Ctx) -> Any:
    import warnings

    ctx.plugin(
        "aaa",
        """
        from typing import ClassVar
        from hayswitch import Capabilities, Provider, hookimpl

        class Impostor(Provider):
            name: ClassVar[str] = "fake"
            capabilities: ClassVar[Capabilities] = Capabilities(embeddings=True)

        @hookimpl
        def register_providers(register):
            register(Impostor)
        """,
        dist="impostor-dist",
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        provider = hayswitch.get_provider("fake")
    from hayswitch.providers.fake import FakeProvider

    assert type(provider) is FakeProvider
    for warning in caught:
        print(f"warning: {warning.message}", file=__import__("sys").stderr)


case("plugin-impostor-of-a-core-name", py(_impostor), EXIT_OK, "impostor-dist", "another name")


def _strict_broken(ctx: Ctx) -> Any:
    ctx.env(HAYSWITCH_STRICT_PLUGINS="1")
    ctx.plugin("broken", "raise RuntimeError('kaputt')\n", dist="broken-dist")
    return hayswitch.get_provider("fake")


case("plugin-strict-mode-broken", py(_strict_broken), EXIT_CONFIG, "broken-dist", "kaputt")
case(
    "plugin-cli-providers-with-exiting-plugin",
    cli("providers"),
    EXIT_OK,
    "sys.exit",
    setup=lambda c: c.plugin("rogue", "import sys\nsys.exit(9)\n", dist="rogue-dist"),
)

# --------------------------------------------------------------------------- cache


def _foreign(ctx: Ctx) -> None:
    conn = sqlite3.connect(ctx.tmp / "app.sqlite")
    conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
    conn.commit()
    conn.close()


def _cache_at(name: str) -> Callable[[Ctx], Any]:
    def run(ctx: Ctx) -> Any:
        from hayswitch.cache import EmbeddingCache

        EmbeddingCache(ctx.tmp / name).close()

    return run


case(
    "cache-cli-stats-foreign",
    cli("cache", "stats", "--path", "{tmp}/app.sqlite"),
    EXIT_CONFIG,
    "another path",
    setup=_foreign,
)
case(
    "cache-cli-clear-foreign",
    cli("cache", "clear", "--yes", "--path", "{tmp}/app.sqlite"),
    EXIT_CONFIG,
    "untouched",
    setup=_foreign,
)
case(
    "cache-cli-stats-garbage",
    cli("cache", "stats", "--path", "{tmp}/junk.sqlite"),
    EXIT_CONFIG,
    "another path",
    setup=lambda c: c.file("junk.sqlite", os.urandom(4096)),
)
case(
    "cache-cli-clear-empty-file",
    cli("cache", "clear", "--yes", "--path", "{tmp}/empty.sqlite"),
    EXIT_CONFIG,
    "Delete it",
    setup=lambda c: c.file("empty.sqlite", b""),
)
case("cache-python-foreign", py(_cache_at("app.sqlite")), EXIT_CONFIG, "--no-cache", setup=_foreign)
case(
    "cache-python-empty-file",
    py(_cache_at("empty.sqlite")),
    EXIT_CONFIG,
    "cache=None",
    setup=lambda c: c.file("empty.sqlite", b""),
)
case(
    "cache-python-directory", py(_cache_at("adir")), EXIT_CONFIG, "file path", setup=lambda c: (c.tmp / "adir").mkdir()
)
case(
    "cache-python-parent-is-a-file",
    py(_cache_at("blocker/cache.sqlite")),
    EXIT_CONFIG,
    "is a file, not a folder",
    "--no-cache",
    setup=lambda c: c.file("blocker", "x"),
)


def _dimension_mismatch(ctx: Ctx) -> Any:
    from hayswitch.cache import CacheNamespace, EmbeddingCache

    ns = CacheNamespace("fake", "m", "document")
    with EmbeddingCache(ctx.tmp / "c.sqlite") as cache:
        cache.put_many(ns, ["a"], [[1.0, 2.0]])
        cache.put_many(ns, ["b"], [[1.0, 2.0, 3.0]])


case("cache-dimension-mismatch", py(_dimension_mismatch), EXIT_CONFIG, "hayswitch cache clear")


def _schema_mismatch(ctx: Ctx) -> Any:
    from hayswitch.cache import EmbeddingCache

    path = ctx.tmp / "c.sqlite"
    EmbeddingCache(path).close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE cache_info SET value = '999' WHERE key = 'schema'")
    conn.commit()
    conn.close()
    EmbeddingCache(path).close()


case("cache-schema-mismatch", py(_schema_mismatch), EXIT_CONFIG, "Delete the file")
case(
    "cache-bad-dtype",
    py(lambda c: __import__("hayswitch.cache").cache.EmbeddingCache(c.tmp / "c", dtype="int8")),
    EXIT_CONFIG,
    "float32",
)
case("cache-empty-path-option", py(lambda c: _doc_embedder(cache="  ")), EXIT_CONFIG, "file path")

# --------------------------------------------------------------------------- the test


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 60
    assert len({c.id for c in CASES}) == len(CASES)
    areas = {c.id.split("-")[0] for c in CASES}
    assert {"cli", "env", "toml", "component", "plugin", "cache"} <= areas


@pytest.mark.parametrize("hostile", CASES, ids=[c.id for c in CASES])
def test_hostile_input(hostile: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = Ctx(tmp_path, monkeypatch)
    if hostile.setup is not None:
        hostile.setup(ctx)
    outcome = hostile.run(ctx)
    if os.environ.get("HS_DUMP_HOSTILE"):
        print(f"\n[{hostile.id}] {outcome.code}: {outcome.message.strip()}")
    assert outcome.code == hostile.code, f"exit code {outcome.code}, expected {hostile.code}: {outcome.message}"
    assert "Traceback" not in outcome.message
    for words in hostile.advice:
        assert words in outcome.message, f"{words!r} missing from: {outcome.message}"
