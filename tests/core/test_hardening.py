"""Hardening of core (issue 15): Ctrl-C cancellation (item 5), one-line CLI errors with exit codes
(item 7), plugin isolation (items 8 and 9), the cache command on foreign and read-only files
(items 10 and 11), environment parsing (item 12), and the suite-wide network guard."""

from __future__ import annotations

import importlib
import importlib.metadata
import signal
import socket
import sqlite3
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest
from typer.testing import CliRunner

import hayswitch
from hayswitch import (
    Capabilities,
    EmbeddingResult,
    PluginLoadError,
    Provider,
    ProviderNotFoundError,
    SettingsError,
    get_provider,
    get_provider_class,
    list_providers,
)
from hayswitch.cache import CacheError, CacheNamespace, EmbeddingCache
from hayswitch.cli import build_app
from hayswitch.cli._common import EXIT_CONFIG, EXIT_INPUT
from hayswitch.providers.fake import FakeProvider
from hayswitch.registry import PluginWarning

EXIT_UNEXPECTED = 5  # documented: docs/reliability.md, 'hayswitch --help'
APPLICATION_ID = 0x48535743  # 'HSWC', PRAGMA application_id of a hayswitch cache

# --------------------------------------------------------------------------- plugin fixtures


@dataclass
class _Dist:
    name: str
    version: str = "1.0"


@dataclass
class _EP:
    name: str
    value: str
    dist: _Dist | None
    group: str = "hayswitch"

    def load(self) -> Any:
        return importlib.import_module(self.value)


PROVIDER_SOURCE = """
from typing import ClassVar

from hayswitch import Capabilities, EmbeddingResult, Provider, hookimpl


class Impostor(Provider):
    name: ClassVar[str] = {name!r}
    capabilities: ClassVar[Capabilities] = Capabilities(embeddings=True)

    def _embed(self, texts, *, input_type):
        return EmbeddingResult(vectors=[[9.0] for _ in texts], model="impostor")


@hookimpl
def register_providers(register):
    {before}
    register(Impostor)
"""


class Plugins:
    def __init__(self, root: Path, entries: list[_EP]) -> None:
        self.root = root
        self.entries = entries
        self.prefix = "hshard_" + root.name.replace("-", "_").lower()

    def add(self, ep_name: str, source: str, dist: str = "evil-plugin") -> None:
        module = f"{self.prefix}_{len(self.entries)}"
        (self.root / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
        self.entries.append(_EP(ep_name, module, _Dist(dist)))

    def provider(self, ep_name: str, provider_name: str, dist: str = "evil-plugin", before: str = "pass") -> None:
        self.add(ep_name, PROVIDER_SOURCE.format(name=provider_name, before=before), dist)

    def core(self) -> None:
        self.entries.append(_EP("fake", "hayswitch.providers.fake", _Dist("hayswitch", "0.1.0")))


@pytest.fixture
def plugins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Plugins:
    monkeypatch.syspath_prepend(str(tmp_path))
    entries: list[_EP] = []
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda **kw: list(entries))
    return Plugins(tmp_path, entries)


@pytest.fixture
def default_sigint() -> Iterator[None]:
    """A real Ctrl-C raises KeyboardInterrupt in the main thread (whatever the test runner set)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


# --------------------------------------------------------------------------- 5. Ctrl-C


class _Interrupting:
    """State of the provider below: interrupts the main thread at the 2nd request and counts
    the requests that start after that."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.started = 0
        self.after_interrupt = 0
        self.interrupted = False
        self.release = threading.Event()
        self.asynchronous = False


STATE = _Interrupting()


def _until_main_thread_waits_for_batches() -> None:
    """Block until the main thread sits in ``concurrent.futures.wait`` (every batch submitted)."""
    main = threading.main_thread().ident
    for _ in range(1000):
        frame = sys._current_frames().get(main or 0)
        while frame is not None:
            if frame.f_code.co_name == "wait" and "concurrent" in frame.f_code.co_filename:
                return
            frame = frame.f_back
        time.sleep(0.005)


class InterruptingProvider(Provider):
    name: ClassVar[str] = "interrupting"
    capabilities: ClassVar[Capabilities] = Capabilities(embeddings=True, max_batch_size=1, max_concurrency=3)

    def _embed(self, texts: list[str], *, input_type: Any) -> EmbeddingResult:
        with STATE.lock:
            STATE.started += 1
            if STATE.interrupted:
                STATE.after_interrupt += 1
                interrupt = False
            else:
                interrupt = STATE.started == 2
                STATE.interrupted = interrupt
        if interrupt:
            # The user presses Ctrl-C while the main thread waits for the batches (all queued;
            # run_async creates every task before any runs).
            if not STATE.asynchronous:
                _until_main_thread_waits_for_batches()
            signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)
        if STATE.interrupted:
            # Stay in flight until the test has seen the interrupt (bounded, so that a broken
            # implementation that waits for every queued batch still finishes).
            STATE.release.wait(3)
        return EmbeddingResult(vectors=[[1.0, 0.0] for _ in texts], model="m")


def test_ctrl_c_cancels_queued_batches(default_sigint: None) -> None:
    from haystack import Document

    from haystack_integrations.components.embedders.hayswitch import ProviderDocumentEmbedder

    global STATE
    STATE = _Interrupting()
    hayswitch.get_registry().register(InterruptingProvider)
    embedder = ProviderDocumentEmbedder(provider="interrupting", batch_size=1, max_concurrency=3, progress_bar=False)
    documents = [Document(content=f"passage {i}") for i in range(12)]
    with pytest.raises(KeyboardInterrupt):
        embedder.run(documents)
    STATE.release.set()
    for thread in threading.enumerate():
        if thread.name.startswith("hayswitch-embed"):
            thread.join()
    # At the interrupt at most 3 batches were in flight; the 2 other workers may each have picked
    # up one more batch before the main thread cancelled the queue, and nothing after that.
    assert STATE.after_interrupt <= 2, f"{STATE.after_interrupt} batches were sent after Ctrl-C"
    assert STATE.started <= 4
    embedder.close()


def test_ctrl_c_cancels_queued_batches_in_run_async(default_sigint: None) -> None:
    import asyncio

    from haystack import Document

    from haystack_integrations.components.embedders.hayswitch import ProviderDocumentEmbedder

    global STATE
    STATE = _Interrupting()
    STATE.asynchronous = True
    hayswitch.get_registry().register(InterruptingProvider)
    embedder = ProviderDocumentEmbedder(provider="interrupting", batch_size=1, max_concurrency=3, progress_bar=False)
    documents = [Document(content=f"passage {i}") for i in range(12)]
    with pytest.raises(KeyboardInterrupt):
        # (asyncio.run's executor shutdown waits for the in-flight batches' bounded wait)
        asyncio.run(embedder.run_async(documents))
    STATE.release.set()
    assert STATE.after_interrupt <= 2, f"{STATE.after_interrupt} batches were sent after Ctrl-C"
    embedder.close()


# --------------------------------------------------------------------------- 7. CLI one-line errors


class BuggyProvider(Provider):
    name: ClassVar[str] = "buggy"
    capabilities: ClassVar[Capabilities] = Capabilities(embeddings=True)

    def _embed(self, texts: list[str], *, input_type: Any) -> EmbeddingResult:
        raise ValueError("unexpected shape (2, 3) in the response parser")


def _index_with_buggy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> Any:
    hayswitch.get_registry().register(BuggyProvider, plugin="buggy-plugin")
    (tmp_path / "doc.md").write_text("# Title\n\nSome text to index.\n", encoding="utf-8")
    store = tmp_path / "out" / "store.json"
    app = build_app()
    return CliRunner().invoke(
        app, [*args, "index", str(tmp_path / "doc.md"), "--store", str(store), "-p", "buggy", "-q", "--no-cache"]
    )


def test_a_provider_bug_is_one_line_naming_the_provider_with_a_documented_exit_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = _index_with_buggy(tmp_path, monkeypatch)
    assert result.exit_code == EXIT_UNEXPECTED, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr
    assert "'buggy'" in lines[0]
    assert "ValueError" in lines[0]
    assert "unexpected shape" in lines[0]
    assert "--debug" in lines[0]


@pytest.mark.parametrize("how", ["flag", "env"])
def test_debug_shows_the_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    if how == "env":
        monkeypatch.setenv("HAYSWITCH_DEBUG", "1")
    result = _index_with_buggy(tmp_path, monkeypatch, *(["--debug"] if how == "flag" else []))
    assert result.exit_code == EXIT_UNEXPECTED
    assert "Traceback (most recent call last)" in result.stderr
    assert "in _embed" in result.stderr


def test_exit_codes_are_in_the_help() -> None:
    result = CliRunner().invoke(build_app(), ["--help"])
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    for code in ("0 success", "2 configuration", "3 invalid input", "4 provider failed", "5 unexpected", "130"):
        assert code in text, code


# --------------------------------------------------------------------------- 8. plugin BaseExceptions


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import sys\nsys.exit(3)\n", "sys.exit(3)"),
        ("raise SystemExit('bye')\n", "sys.exit('bye')"),
        ("raise KeyboardInterrupt\n", "KeyboardInterrupt itself"),
        ("raise GeneratorExit\n", "GeneratorExit"),
    ],
)
def test_a_plugin_that_exits_at_import_is_isolated(plugins: Plugins, source: str, expected: str) -> None:
    plugins.core()
    plugins.add("rogue", source, dist="rogue-dist")
    with pytest.warns(PluginWarning, match="rogue-dist"):
        rows = {r.name: r for r in list_providers()}
    assert rows["fake"].ok
    assert not rows["rogue"].ok
    assert expected in (rows["rogue"].error or "")
    assert get_provider("fake").embed_text("still works").vector


@pytest.mark.parametrize("before", ["import sys; sys.exit(0)", "raise KeyboardInterrupt()"])
def test_a_plugin_that_exits_in_its_hook_is_isolated(plugins: Plugins, before: str) -> None:
    plugins.core()
    plugins.provider("rogue", "rogue", dist="rogue-dist", before=before)
    with pytest.warns(PluginWarning, match="register_providers"):
        names = hayswitch.get_registry().names()
    assert names == ["fake"]


def test_hayswitch_providers_survives_an_exiting_plugin(plugins: Plugins) -> None:
    plugins.core()
    plugins.add("rogue", "import sys\nsys.exit(1)\n", dist="rogue-dist")
    result = CliRunner().invoke(build_app(), ["providers", "--json"])
    assert result.exit_code == 0, result.output
    assert '"rogue-dist"' in result.stdout


def test_a_plugin_exiting_in_register_commands_does_not_end_the_cli(plugins: Plugins) -> None:
    plugins.core()
    plugins.add(
        "rogue",
        """
        import sys
        from hayswitch import hookimpl

        @hookimpl
        def register_commands(cli):
            sys.exit(2)
        """,
        dist="rogue-dist",
    )
    result = CliRunner().invoke(build_app(), ["providers", "--json"])
    assert result.exit_code == 0, result.output


def test_a_real_ctrl_c_while_plugins_load_is_not_swallowed(plugins: Plugins, default_sigint: None) -> None:
    plugins.core()
    plugins.add("slow", "import signal\nsignal.raise_signal(signal.SIGINT)\n", dist="slow-dist")
    with pytest.raises(KeyboardInterrupt):
        hayswitch.get_registry()


# --------------------------------------------------------------------------- 9. core names


def test_an_entry_point_named_fake_cannot_displace_core(plugins: Plugins) -> None:
    plugins.provider("fake", "fake", dist="evil-plugin")  # listed before core's own entry point
    plugins.core()
    with pytest.warns(PluginWarning) as caught:
        cls = get_provider_class("fake")
    assert cls is FakeProvider
    messages = " ".join(str(w.message) for w in caught)
    assert "evil-plugin" in messages
    assert "distribution 'hayswitch'" not in messages.split("failed to load")[0]  # core is not blamed


def test_a_provider_class_named_fake_cannot_displace_core(plugins: Plugins) -> None:
    plugins.core()
    plugins.provider("aaa-first", "fake", dist="impostor-dist")
    with pytest.warns(PluginWarning, match="impostor-dist") as caught:
        cls = get_provider_class("fake")
    assert cls is FakeProvider
    assert "cannot be replaced" in str(caught[0].message)
    rows = {r.name: r for r in list_providers()}
    assert rows["fake"].ok
    assert rows["fake"].distribution == "hayswitch"


def test_in_process_registration_cannot_displace_core(plugins: Plugins) -> None:
    plugins.core()

    class Impostor(FakeProvider):
        pass

    with pytest.warns(PluginWarning, match="cannot be replaced"):
        hayswitch.get_registry().register(Impostor)
    assert get_provider_class("fake") is FakeProvider


def test_strict_mode_refuses_an_impostor(plugins: Plugins, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HAYSWITCH_STRICT_PLUGINS", "1")
    plugins.core()
    plugins.provider("aaa-first", "fake", dist="impostor-dist")
    with pytest.raises(PluginLoadError, match="impostor-dist"):
        hayswitch.get_registry()


# --------------------------------------------------------------------------- 10. cache CLI


def _foreign_db(path: Path) -> bytes:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, item TEXT)")
    conn.executemany("INSERT INTO orders (item) VALUES (?)", [("apple",), ("pear",)])
    conn.commit()
    conn.close()
    return path.read_bytes()


@pytest.mark.parametrize("command", [["stats"], ["stats", "--json"], ["clear", "--yes"]])
def test_cache_commands_refuse_a_foreign_database_untouched(tmp_path: Path, command: list[str]) -> None:
    path = tmp_path / "app.sqlite"
    before = _foreign_db(path)
    result = CliRunner().invoke(build_app(), ["cache", *command, "--path", str(path)])
    assert result.exit_code == EXIT_CONFIG, result.output
    assert "another application" in result.stderr
    assert "untouched" in result.stderr
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.sqlite"]  # no -wal/-shm: never switched to WAL
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT COUNT(*) FROM orders").fetchone()[0] == 2
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    conn.close()


@pytest.mark.parametrize("command", [["stats"], ["clear", "--yes"]])
def test_cache_commands_refuse_an_empty_file(tmp_path: Path, command: list[str]) -> None:
    path = tmp_path / "cache.sqlite"
    path.touch()
    result = CliRunner().invoke(build_app(), ["cache", *command, "--path", str(path)])
    assert result.exit_code == EXIT_CONFIG, result.output
    assert "empty file" in result.stderr
    assert path.stat().st_size == 0


def test_cache_stats_is_read_only(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    with EmbeddingCache(path) as cache:
        cache.put_many(CacheNamespace("fake", "m", "document"), ["a", "b"], [[1.0, 2.0], [3.0, 4.0]])
    before = path.read_bytes()
    opened: list[str] = []
    real_connect = sqlite3.connect

    def spy(database: Any, *args: Any, **kwargs: Any) -> Any:
        opened.append(str(database))
        return real_connect(database, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sqlite3, "connect", spy)
        result = CliRunner().invoke(build_app(), ["cache", "stats", "--path", str(path)])
    assert result.exit_code == 0, result.output
    assert "2 vector(s) in 1 namespace(s)" in result.stdout
    assert opened
    assert all(name.startswith("file:") and name.endswith("?mode=ro") for name in opened)
    assert path.read_bytes() == before


def test_the_cache_refuses_a_foreign_database_in_python_too(tmp_path: Path) -> None:
    path = tmp_path / "app.sqlite"
    before = _foreign_db(path)
    with pytest.raises(CacheError, match="another application"):
        EmbeddingCache(path)
    assert path.read_bytes() == before


def test_a_new_cache_is_marked_as_hayswitch(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    EmbeddingCache(path).close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    conn.close()


# --------------------------------------------------------------------------- 11. read-only cache, store folder


class CountingProvider(FakeProvider):
    name: ClassVar[str] = "counting-fake"
    calls: ClassVar[int] = 0

    def _embed(self, texts: list[str], *, input_type: Any) -> EmbeddingResult:
        type(self).calls += 1
        return super()._embed(texts, input_type=input_type)


def _read_only_sqlite(monkeypatch: pytest.MonkeyPatch) -> None:
    """Open every cache connection read-only, as for a file the user may not write (the tests run
    as root, where file permissions do not apply)."""
    real_connect = sqlite3.connect

    def connect(database: Any, *args: Any, **kwargs: Any) -> Any:
        text = str(database)
        if not text.startswith("file:"):
            kwargs["uri"] = True
            database = f"file:{Path(text).resolve()}?mode=ro"
        return real_connect(database, *args, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", connect)


def test_a_read_only_cache_fails_before_any_embedding_and_mentions_no_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from haystack import Document

    from haystack_integrations.components.embedders.hayswitch import ProviderDocumentEmbedder

    path = tmp_path / "cache.sqlite"
    EmbeddingCache(path).close()
    hayswitch.get_registry().register(CountingProvider)
    CountingProvider.calls = 0
    _read_only_sqlite(monkeypatch)
    embedder = ProviderDocumentEmbedder(provider="counting-fake", cache=str(path), progress_bar=False)

    def embed() -> None:
        embedder.warm_up()
        embedder.run([Document(content=f"text {i}") for i in range(5)])

    with pytest.raises(CacheError) as excinfo:
        embed()
    assert CountingProvider.calls == 0, "embeddings were computed before the cache failed"
    assert "read-only" in str(excinfo.value)
    assert "--no-cache" in str(excinfo.value)


def test_index_with_a_read_only_cache_fails_before_embedding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# A\n\nSome text.\n", encoding="utf-8")
    store = tmp_path / "idx" / "store.json"
    store.parent.mkdir()
    EmbeddingCache(store.parent / "cache.sqlite").close()
    hayswitch.get_registry().register(CountingProvider)
    CountingProvider.calls = 0
    _read_only_sqlite(monkeypatch)
    result = CliRunner().invoke(
        build_app(), ["index", str(tmp_path / "docs"), "--store", str(store), "-p", "counting-fake", "-q"]
    )
    assert result.exit_code == EXIT_CONFIG, result.output
    assert "--no-cache" in result.stderr
    assert CountingProvider.calls == 0


def test_a_store_folder_problem_is_not_reported_as_a_cache_error(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# A\n\nSome text.\n", encoding="utf-8")
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x", encoding="utf-8")
    result = CliRunner().invoke(
        build_app(), ["index", str(tmp_path / "a.md"), "--store", str(blocker / "store.json"), "-p", "fake", "-q"]
    )
    assert result.exit_code == EXIT_INPUT, result.output
    assert "cache" not in result.stderr.lower()
    assert "index" in result.stderr
    assert "is a file, not a folder" in result.stderr
    assert "--store" in result.stderr


# --------------------------------------------------------------------------- 12. environment parsing


@pytest.mark.parametrize("value", ["true", "false"])
def test_a_boolean_is_not_a_number(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("HAYSWITCH_FAKE__DIMENSION", value)
    with pytest.raises(SettingsError) as excinfo:
        get_provider("fake")
    message = str(excinfo.value)
    assert "dimension" in message
    assert "boolean" in message
    assert "HAYSWITCH_FAKE__DIMENSION" in message


@pytest.mark.parametrize("value", ["Infinity", "-Infinity", "NaN", "inf", "nan"])
def test_infinity_and_nan_are_refused_clearly(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("HAYSWITCH_FAKE__TIMEOUT", value)
    with pytest.raises(SettingsError) as excinfo:
        get_provider("fake")
    message = str(excinfo.value)
    assert "finite number" in message
    assert "HAYSWITCH_FAKE__TIMEOUT" in message
    assert "<= 60" not in message


def test_provider_names_are_case_insensitive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HAYSWITCH_PROVIDER", "FAKE")
    assert get_provider().name == "fake"
    assert get_provider_class("Fake") is FakeProvider


def test_an_unknown_upper_case_name_gets_a_suggestion_and_no_upper_case_package() -> None:
    with pytest.raises(ProviderNotFoundError) as excinfo:
        get_provider_class("FAKEE")
    assert "Did you mean 'fake'" in str(excinfo.value)
    assert "hayswitch-FAKE" not in str(excinfo.value)


def test_an_empty_hayswitch_plugins_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HAYSWITCH_PLUGINS", "")
    with pytest.raises(ProviderNotFoundError) as excinfo:
        get_provider("fake")
    assert "HAYSWITCH_PLUGINS" in str(excinfo.value)
    assert "unset it" in str(excinfo.value)


# --------------------------------------------------------------------------- network guard


def test_the_network_guard_blocks_and_records_other_hosts(network_attempts: list[str]) -> None:
    with pytest.raises(OSError, match="blocked"):
        socket.create_connection(("192.0.2.1", 80), timeout=1)
    with pytest.raises(OSError, match="blocked"):
        socket.getaddrinfo("example.com", 443)
    assert len(network_attempts) == 2
    network_attempts.clear()  # expected here; any other test doing this fails at teardown


def test_the_network_guard_allows_loopback(network_attempts: list[str]) -> None:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    client = socket.create_connection(server.getsockname(), timeout=5)
    client.close()
    server.close()
    assert network_attempts == []
