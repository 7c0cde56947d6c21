"""``hayswitch index --engine ray`` on a local Ray cluster: the same passages with the same vectors
as ``--engine local``, incremental re-runs, and failed passages reported without losing the rest."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from typer.testing import CliRunner

from hayswitch import InvalidInputError
from hayswitch.cli import build_app
from hayswitch.cli.index import IndexReport, index_paths

pytestmark = pytest.mark.slow

SECTION = "Paragraph {n} of {name}: the {topic} pipeline reads files, splits them into passages and embeds them. " * 3


def write_corpus(root: Path) -> Path:
    corpus = root / "corpus"
    (corpus / "guide").mkdir(parents=True)
    for i in range(6):
        sections = "\n\n".join(
            f"## Step {s}\n\n" + SECTION.format(n=s, name=f"file {i}", topic=["ray", "local", "cache"][s % 3])
            for s in range(4)
        )
        (corpus / "guide" / f"page-{i}.md").write_text(f"# Page {i}\n\nIntro of page {i}.\n\n{sections}\n")
    (corpus / "notes.txt").write_text(" ".join(f"word{w}" for w in range(300)) + "\n")
    (corpus / "binary.txt").write_bytes(b"\x00\x01\x02")
    (corpus / "empty.md").write_text("   \n")
    (corpus / "headings.md").write_text("# Only\n\n## Headings\n")
    return corpus


def store_content(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
    """The store's manifest, its passages (id, text, meta, vector; sorted by id) and embedding space."""
    from hayswitch.cli.store import PassageStore, StoreLocation

    store = PassageStore.open(StoreLocation.parse(path))
    raw = store.get_passages(include=["documents", "metadatas", "embeddings"])
    docs = [
        {"id": i, "content": c, "meta": m, "embedding": [float(x) for x in e]}
        for i, c, m, e in zip(raw["ids"], raw["documents"], raw["metadatas"], raw["embeddings"], strict=True)
    ]
    files = {k: (r.path, r.sha256, r.passages) for k, r in store.manifest().items()}
    space = store.space() or {}
    return files, sorted(docs, key=lambda d: d["id"]), {k: v for k, v in space.items() if k != "splitter"}


def counts(report: IndexReport) -> tuple[int, ...]:
    return (
        report.files_seen,
        report.files_new,
        report.files_changed,
        report.files_unchanged,
        report.files_removed,
        report.files_skipped,
        report.passages_added,
        report.passages_updated,
        report.passages_removed,
        report.passages_unchanged,
        report.passages_total,
        report.embedded,
    )


def both(corpus: Path, tmp_path: Path, **options: Any) -> tuple[IndexReport, IndexReport]:
    common: dict[str, Any] = {"provider": "fake", "progress": False, "cache": False, **options}
    local = index_paths([corpus], store_path=tmp_path / "local" / "store", **common)
    ray = index_paths([corpus], store_path=tmp_path / "ray" / "store", engine="ray", workers=2, **common)
    return local, ray


def assert_same_stores(tmp_path: Path) -> list[dict[str, Any]]:
    local_files, local_docs, local_space = store_content(tmp_path / "local" / "store")
    ray_files, ray_docs, ray_space = store_content(tmp_path / "ray" / "store")
    assert ray_space == local_space
    assert ray_files == local_files
    assert [d["id"] for d in ray_docs] == [d["id"] for d in local_docs]
    for mine, theirs in zip(ray_docs, local_docs, strict=True):
        assert mine == theirs  # text, meta (heading, passage number, file, hash), vector
    return ray_docs


def test_ray_and_local_engines_build_the_same_index(ray_cluster: ModuleType, tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path)
    local, ray = both(corpus, tmp_path)
    assert counts(ray) == counts(local)
    assert local.files_new == 7
    assert local.files_skipped == 3  # binary.txt, empty.md (unreadable) and headings.md (no text)
    assert sorted(ray.warnings) == sorted(local.warnings)
    docs = assert_same_stores(tmp_path)
    assert len(docs) == local.passages_total > 20
    assert all(len(d["embedding"]) == 64 for d in docs)
    assert ray.ray_start_seconds is not None
    assert ray_cluster.is_initialized()  # a Ray this run did not start is left running

    # Incremental: nothing changed, then one file changed and one deleted.
    local, ray = both(corpus, tmp_path)
    assert ray.embedded == local.embedded == 0
    assert counts(ray) == counts(local)
    page = corpus / "guide" / "page-1.md"
    page.write_text(page.read_text() + "\n## Added\n\nA new section about actors and retries.\n")
    (corpus / "guide" / "page-2.md").unlink()
    local, ray = both(corpus, tmp_path)
    assert (ray.files_changed, ray.files_removed) == (1, 1)
    assert counts(ray) == counts(local)
    assert_same_stores(tmp_path)


def test_failed_passages_are_reported_and_the_rest_is_written(
    ray_cluster: ModuleType, ray_config: Path, tmp_path: Path
) -> None:
    corpus = write_corpus(tmp_path)
    poisoned = corpus / "guide" / "page-3.md"
    poisoned.write_text(poisoned.read_text() + "\n## Bad\n\nThis passage is POISON for the provider.\n")
    store = tmp_path / "store"
    # One passage per request: the poisoned passage fails alone (a failed request fails all it carried).
    args = ["index", str(corpus), "--store", str(store), "--profile", "flaky", "--engine", "ray", "--batch-size", "1"]
    result = CliRunner().invoke(build_app(), [*args, "-q", "--no-cache"])
    assert result.exit_code == 4, result.output
    assert "could not be embedded" in result.stderr
    assert "guide/page-3.md: not updated" in result.stderr
    files, docs, space = store_content(store)
    assert space == {"provider": "fake", "model": "fake-embed", "dimension": 32}
    assert len(files) == 6  # every file with text but the poisoned one
    assert not any(key.endswith("page-3.md") for key in files)
    assert len({d["id"] for d in docs}) == len(docs)

    poisoned.write_text(poisoned.read_text().replace("POISON", "fine"))
    report = index_paths(
        [corpus], store_path=store, profile="flaky", engine="ray", workers=1, progress=False, cache=False
    )
    assert (report.files_new, report.files_unchanged) == (1, 6)
    files, docs, _ = store_content(store)
    assert len(files) == 7
    assert len({d["id"] for d in docs}) == len(docs) == report.passages_total


def test_engine_options_are_checked(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path)
    runner = CliRunner()
    result = runner.invoke(build_app(), ["index", str(corpus), "--engine", "spark"])
    assert result.exit_code == 3
    assert "--engine must be 'local' or 'ray'" in result.stderr
    result = runner.invoke(build_app(), ["index", str(corpus), "--ray-address", "auto"])
    assert result.exit_code == 3
    assert "--ray-address needs --engine ray" in result.stderr
    with pytest.raises(InvalidInputError, match="--workers"):
        index_paths([corpus], store_path=tmp_path / "s.json", provider="fake", engine="ray", workers=0)
