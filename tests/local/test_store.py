"""The document store behind ``hayswitch index`` / ``ask``: the faults found in the JSON store of
hayswitch 0.1 (each test here failed on it), safe incremental indexing, PDF and HTML ingestion,
and a real ``chroma run`` server.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hayswitch.providers.fake import FakeProvider

from .test_cli import assert_clean_failure, contents, hs, index


@pytest.fixture(autouse=True)
def _fresh_chroma() -> Iterator[None]:
    """Each test opens its stores afresh (as a new process would) and releases them after."""
    from chromadb.api.shared_system_client import SharedSystemClient

    SharedSystemClient.clear_system_cache()
    yield
    SharedSystemClient.clear_system_cache()


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    (root / "guides").mkdir(parents=True)
    (root / "guides" / "providers.md").write_text(
        "# Custom providers\n\nTo create a custom provider, subclass Provider and register its entry point.\n\n"
        "## Testing\n\nRun the contract kit against it.\n"
    )
    (root / "install.txt").write_text("Install hayswitch with make install. It pins the CPU build of torch.\n")
    (root / "long.md").write_text(" ".join(f"Sentence {i} about gardening tools and soil." for i in range(60)))
    return root


def _texts(store: Path) -> set[str]:
    return {d["content"] for d in contents(store)[2]}


def _consistent(store: Path) -> dict[str, Any]:
    """Every file of the manifest has exactly its passages in the store, and nothing else is there."""
    _, files, docs = contents(store)
    by_file: dict[str, list[int]] = {}
    for doc in docs:
        by_file.setdefault(Path(doc["meta"]["file_key"]).name, []).append(doc["meta"]["passage"])
    assert {name: sorted(numbers) for name, numbers in by_file.items()} == {
        name: list(range(1, rec.passages + 1)) for name, rec in files.items() if rec.passages
    }
    return files


# --------------------------------------------------------------------------- fault: lost work


def test_concurrent_index_runs_wait_for_each_other_and_lose_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two runs on one store at once: the second waits for the first; both runs' files are kept."""
    from hayswitch.cli.index import index_paths

    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "alpha.md").write_text("Alpha text about apples.")
    (b / "beta.md").write_text("Beta text about bananas.")
    store = tmp_path / "store"
    in_embedding, release = threading.Event(), threading.Event()
    original = FakeProvider._embed

    def slow_for_alpha(self: FakeProvider, texts: list[str], *, input_type: Any) -> Any:
        if any("apples" in t for t in texts):
            in_embedding.set()
            assert release.wait(30)
        return original(self, texts, input_type=input_type)

    monkeypatch.setattr(FakeProvider, "_embed", slow_for_alpha)
    waits: list[str] = []
    errors: list[BaseException] = []

    def run(folder: Path, on_warning: Any = None) -> None:
        try:
            index_paths([folder], store_path=store, provider="fake", progress=False, on_warning=on_warning)
        except BaseException as exc:
            errors.append(exc)

    first = threading.Thread(target=run, args=(a,))
    first.start()
    assert in_embedding.wait(30)
    second = threading.Thread(target=run, args=(b, waits.append))
    second.start()
    for _ in range(300):  # the second run reports that it waits (or, without a lock, finishes)
        if waits or not second.is_alive():
            break
        time.sleep(0.05)
    release.set()
    first.join(30)
    second.join(30)
    assert not errors, errors
    assert any("another 'hayswitch index' run is writing" in w for w in waits), waits
    assert set(_consistent(store)) == {"alpha.md", "beta.md"}


def test_a_busy_store_fails_clearly_with_lock_timeout(corpus: Path, tmp_path: Path) -> None:
    from hayswitch.cli.store import PassageStore, StoreLocation

    store = tmp_path / "store"
    with PassageStore.lock(StoreLocation.parse(store), timeout=0):
        result = index(corpus, store, "--lock-timeout", "0")
    assert_clean_failure(result, 3, "Another 'hayswitch index' run is still writing", "--lock-timeout")
    assert index(corpus, store, "--lock-timeout", "0").exit_code == 0


# --------------------------------------------------------------------------- fault: mixed dimensions


def test_a_changed_embedding_size_is_refused_before_the_corpus_is_embedded(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Like a server whose model changed: the provider knows its dimension only from a response."""
    monkeypatch.setattr(FakeProvider, "embedding_dimension", property(lambda self: None))
    seen: list[str] = []
    original = FakeProvider._embed

    def spy(self: FakeProvider, texts: list[str], *, input_type: Any) -> Any:
        seen.extend(texts)
        return original(self, texts, input_type=input_type)

    monkeypatch.setattr(FakeProvider, "_embed", spy)
    store = tmp_path / "store"
    monkeypatch.setenv("HAYSWITCH_FAKE__DIMENSION", "8")
    assert index(corpus, store).exit_code == 0
    before = contents(store)

    monkeypatch.setenv("HAYSWITCH_FAKE__DIMENSION", "16")
    (corpus / "new.md").write_text("A new file about pears.")
    seen.clear()
    result = index(corpus, store)
    assert_clean_failure(result, 2, "8 dimensions", "16 dimensions", "--rebuild")
    assert not any("pears" in t for t in seen), "the corpus must not be embedded before the check"
    assert contents(store) == before
    assert {len(d["embedding"]) for d in before[2]} == {8}
    assert_clean_failure(hs("ask", "pears?", "--store", store, "--provider", "fake"), 2, "8 dimensions")

    monkeypatch.setenv("HAYSWITCH_FAKE__DIMENSION", "8")
    assert hs("ask", "pears?", "--store", store, "--provider", "fake").exit_code == 0


def test_another_splitter_is_refused(corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hayswitch.cli import ingest

    store = tmp_path / "store"
    assert index(corpus, store).exit_code == 0
    monkeypatch.setattr(ingest, "SPLITTER", {**ingest.SPLITTER, "split_length": 40})
    assert_clean_failure(index(corpus, store), 2, "split", "--rebuild")
    assert index(corpus, store, "--rebuild").exit_code == 0
    assert contents(store)[0]["splitter"]["split_length"] == 40


# --------------------------------------------------------------------------- fault: deleted text served


def test_a_file_edited_down_to_headings_loses_its_passages(corpus: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    assert index(corpus, store).exit_code == 0
    assert any("contract kit" in t for t in _texts(store))
    (corpus / "guides" / "providers.md").write_text("# Custom providers\n\n## Testing\n")
    result = index(corpus, store)
    assert result.exit_code == 0, result.output
    assert "providers.md: skipped, no text found in it" in result.stderr
    assert not any("contract kit" in t or "custom provider" in t for t in _texts(store))
    assert "providers.md" not in _consistent(store)


@pytest.mark.parametrize("rebuild", [False, True])
def test_a_folder_whose_files_were_all_deleted_is_emptied(corpus: Path, tmp_path: Path, rebuild: bool) -> None:
    store = tmp_path / "store"
    assert index(corpus / "guides", store).exit_code == 0
    assert index(corpus / "install.txt", store).exit_code == 0
    (corpus / "guides" / "providers.md").unlink()
    result = index(corpus / "guides", store, *(["--rebuild"] if rebuild else []))
    assert result.exit_code == 0, result.output
    assert "no .md, .markdown, .txt, .pdf, .html, .htm files in this folder" in result.stderr
    files = _consistent(store)
    assert "providers.md" not in files
    # Without --rebuild, files indexed from elsewhere stay; --rebuild keeps only the given paths.
    assert set(files) == (set() if rebuild else {"install.txt"})
    assert not any("custom provider" in t for t in _texts(store))
    asked = hs("ask", "How do I create a custom provider?", "--store", store, "--provider", "fake")
    if rebuild:  # an emptied store says so, whether it was ever written to or not
        assert_clean_failure(asked, 3, "holds no passages")
    else:
        assert asked.exit_code == 0, asked.output
        assert "install.txt" in asked.stdout
        assert "providers.md" not in asked.stdout


def test_the_json_index_of_an_older_hayswitch_is_pointed_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".hayswitch").mkdir()
    (tmp_path / ".hayswitch" / "store.json").write_text('{"format": "hayswitch-index", "version": 1}')
    result = hs("ask", "hello?", "--provider", "fake")
    assert_clean_failure(result, 3, "There is no store at .hayswitch/store", "older hayswitch", "re-index")


# --------------------------------------------------------------------------- fault: symlinks, modes


def test_a_symlinked_store_and_file_modes_are_kept(corpus: Path, tmp_path: Path) -> None:
    target = tmp_path / "real-store"
    link = tmp_path / "link-store"
    assert index(corpus, target).exit_code == 0
    link.symlink_to(target, target_is_directory=True)
    database = target / "chroma.sqlite3"
    os.chmod(database, 0o600)
    os.chmod(target, 0o700)
    (corpus / "install.txt").write_text("Install it with pip.\n")
    result = index(corpus, link)
    assert result.exit_code == 0, result.output
    assert "1 changed" in result.stdout
    assert link.is_symlink()
    assert link.resolve() == target.resolve()
    assert database.stat().st_mode & 0o777 == 0o600
    assert target.stat().st_mode & 0o777 == 0o700
    assert any("pip" in t for t in _texts(target))
    assert hs("ask", "install?", "--store", link, "--provider", "fake").exit_code == 0


# --------------------------------------------------------------------------- fault: corrupt data


def test_non_finite_or_short_vectors_never_reach_the_store(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hayswitch.types import EmbeddingResult

    store = tmp_path / "store"
    assert index(corpus, store).exit_code == 0
    before = contents(store)
    original = FakeProvider._embed

    def broken(kind: str) -> Any:
        def embed(self: FakeProvider, texts: list[str], *, input_type: Any) -> Any:
            result: EmbeddingResult = original(self, texts, input_type=input_type)
            vectors = [list(v) for v in result.vectors]
            vectors[0] = [math.nan, *vectors[0][1:]] if kind == "nan" else vectors[0][:10]
            return result.model_copy(update={"vectors": vectors})

        return embed

    (corpus / "install.txt").write_text("A changed file.\n")
    for kind in ("nan", "short"):
        monkeypatch.setattr(FakeProvider, "_embed", broken(kind))
        result = index(corpus, store, "--no-cache")
        assert result.exit_code != 0
        assert "Traceback" not in result.output
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
        assert contents(store) == before, kind


def test_a_damaged_store_does_not_crash_ask(corpus: Path, tmp_path: Path) -> None:
    from chromadb.api.shared_system_client import SharedSystemClient

    store = tmp_path / "store"
    assert index(corpus, store).exit_code == 0
    # The vector segment (HNSW files) gone, as after a partial copy: ask answers or fails cleanly.
    for segment in [p for p in store.iterdir() if p.is_dir()]:
        for f in segment.iterdir():
            f.write_bytes(b"\x00garbage")
    SharedSystemClient.clear_system_cache()
    result = hs("ask", "install?", "--store", store, "--provider", "fake", "--json")
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    if result.exit_code == 0:
        json.loads(result.stdout, parse_constant=lambda c: pytest.fail(f"{c} in the JSON output"))
    else:
        assert result.exit_code == 3
        assert "--rebuild" in result.stderr
    # A truncated database.
    SharedSystemClient.clear_system_cache()
    data = (store / "chroma.sqlite3").read_bytes()
    (store / "chroma.sqlite3").write_bytes(data[: len(data) // 3])
    result = hs("ask", "install?", "--store", store, "--provider", "fake")
    assert_clean_failure(result, 3, "--rebuild")


def test_ask_json_never_prints_nan(corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hayswitch.cli import ask

    store = tmp_path / "store"
    assert index(corpus, store).exit_code == 0
    real = ask.retrieve_passages

    def nan_scores(*args: Any, **kwargs: Any) -> Any:
        retrieval = real(*args, **kwargs)
        retrieval.documents = [dataclasses.replace(doc, score=math.nan) for doc in retrieval.documents]
        retrieval.sources = [ask._source(d) for d in retrieval.documents]
        return retrieval

    monkeypatch.setattr(ask, "retrieve_passages", nan_scores)
    result = hs("ask", "install?", "--store", store, "--provider", "fake", "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout, parse_constant=lambda c: pytest.fail(f"{c} in the JSON output"))
    assert [s["score"] for s in payload["sources"]] == [None, None, None]
    plain = hs("ask", "install?", "--store", store, "--provider", "fake")
    assert plain.exit_code == 0, plain.output
    assert "score" not in plain.stdout.split("Sources:")[1], "no score is printed where there is none"


# --------------------------------------------------------------------------- interruptions


def _many(tmp_path: Path, count: int = 12, words: int = 200) -> Path:
    corpus = tmp_path / "many"
    corpus.mkdir()
    for i in range(count):
        (corpus / f"f{i:02d}.md").write_text(" ".join(f"word{i}x{j}" for j in range(words)))
    return corpus


def test_ctrl_c_between_commits_leaves_whole_files_and_the_next_run_finishes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hayswitch.cli import index as index_module
    from hayswitch.cli.index import index_paths
    from hayswitch.cli.store import PassageStore

    corpus = _many(tmp_path)
    monkeypatch.setattr(index_module, "GROUP_PASSAGES", 5)
    calls = {"n": 0}
    original = PassageStore.commit

    def interrupt_third(self: PassageStore, *args: Any, **kwargs: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # Ctrl-C while the third group was being embedded
        original(self, *args, **kwargs)

    monkeypatch.setattr(PassageStore, "commit", interrupt_third)
    store = tmp_path / "store"
    with pytest.raises(KeyboardInterrupt):
        index_paths([corpus], store_path=store, provider="fake", progress=False, cache=False)
    partial = _consistent(store)
    assert 0 < len(partial) < 12
    monkeypatch.setattr(PassageStore, "commit", original)
    report = index_paths([corpus], store_path=store, provider="fake", progress=False, cache=False)
    assert report.files_unchanged == len(partial)
    assert report.files_new == 12 - len(partial)
    assert len(_consistent(store)) == 12


def test_ctrl_c_during_a_commit_waits_for_the_commit_to_finish(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGINT arriving in the middle of a commit (after the passages, before the manifest and the
    deletion of the old ids) is held back until the commit is whole."""
    from hayswitch.cli import index as index_module
    from hayswitch.cli.index import index_paths

    corpus = _many(tmp_path)
    store = tmp_path / "store"
    index_paths([corpus], store_path=store, provider="fake", progress=False, cache=False)
    for i in range(12):
        (corpus / f"f{i:02d}.md").write_text(" ".join(f"changed{i}y{j}" for j in range(150)))
    monkeypatch.setattr(index_module, "GROUP_PASSAGES", 5)
    from chromadb.api.models.Collection import Collection

    upserts = {"n": 0}
    original = Collection.upsert

    def signal_inside(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = original(self, *args, **kwargs)
        if self.name == "hayswitch_passages":
            upserts["n"] += 1
            if upserts["n"] == 2:
                signal.raise_signal(signal.SIGINT)  # delivered at once unless held back
        return result

    monkeypatch.setattr(Collection, "upsert", signal_inside)
    with pytest.raises(KeyboardInterrupt):
        index_paths([corpus], store_path=store, provider="fake", progress=False, cache=False)
    files = _consistent(store)  # no half-committed file: manifest and passages agree
    assert len(files) == 12
    texts = _texts(store)
    changed = {name for name in files if any(f"changed{int(name[1:3])}y" in t for t in texts)}
    assert 0 < len(changed) < 12


def test_passages_left_by_a_crash_mid_commit_are_removed(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process that dies inside a commit (after the new passages, before the manifest) leaves
    its journal; the next run removes the passages the manifest does not account for."""
    from hayswitch.cli.index import index_paths
    from hayswitch.cli.store import PassageStore

    store = tmp_path / "store"
    index_paths([corpus], store_path=store, provider="fake", progress=False, cache=False)
    (corpus / "install.txt").write_text("Install hayswitch from PyPI. It needs Python 3.11 or newer.\n")

    def power_loss(self: PassageStore, keys: Any) -> None:
        raise SystemExit("power loss")  # nothing after the passage upsert runs, as with kill -9

    with monkeypatch.context() as patch:
        patch.setattr(PassageStore, "_write_manifest", power_loss)
        with pytest.raises(SystemExit):
            index_paths([corpus], store_path=store, provider="fake", progress=False, cache=False)
    assert any("PyPI" in t for t in _texts(store))  # the new passage is there, the manifest is not
    with pytest.raises(AssertionError):
        _consistent(store)
    result = index(corpus, store)
    assert result.exit_code == 0, result.output
    assert "removed 1 passage(s) left by an interrupted earlier run" in result.stderr
    assert "1 changed" in result.stdout  # then install.txt is indexed again, whole
    _consistent(store)
    assert any("PyPI" in t for t in _texts(store))


def _first_format(store: Path) -> dict[str, Any]:
    """Rewrite a store's manifest as the first Chroma format wrote it (one record per file, no
    sizes or times); returns the records."""
    from hayswitch.cli.store import PassageStore, StoreLocation

    opened = PassageStore.open(StoreLocation.parse(store))
    records = opened.manifest()
    opened.files.delete(ids=opened.files.get()["ids"])
    opened.files.add(
        ids=list(records),
        embeddings=[[0.0]] * len(records),
        metadatas=[{"path": r.path, "sha256": r.sha256, "passages": r.passages} for r in records.values()],
    )
    return records


def test_a_store_of_the_first_format_is_upgraded_and_repaired(corpus: Path, tmp_path: Path) -> None:
    """A store written by the first Chroma format (no journal) is read, its stray passages found
    by count, and its manifest moved into buckets."""
    from hayswitch.cli.store import FILES, PassageStore, StoreLocation

    store = tmp_path / "store"
    assert index(corpus, store).exit_code == 0
    records = _first_format(store)
    opened = PassageStore.open(StoreLocation.parse(store))
    opened.passages.upsert(ids=["orphan-1", "orphan-2"], embeddings=[[0.1] * 64, [0.2] * 64], documents=["x", "y"])
    assert {k: r.sha256 for k, r in opened.manifest().items()} == {k: r.sha256 for k, r in records.items()}

    result = index(corpus, store)
    assert result.exit_code == 0, result.output
    assert "removed 2 passage(s) left by an interrupted earlier run" in result.stderr
    assert "0 new, 0 changed, 3 unchanged" in result.stdout
    reopened = PassageStore.open(StoreLocation.parse(store))
    assert all(i.startswith("bucket-") for i in reopened.client.get_collection(FILES).get()["ids"])
    assert {k: (r.sha256, r.passages) for k, r in reopened.manifest().items()} == {
        k: (r.sha256, r.passages) for k, r in records.items()
    }
    _consistent(store)


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", "from hayswitch.cli import main; main()", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.slow
def test_ctrl_c_stops_the_index_command_and_keeps_the_store_consistent(tmp_path: Path) -> None:
    corpus = _many(tmp_path, count=200, words=600)  # 1,800 passages: four groups of about 500
    store = tmp_path / "store"
    # 1 s per embedding request (64 passages): each group takes about 2 s, the run about 8 s.
    proc = _cli(
        "index",
        str(corpus),
        "--store",
        str(store),
        "--provider",
        "fake",
        "-q",
        "--batch-size",
        "64",
        "--no-cache",
        env={"HAYSWITCH_FAKE__LATENCY": "1.0"},
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (store / "chroma.sqlite3").exists():
            time.sleep(0.1)
        time.sleep(0.5)
        assert proc.poll() is None, "the run ended before it could be interrupted"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, (proc.returncode, out, err)
    assert "interrupted" in err
    assert "Traceback" not in err
    assert 0 < len(_consistent(store)) < 200


# --------------------------------------------------------------------------- PDF and HTML


def _tiny_pdf(text: str) -> bytes:
    """A one-page PDF showing ``text`` in Helvetica (hand-written objects, byte-exact xref)."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def test_pdf_and_html_files_are_indexed_and_cited(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "manual.pdf").write_bytes(_tiny_pdf("The warranty covers the espresso machine for two years."))
    (docs / "page.html").write_text(
        "<html><head><title>Shipping</title></head><body><nav>Home | About | Contact</nav>"
        "<article><h1>Shipping policy</h1><p>Parcels to Norway are shipped by boat every Tuesday, and they "
        "arrive within nine days of the order.</p></article><footer>Copyright</footer></body></html>"
    )
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    store = tmp_path / "store"
    result = index(docs, store)
    assert result.exit_code == 0, result.output
    assert "broken.pdf: skipped, no text found in it" in result.stderr
    texts = _texts(store)
    assert any("warranty covers the espresso machine" in t for t in texts), texts
    assert any("shipped by boat every Tuesday" in t for t in texts), texts
    assert not any("Home | About" in t for t in texts), "HTML boilerplate must be left out"

    pdf = hs("ask", "How long is the espresso machine warranty?", "--store", store, "--provider", "fake", "--json")
    assert pdf.exit_code == 0, pdf.output
    top = json.loads(pdf.stdout)["sources"][0]
    assert top["file"].endswith("manual.pdf")
    assert top["page"] == 1
    assert top["passage"] == 1
    html = hs("ask", "When are parcels to Norway shipped?", "--store", store, "--provider", "fake")
    assert html.exit_code == 0, html.output
    assert "page.html, passage 1" in html.stdout.split("Sources:")[1].splitlines()[1]


# --------------------------------------------------------------------------- a Chroma server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def chroma_server(tmp_path: Path) -> Iterator[str]:
    """``chroma run`` on loopback, serving a fresh folder; stopped after the test."""
    port = _free_port()
    chroma = Path(sys.executable).parent / "chroma"
    proc = subprocess.Popen(
        [str(chroma), "run", "--path", str(tmp_path / "served"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("chroma run did not start") from None
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.slow
def test_index_and_ask_against_a_chroma_server(corpus: Path, chroma_server: str, tmp_path: Path) -> None:
    first = index(corpus, chroma_server)  # type: ignore[arg-type]
    assert first.exit_code == 0, first.output
    assert "3 new" in first.stdout
    (corpus / "install.txt").write_text("Install hayswitch with pip.\n")
    second = index(corpus, chroma_server)  # type: ignore[arg-type]
    assert second.exit_code == 0, second.output
    assert "0 new, 1 changed, 2 unchanged" in second.stdout
    answer = hs("ask", "How do I install it?", "--store", chroma_server, "--provider", "fake", "--json")
    assert answer.exit_code == 0, answer.output
    assert json.loads(answer.stdout)["sources"][0]["file"].endswith("install.txt")
    # The lock on a server is a collection: a second run waits for (here: fails on) a held one.
    from hayswitch.cli.store import PassageStore, StoreLocation

    with PassageStore.lock(StoreLocation.parse(chroma_server), timeout=0):
        busy = index(corpus, chroma_server, "--lock-timeout", "0")  # type: ignore[arg-type]
    assert_clean_failure(busy, 3, "Another 'hayswitch index' run", "--lock-timeout")
    assert_clean_failure(
        hs("ask", "q?", "--store", "http://127.0.0.1:1", "--provider", "fake"), 3, "Cannot reach the Chroma server"
    )


# --------------------------------------------------------------------------- the YAML pipeline

YAML = Path(__file__).resolve().parents[2] / "examples" / "pipelines" / "chroma-indexing.yaml"


def test_the_yaml_indexing_pipeline_matches_the_cli_and_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from haystack import Pipeline

    from haystack_integrations.components.embedders.hayswitch import ProviderTextEmbedder
    from haystack_integrations.components.retrievers.chroma import ChromaEmbeddingRetriever
    from hayswitch.cli.ingest import build_preprocessing_pipeline

    loaded = Pipeline.loads(YAML.read_text(encoding="utf-8"))
    cli = build_preprocessing_pipeline()
    cli_parts = cli.to_dict()
    loaded_parts = loaded.to_dict()
    for name, component in cli_parts["components"].items():
        assert loaded_parts["components"][name] == component, name
    cli_links = {(c["sender"], c["receiver"]) for c in cli_parts["connections"]}
    assert cli_links <= {(c["sender"], c["receiver"]) for c in loaded_parts["connections"]}

    monkeypatch.setenv("HAYSWITCH_PROVIDER", "fake")
    monkeypatch.chdir(tmp_path)
    loaded = Pipeline.loads(YAML.read_text(encoding="utf-8"))  # (provider resolved at warm-up)
    (tmp_path / "guide.md").write_text("# Guide\n\nThe lantern is lit at dusk by the harbour master.\n")
    (tmp_path / "manual.pdf").write_bytes(_tiny_pdf("The espresso machine warranty lasts two years."))
    result = loaded.run({"router": {"sources": [tmp_path / "guide.md", tmp_path / "manual.pdf"]}})
    assert result["writer"]["documents_written"] == 2
    store = loaded.get_component("writer").document_store
    embedder = ProviderTextEmbedder()
    embedder.warm_up()
    query = embedder.run(text="When is the lantern lit?")["embedding"]
    found = ChromaEmbeddingRetriever(document_store=store, top_k=1).run(query_embedding=query)["documents"]
    assert "lantern is lit at dusk" in (found[0].content or "")


# --------------------------------------------------------------------------- re-index without reading unchanged files


def _age(root: Path, seconds: float = 3600) -> None:
    """Set every file's modification time into the past (out of the racy window)."""
    past = time.time() - seconds
    for path in root.rglob("*"):
        if path.is_file():
            os.utime(path, (past, past))


def _count_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    from hayswitch.cli import ingest

    reads: list[str] = []
    original = ingest.read_file

    def counting(path: Path, **kwargs: Any) -> Any:
        reads.append(path.name)
        return original(path, **kwargs)

    monkeypatch.setattr(ingest, "read_file", counting)
    return reads


def test_unchanged_files_are_not_read_again_and_edits_are_still_found(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files with the size and modification time recorded when they were hashed are not read
    again; an edit of the same size (new modification time) is still re-hashed and re-indexed."""
    store = tmp_path / "store"
    _age(corpus)
    reads = _count_reads(monkeypatch)
    assert index(corpus, store).exit_code == 0
    files = _consistent(store)
    assert all(rec.size is not None and rec.mtime_ns is not None for rec in files.values())
    assert files["install.txt"].size == (corpus / "install.txt").stat().st_size
    reads.clear()

    result = index(corpus, store)
    assert result.exit_code == 0, result.output
    assert reads == []
    assert "0 new, 0 changed, 3 unchanged" in result.stdout

    install = corpus / "install.txt"
    old = install.read_text()
    install.write_text(old.replace("make install", "make setup!!"))  # same length, new content
    assert install.stat().st_size == files["install.txt"].size
    result = index(corpus, store)
    assert result.exit_code == 0, result.output
    assert reads == ["install.txt"]
    assert "0 new, 1 changed, 2 unchanged" in result.stdout
    assert any("make setup!!" in t for t in _texts(store))
    # Just modified: its size and time are not trusted yet (racy), so the next run hashes it again.
    assert _consistent(store)["install.txt"].size is None
    reads.clear()
    assert index(corpus, store).exit_code == 0
    assert reads == ["install.txt"]


def test_a_store_without_recorded_file_times_is_hashed_once_then_not_read(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A manifest written without sizes and times (by an earlier hayswitch, or for files modified
    just before indexing) is completed by the next run, which hashes those files once."""

    store = tmp_path / "store"
    assert index(corpus, store).exit_code == 0  # files just written: nothing trusted yet
    assert all(rec.size is None for rec in _consistent(store).values())
    assert all(r.size is None and r.mtime_ns is None for r in _first_format(store).values())

    _age(corpus)
    reads = _count_reads(monkeypatch)
    result = index(corpus, store)
    assert result.exit_code == 0, result.output
    assert sorted(reads) == ["install.txt", "long.md", "providers.md"]
    assert "0 new, 0 changed, 3 unchanged" in result.stdout
    assert all(rec.size is not None for rec in _consistent(store).values())
    reads.clear()
    assert index(corpus, store).exit_code == 0
    assert reads == []
    assert len(_texts(store)) == sum(rec.passages for rec in _consistent(store).values())


def test_stat_signature_refuses_racy_and_torn_reads(tmp_path: Path) -> None:
    from hayswitch.cli.store import RACY_SECONDS, stat_signature

    path = tmp_path / "a.md"
    path.write_text("0123456789")
    now = time.time_ns()
    old = now - 10 * 10**9
    os.utime(path, ns=(old, old))
    assert stat_signature(path.stat(), 10, now_ns=now) == (10, old)
    assert stat_signature(path.stat(), 9, now_ns=now) == (None, None)  # the file changed while it was read
    recent = now - int(RACY_SECONDS * 1e9) + 1
    os.utime(path, ns=(recent, recent))
    assert stat_signature(path.stat(), 10, now_ns=now) == (None, None)  # may change again within its tick


# --------------------------------------------------------------------------- shards and the log


def _shards_of(store: Path) -> dict[str, set[int]]:
    """For each file (by name), the shards holding its passages."""
    from hayswitch.cli.store import PassageStore, StoreLocation

    opened = PassageStore.open(StoreLocation.parse(store))
    found: dict[str, set[int]] = {}
    for number, shard in opened.shards.items():
        for meta in shard.get(include=["metadatas"])["metadatas"]:
            found.setdefault(Path(meta["file_key"]).name, set()).add(number)
    return found


def _topics(tmp_store: Path) -> dict[str, str]:
    from hayswitch.cli.store import PassageStore, StoreLocation

    opened = PassageStore.open(StoreLocation.parse(tmp_store))
    names = {str(c.id): c.name for c in opened.client.list_collections()}
    opened.client.close()  # (an open client keeps Chroma's loaded indexes: index runs could not save them)
    return names


def test_a_large_store_is_sharded_and_searched_as_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past SHARD_PASSAGES a new shard (collection) is started; a file's passages stay in one
    shard; a search over the shards ranks like one collection; an edit writes only its shard."""
    from chromadb.api.models.Collection import Collection

    from hayswitch.cli import store as store_module
    from hayswitch.cli.ask import retrieve_passages
    from hayswitch.cli.index import index_paths

    corpus = _many(tmp_path, count=12)  # 3 passages per file
    whole, sharded = tmp_path / "whole", tmp_path / "sharded"
    index_paths([corpus], store_path=whole, provider="fake", progress=False, cache=False)
    monkeypatch.setattr(store_module, "SHARD_PASSAGES", 8)
    report = index_paths([corpus], store_path=sharded, provider="fake", progress=False, cache=False)
    assert report.passages_total == 36
    shards = _shards_of(sharded)
    assert all(len(numbers) == 1 for numbers in shards.values()), shards  # a file is never split
    assert sorted({n for numbers in shards.values() for n in numbers}) == [0, 1, 2, 3, 4, 5]  # 2 files each
    assert _consistent(sharded).keys() == _consistent(whole).keys()

    for question in ("word3x100 word3x101", "word11x500", "word0x5 word7x7 word9x250"):
        one = retrieve_passages(question, store_path=whole, provider="fake", top_k=4)
        many = retrieve_passages(question, store_path=sharded, provider="fake", top_k=4)
        assert [(s["file"], s["passage"]) for s in many.sources] == [(s["file"], s["passage"]) for s in one.sources]
        assert [s["score"] for s in many.sources] == pytest.approx([s["score"] for s in one.sources], abs=1e-4)

    written: list[str] = []
    for method in ("upsert", "delete"):
        original = getattr(Collection, method)

        def spy(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            written.append(self.name)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(Collection, method, spy)
    (corpus / "f05.md").write_text(" ".join(f"edited5x{j}" for j in range(130)))  # 3 passages -> 2
    (corpus / "f09.md").unlink()
    _age(corpus)
    report = index_paths([corpus], store_path=sharded, provider="fake", progress=False, cache=False)
    assert (report.files_changed, report.files_removed, report.passages_total) == (1, 1, 32)
    touched = {name for name in written if name.startswith("hayswitch_passages")}
    assert touched == {store_module.shard_name(n) for n in (*shards["f05.md"], *shards["f09.md"])}
    assert _shards_of(sharded)["f05.md"] == shards["f05.md"]
    assert "f09.md" not in _shards_of(sharded)
    _consistent(sharded)
    (tmp_path / "more").mkdir()
    new = index_paths(
        [corpus, _many(tmp_path / "more", count=3)],
        store_path=sharded,
        provider="fake",
        progress=False,
        cache=False,
    )
    assert new.files_new == 3
    # shard 5 was full: the new files go to new shards 6 and 7
    assert max(n for numbers in _shards_of(sharded).values() for n in numbers) == 7


def _unsaved(store: Path) -> dict[str, int]:
    """For each collection, the writes in Chroma's log that its saved vector index does not hold
    (what the next process to open it replays), read from Chroma's own tables."""
    import sqlite3

    names = _topics(store)
    with sqlite3.connect(store / "chroma.sqlite3") as db:
        saved = dict(
            db.execute(
                "SELECT s.collection, m.seq_id FROM segments s JOIN max_seq_id m ON m.segment_id = s.id "
                "WHERE s.scope = 'VECTOR'"
            ).fetchall()
        )
        rows = db.execute("SELECT topic, seq_id FROM embeddings_queue").fetchall()
    behind = dict.fromkeys(names.values(), 0)
    for topic, seq in rows:
        collection = topic.rsplit("/", 1)[-1]
        if collection in names and seq > saved.get(collection, -1):
            behind[names[collection]] += 1
    return behind


def test_index_runs_save_chroma_vector_indexes_so_little_is_replayed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chroma keeps writes since its last index save in a log that every process opening the
    collection replays. A run that wrote SAVE_AFTER_WRITES or more to a collection saves its
    index; smaller runs add up (counted in the manifest's metadata) until they reach it."""
    from hayswitch.cli import store as store_module
    from hayswitch.cli.index import index_paths
    from hayswitch.cli.store import FILES, PASSAGES, PassageStore, StoreLocation

    corpus = _many(tmp_path, count=80)  # 240 passages: more than SAVE_AFTER_WRITES, fewer than Chroma's 1,000
    store = tmp_path / "store"
    index_paths([corpus], store_path=store, provider="fake", progress=False, cache=False)
    assert _unsaved(store)[PASSAGES] == 0
    assert _unsaved(store)[FILES] < store_module.SAVE_AFTER_WRITES

    (corpus / "f01.md").write_text("changed " * 50)  # one passage replaces three
    index_paths([corpus], store_path=store, provider="fake", progress=False, cache=False)
    behind = _unsaved(store)
    assert 0 < behind[PASSAGES] < store_module.SAVE_AFTER_WRITES  # not worth a save yet
    opened = PassageStore.open(StoreLocation.parse(store))
    recorded = json.loads(opened.files.metadata["unsaved"])
    opened.client.close()
    assert recorded.get(PASSAGES, 0) == behind[PASSAGES]  # the count matches Chroma's log

    monkeypatch.setattr(store_module, "SAVE_AFTER_WRITES", behind[PASSAGES] + 2)
    (corpus / "f02.md").write_text("changed again " * 30)
    index_paths([corpus], store_path=store, provider="fake", progress=False, cache=False)
    assert _unsaved(store)[PASSAGES] == 0  # the runs added up: saved
    assert _consistent(store)


def test_collect_corpus_walks_like_rglob_and_keys_like_resolve(tmp_path: Path) -> None:
    """The scandir walk finds exactly the files ``Path.rglob`` filtering found (hidden, excluded,
    unsupported and symlinked folders left out; symlinked files kept), in the same order, and
    its keys are the files' resolved paths."""
    import fnmatch
    from pathlib import PurePosixPath

    from hayswitch.cli.store import SUPPORTED_SUFFIXES, collect_corpus

    root = tmp_path / "docs"
    for rel in (
        "a.md", "b.TXT", "c.py", "a-b/x.md", "a/b.md", "api/v1/ref.md", "api.md", "drafts/x.draft.md",
        "notes/x.draft.md", ".git/config.md", "sub/.hidden/h.md", "sub/.h.md", "sub/deep/er/page.html",
        "sub/manual.PDF", "z/y.htm",
    ):  # fmt: skip
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("text")
    outside = tmp_path / "outside"
    (outside / "more").mkdir(parents=True)
    (outside / "linked.md").write_text("text")
    (outside / "more" / "m.md").write_text("text")
    (root / "link.md").symlink_to(outside / "linked.md")
    (root / "linked-folder").symlink_to(outside / "more", target_is_directory=True)
    (root / "dangling.md").symlink_to(tmp_path / "missing.md")

    def excluded(relative: PurePosixPath, patterns: list[str]) -> bool:  # a file or one of its folders matches
        candidates = [relative.as_posix(), *(parent.as_posix() for parent in relative.parents if parent.parts)]
        return any(fnmatch.fnmatch(c, pattern.strip("/")) for pattern in patterns for c in candidates)

    def reference(exclude: list[str]) -> list[Path]:  # the rglob-based walk this replaced
        resolved = root.resolve()
        return sorted(
            p
            for p in resolved.rglob("*")
            if p.suffix.lower() in SUPPORTED_SUFFIXES
            and not any(part.startswith(".") for part in p.relative_to(resolved).parts)
            and not (exclude and excluded(PurePosixPath(p.relative_to(resolved).as_posix()), exclude))
            and p.is_file()
        )

    for exclude in ([], ["api"], ["*.draft.md", "sub/deep"], ["a*"]):
        files, keys, warnings = collect_corpus([root], exclude)
        assert [Path(f) for f in files] == reference(exclude), exclude
        assert keys == [Path(f).resolve().as_posix() for f in files]
        assert warnings == []
    files, keys, _ = collect_corpus([root])
    assert (outside / "linked.md").resolve().as_posix() in keys
    assert not any("m.md" in k or "dangling" in k for k in keys)


def test_a_damaged_journal_falls_back_to_a_full_check(corpus: Path, tmp_path: Path) -> None:
    """A journal that cannot be read (here: its file list is not JSON) does not hide stray
    passages: the passage count is compared with the manifest and the shards are scanned."""
    from hayswitch.cli.store import JOURNAL_ID, PassageStore, StoreLocation

    store = tmp_path / "store"
    assert index(corpus, store).exit_code == 0
    opened = PassageStore.open(StoreLocation.parse(store))
    opened.passages.upsert(ids=["orphan-1"], embeddings=[[0.1] * 64], documents=["x"])
    opened.files.upsert(ids=[JOURNAL_ID], embeddings=[[0.0]], metadatas=[{"files": "not json", "shards": "[0]"}])
    opened.client.close()
    result = index(corpus, store)
    assert result.exit_code == 0, result.output
    assert "removed 1 passage(s) left by an interrupted earlier run" in result.stderr
    _consistent(store)
    reopened = PassageStore.open(StoreLocation.parse(store))
    assert reopened.files.get(ids=[JOURNAL_ID])["ids"] == []
    reopened.client.close()
