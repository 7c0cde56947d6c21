"""``hayswitch index`` and ``hayswitch ask``: end to end on a temporary corpus.

Most tests use the ``fake`` provider (instant, deterministic) to exercise the CLI logic; one test
runs the real ``local`` models.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from hayswitch.cli import build_app
from hayswitch.providers.fake import FakeProvider

runner = CliRunner()


def hs(*args: str | Path) -> Result:
    return runner.invoke(build_app(), [str(a) for a in args])


def assert_clean_failure(result: Result, code: int, *fragments: str) -> None:
    """A non-zero exit with a message on stderr and no traceback anywhere."""
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr)


LONG = " ".join(f"Filler sentence number {i} about gardening tools and soil." for i in range(40))


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    (root / "guides").mkdir(parents=True)
    (root / "guides" / "providers.md").write_text(
        "# Custom providers\n\nTo create a custom provider, subclass Provider, declare capabilities and "
        "register it through the hayswitch entry point.\n",
        encoding="utf-8",
    )
    (root / "install.txt").write_text("Install hayswitch with make install. It pins the CPU build of torch.\n")
    (root / "long.md").write_text(LONG, encoding="utf-8")  # 360 words: several passages
    (root / "notes.rst").write_text("not indexed: wrong extension")
    (root / ".git").mkdir()
    (root / ".git" / "HEAD.md").write_text("hidden folders are skipped")
    return root


@pytest.fixture
def embedded_texts(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every text the fake provider embeds as a document, across all instances."""
    seen: list[str] = []
    original = FakeProvider._embed

    def spy(self: FakeProvider, texts: list[str], *, input_type: str) -> object:
        if input_type == "document":
            seen.extend(texts)
        return original(self, texts, input_type=input_type)  # type: ignore[arg-type]

    monkeypatch.setattr(FakeProvider, "_embed", spy)
    return seen


def index(corpus: Path, store: Path, *extra: str) -> Result:
    return hs("index", corpus, "--store", store, "--provider", "fake", "--quiet", *extra)


def contents(store: Path) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """The store's recorded space, its file manifest (by file name) and its passages."""
    from hayswitch.cli.store import PassageStore, StoreLocation

    opened = PassageStore.open(StoreLocation.parse(store))
    files = {Path(key).name: rec for key, rec in opened.manifest().items()}
    got = opened.get_passages(include=["documents", "metadatas", "embeddings"])
    docs = [
        {"id": i, "content": c, "meta": m, "embedding": list(e)}
        for i, c, m, e in zip(got["ids"], got["documents"], got["metadatas"], got["embeddings"], strict=True)
    ]
    return opened.space() or {}, files, docs


# --------------------------------------------------------------------------- index


def test_index_then_ask_with_sources(corpus: Path, tmp_path: Path, embedded_texts: list[str]) -> None:
    store = tmp_path / "idx" / "store"
    result = index(corpus, store)
    assert result.exit_code == 0, result.output
    assert "Indexed 3 file(s)" in result.stdout
    assert "3 new, 0 changed, 0 unchanged, 0 removed" in result.stdout
    assert (store / "chroma.sqlite3").is_file()
    space, files, docs = contents(store)
    assert {k: space[k] for k in ("provider", "model", "dimension")} == {
        "provider": "fake",
        "model": "fake-embed",
        "dimension": 64,
    }
    assert space["splitter"]["split_length"] == 80
    assert set(files) == {"providers.md", "install.txt", "long.md"}
    assert files["long.md"].passages >= 3
    assert len(embedded_texts) == len(docs) == sum(f.passages for f in files.values())
    for doc in docs:
        assert doc["meta"]["file_path"].endswith((".md", ".txt"))
        assert doc["meta"]["passage"] >= 1
        assert len(doc["embedding"]) == 64

    answer = hs("ask", "How do I create a custom provider?", "--store", store, "--provider", "fake")
    assert answer.exit_code == 0, answer.output
    # The fake "model" echoes its prompt, which the grounding check rejects: the evidence sentence
    # is the answer, and it is cited with its source.
    assert answer.stdout.startswith("To create a custom provider, subclass Provider")
    from_line = answer.stdout.split("\nFrom: ")[1].splitlines()[0]
    assert from_line.endswith("guides/providers.md, passage 1")
    assert "Sources:" in answer.stdout
    assert "providers.md, passage 1" in answer.stdout.split("Sources:")[1].splitlines()[1]


def test_reindex_unchanged_embeds_nothing(corpus: Path, tmp_path: Path, embedded_texts: list[str]) -> None:
    store = tmp_path / "store"
    assert index(corpus, store).exit_code == 0
    first = len(embedded_texts)
    before = contents(store)
    again = index(corpus, store)
    assert again.exit_code == 0, again.output
    assert len(embedded_texts) == first, "an unchanged corpus must not be re-embedded"
    assert "0 new, 0 changed, 3 unchanged, 0 removed" in again.stdout
    assert "0 embedded now" in again.stdout
    assert contents(store) == before


def test_reindex_changed_and_deleted_files(corpus: Path, tmp_path: Path, embedded_texts: list[str]) -> None:
    store = tmp_path / "store"
    assert index(corpus, store).exit_code == 0
    long_passages = contents(store)[1]["long.md"].passages
    embedded_texts.clear()

    (corpus / "install.txt").write_text("Install hayswitch with pip install hayswitch-local.\n")
    (corpus / "long.md").unlink()
    result = index(corpus, store)
    assert result.exit_code == 0, result.output
    # The heading trail (here the file name) is embedded along with the passage text.
    assert embedded_texts == ["install\nInstall hayswitch with pip install hayswitch-local."]
    assert "0 new, 1 changed, 1 unchanged, 1 removed" in result.stdout
    assert f"{long_passages} removed" in result.stdout
    _, files, docs = contents(store)
    assert set(files) == {"providers.md", "install.txt"}
    assert {Path(d["meta"]["file_path"]).name for d in docs} == {"providers.md", "install.txt"}
    assert any("pip install hayswitch-local" in d["content"] for d in docs)
    assert not any("make install" in d["content"] for d in docs)


def test_new_file_is_added_incrementally(corpus: Path, tmp_path: Path, embedded_texts: list[str]) -> None:
    store = tmp_path / "store"
    assert index(corpus, store).exit_code == 0
    embedded_texts.clear()
    (corpus / "guides" / "faq.md").write_text("Questions and answers about hayswitch.")
    result = index(corpus, store)
    assert result.exit_code == 0
    assert embedded_texts == ["faq\nQuestions and answers about hayswitch."]
    assert "1 new, 0 changed, 3 unchanged" in result.stdout


def test_exclude_leaves_out_folders_and_globs_and_drops_them_from_an_index(corpus: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    assert index(corpus, store).exit_code == 0
    result = index(corpus, store, "--exclude", "guides", "-x", "*.txt")
    assert result.exit_code == 0, result.output
    assert "0 new, 0 changed, 1 unchanged, 2 removed" in result.stdout
    assert set(contents(store)[1]) == {"long.md"}


def test_default_store_location(corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert hs("index", corpus, "--provider", "fake", "-q").exit_code == 0
    assert (tmp_path / ".hayswitch" / "store" / "chroma.sqlite3").is_file()
    assert (tmp_path / ".hayswitch" / "cache.sqlite").is_file()
    assert hs("ask", "what is it?", "--provider", "fake").exit_code == 0


def test_binary_and_non_utf8_files_are_skipped_with_a_warning(corpus: Path, tmp_path: Path) -> None:
    (corpus / "image.md").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (corpus / "latin1.txt").write_bytes("caf\xe9 cr\xe8me".encode("latin-1"))
    (corpus / "empty.md").write_text("   \n")
    result = index(corpus, tmp_path / "store")
    assert result.exit_code == 0, result.output
    assert "image.md: skipped, it looks like a binary file" in result.stderr
    assert "latin1.txt: skipped, it is not valid UTF-8" in result.stderr
    assert "empty.md: skipped, it is empty" in result.stderr
    assert "Indexed 3 file(s)" in result.stdout
    assert "3 skipped" in result.stdout


# --------------------------------------------------------------------------- bad input


def test_missing_path_fails_cleanly(tmp_path: Path) -> None:
    result = index(tmp_path / "nope", tmp_path / "store")
    assert_clean_failure(result, 3, "does not exist")
    assert not (tmp_path / "store").exists()


def test_empty_folder_fails_cleanly(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = index(tmp_path / "empty", tmp_path / "store")
    assert_clean_failure(result, 3, "No supported files", ".md, .markdown, .txt, .pdf, .html")
    assert not (tmp_path / "store").exists()


def test_only_unreadable_files_fails_cleanly(tmp_path: Path) -> None:
    folder = tmp_path / "bin"
    folder.mkdir()
    (folder / "a.md").write_bytes(b"\x00\x01\x02")
    (folder / "b.txt").write_bytes(b"\xff\xfe\xfa")
    result = index(folder, tmp_path / "store")
    assert_clean_failure(result, 3, "a.md: skipped", "b.txt: skipped", "nothing to index")
    assert not (tmp_path / "store").exists()


def test_unsupported_file_argument_is_reported(corpus: Path, tmp_path: Path) -> None:
    result = index(corpus / "notes.rst", tmp_path / "store")
    assert_clean_failure(result, 3, "only .md", "No supported files")


def _corrupt(store: Path) -> bytes:
    """Overwrite an embedded store's database with garbage; returns the bytes written."""
    from chromadb.api.shared_system_client import SharedSystemClient

    SharedSystemClient.clear_system_cache()  # forget the open database, as a new process would
    garbage = b"this is not an SQLite database" * 100
    (store / "chroma.sqlite3").write_bytes(garbage)
    return garbage


def test_corrupt_store_is_never_overwritten(corpus: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    assert index(corpus, store).exit_code == 0
    garbage = _corrupt(store)
    result = index(corpus, store)
    assert_clean_failure(result, 3, "Cannot open the store", "--rebuild")
    assert (store / "chroma.sqlite3").read_bytes() == garbage
    assert_clean_failure(hs("ask", "hello?", "--store", store, "--provider", "fake"), 3, "Cannot open the store")
    assert (store / "chroma.sqlite3").read_bytes() == garbage
    rebuilt = index(corpus, store, "--rebuild")
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "3 new" in rebuilt.stdout
    assert set(contents(store)[1]) == {"providers.md", "install.txt", "long.md"}


def test_old_json_index_and_foreign_databases_are_refused_cleanly(tmp_path: Path, corpus: Path) -> None:
    old = tmp_path / "store.json"
    old.write_text('{"format": "hayswitch-index", "version": 1, "files": {}, "documents": []}')
    for args in (("ask", "hello?", "--store", old, "--provider", "fake"), ("index", corpus, "--store", old)):
        assert_clean_failure(hs(*args), 3, "is a file", "older hayswitch", "--store")
    assert old.read_text().startswith('{"format"')

    import chromadb
    from chromadb.config import Settings

    foreign = tmp_path / "foreign"
    chromadb.PersistentClient(path=str(foreign), settings=Settings(anonymized_telemetry=False)).create_collection(
        "someone-elses"
    )
    assert_clean_failure(hs("ask", "hello?", "--store", foreign, "--provider", "fake"), 3, "not a hayswitch store")
    assert_clean_failure(index(corpus, foreign), 3, "not a hayswitch store", "--rebuild")


def test_store_that_cannot_be_written_fails_cleanly(corpus: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where a folder should be")
    # (--no-cache: the embedding cache next to the store would be the first thing to fail.)
    assert_clean_failure(index(corpus, blocker / "store", "--no-cache"), 3, "is a file, not a folder", "--store")
    assert_clean_failure(index(corpus, blocker, "--rebuild", "--no-cache"), 3, "is a file")


def test_ask_without_index_fails_cleanly(tmp_path: Path) -> None:
    result = hs("ask", "hello?", "--store", tmp_path / "missing", "--provider", "fake")
    assert_clean_failure(result, 3, "no store", "hayswitch index")


@pytest.mark.parametrize("question", ["", "   ", "\n"])
def test_empty_question_fails_cleanly(corpus: Path, tmp_path: Path, question: str) -> None:
    store = tmp_path / "store"
    assert index(corpus, store).exit_code == 0
    assert_clean_failure(hs("ask", question, "--store", store, "--provider", "fake"), 3, "question is empty")


def test_conflicting_options_fail_cleanly(corpus: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    assert index(corpus, store).exit_code == 0
    assert_clean_failure(hs("ask", "q?", "--store", store, "--stream", "--json", "--provider", "fake"), 3, "--stream")
    assert_clean_failure(hs("ask", "q?", "--store", store, "--provider", "fake", "--profile", "x"), 3, "either")
    assert_clean_failure(hs("index", corpus, "--store", store, "--provider", "nope"), 2, "Unknown provider 'nope'")


def test_asking_with_another_embedding_model_is_refused(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "store"
    assert index(corpus, store).exit_code == 0
    monkeypatch.setenv("HAYSWITCH_FAKE__EMBEDDING_MODEL", "fake-embed-v2")
    result = hs("ask", "How do I install it?", "--store", store, "--provider", "fake")
    assert_clean_failure(result, 2, "was built with provider 'fake', model 'fake-embed'", "fake-embed-v2")
    # Indexing into the same store with the other model is refused too, unless --rebuild.
    assert_clean_failure(index(corpus, store), 2, "--rebuild")
    assert index(corpus, store, "--rebuild").exit_code == 0
    assert hs("ask", "How do I install it?", "--store", store, "--provider", "fake").exit_code == 0


def test_asking_with_another_provider_is_refused(corpus: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    assert index(corpus, store).exit_code == 0
    result = hs("ask", "How do I install it?", "--store", store, "--provider", "local")
    assert_clean_failure(result, 2, "provider 'fake'", "provider 'local'", "--provider fake")


def test_ask_json_output(corpus: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    assert index(corpus, store).exit_code == 0
    result = hs("ask", "How do I install hayswitch?", "--store", store, "--provider", "fake", "--json", "-k", "2")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["answer"] == "Install hayswitch with make install."
    assert payload["status"] == "extracted"  # the fake provider's echo fails the grounding check
    assert payload["evidence"][0]["text"] == "Install hayswitch with make install."
    assert payload["evidence"][0]["file"].endswith("install.txt")
    assert payload["provider"] == "fake"
    assert payload["model"] == "fake-chat"
    assert len(payload["sources"]) == 2
    assert payload["sources"][0]["file"].endswith("install.txt")
    assert payload["sources"][0]["passage"] == 1
    assert set(payload["usage"]) == {"prompt_tokens", "completion_tokens", "total_tokens"}


def test_ask_stream_prints_the_answer(corpus: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    assert index(corpus, store).exit_code == 0
    streamed = hs("ask", "How do I install hayswitch?", "--store", store, "--provider", "fake", "--stream")
    plain = hs("ask", "How do I install hayswitch?", "--store", store, "--provider", "fake")
    assert streamed.exit_code == 0, streamed.output
    assert streamed.stdout == plain.stdout


def test_ask_says_so_when_the_documents_do_not_hold_the_answer(corpus: Path, tmp_path: Path) -> None:
    store = tmp_path / "store.json"
    assert index(corpus, store).exit_code == 0
    result = hs("ask", "Who painted the Mona Lisa?", "--store", store, "--provider", "fake", "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["answer"] == "I could not find this in the indexed documents."
    assert payload["status"] == "not_found"
    assert payload["evidence"] == []
    assert payload["usage"] == {}  # nothing was generated
    assert len(payload["sources"]) == 3  # what was searched is still listed
    plain = hs("ask", "Who painted the Mona Lisa?", "--store", store, "--provider", "fake")
    assert plain.stdout.startswith("I could not find this in the indexed documents.\n")
    assert "Evidence:" not in plain.stdout


def test_provider_chosen_through_the_environment(corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HAYSWITCH_PROVIDER", "fake")
    store = tmp_path / "store"
    result = hs("index", corpus, "--store", store, "-q")
    assert result.exit_code == 0, result.output
    assert "embeddings: fake / fake-embed" in result.stdout
    assert hs("ask", "what?", "--store", store).exit_code == 0


def test_providers_command_still_works() -> None:
    result = hs("providers", "--json")
    assert result.exit_code == 0
    assert {"fake", "local"} <= {row["name"] for row in json.loads(result.stdout)}


# --------------------------------------------------------------------------- real local models


@pytest.mark.slow
def test_index_and_ask_with_the_local_models(corpus: Path, tmp_path: Path, local_provider: object) -> None:
    store = tmp_path / "store"
    result = hs("index", corpus, "--store", store, "-q")
    assert result.exit_code == 0, result.output
    assert "local / sentence-transformers/all-MiniLM-L6-v2, 384-d" in result.stdout
    answer = hs("ask", "How do I create a custom provider?", "--store", store, "--json", "--max-tokens", "24")
    assert answer.exit_code == 0, answer.output
    payload = json.loads(answer.stdout)
    assert payload["answer"].strip()
    assert payload["provider"] == "local"
    assert payload["model"] == "SmolLM2-135M-Instruct"
    assert payload["sources"][0]["file"].endswith("providers.md")
    assert 0 < payload["usage"]["completion_tokens"] <= 24


def test_markdown_is_cut_at_headings_outside_code_fences(tmp_path: Path) -> None:
    from hayswitch.cli.ingest import build_preprocessing_pipeline, read_file, split_files

    text = (
        "Intro line.\n# Guide\nGuide text.\n## Step 1\nDo this.\n```bash\n# not a heading\necho hi\n```\n"
        "## Step 2\nThen that.\n# Other\n\n"
    )
    (tmp_path / "guide.md").write_text(text)
    read = read_file(tmp_path / "guide.md")
    assert not isinstance(read, str)
    passages = split_files(build_preprocessing_pipeline(), [read])[read.key]
    assert [p.meta["passage"] for p in passages] == [1, 2, 3, 4]
    assert [p.meta["heading"] for p in passages] == ["guide", "Guide", "Guide > Step 1", "Guide > Step 2"]
    assert "# not a heading" in (passages[2].content or "")
    assert passages[2].meta["file_path"] == read.path
    assert passages[2].meta["file_sha256"] == read.sha256
