"""`hayswitch index` keeps an embedding cache next to the index file by default."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from hayswitch.cache import EmbeddingCache
from hayswitch.cli import build_app
from hayswitch.cli.index import index_paths


def _corpus(root: Path) -> Path:
    folder = root / "corpus"
    folder.mkdir()
    for i in range(3):
        (folder / f"note{i}.md").write_text(
            f"# Note {i}\n\nParagraph {i} about caching embeddings.\n\nMore text {i}.\n"
        )
    return folder


def test_index_uses_the_cache_by_default_and_rebuild_makes_no_provider_call(tmp_path: Path) -> None:
    corpus = _corpus(tmp_path)
    store = tmp_path / ".hayswitch" / "store.json"
    first = index_paths([corpus], store_path=store, provider="fake", progress=False)
    cache_file = store.parent / "cache.sqlite"
    assert cache_file.is_file()
    assert first.embedded > 0
    assert first.cache_hits == 0
    rebuilt = index_paths([corpus], store_path=store, provider="fake", progress=False, rebuild=True)
    assert rebuilt.embedded == first.embedded
    assert rebuilt.cache_hits == first.embedded  # every passage served from the cache
    assert "from the embedding cache" in rebuilt.summary()
    with EmbeddingCache(cache_file) as cache:
        assert len(cache) == first.embedded


def test_no_cache_flag(tmp_path: Path) -> None:
    corpus = _corpus(tmp_path)
    store = tmp_path / "idx" / "store.json"
    result = CliRunner().invoke(
        build_app(), ["index", str(corpus), "--store", str(store), "--provider", "fake", "--no-cache", "--quiet"]
    )
    assert result.exit_code == 0, result.output
    assert not (store.parent / "cache.sqlite").exists()
    result = CliRunner().invoke(
        build_app(), ["index", str(corpus), "--store", str(store), "--provider", "fake", "--quiet", "--rebuild"]
    )
    assert result.exit_code == 0, result.output
    assert (store.parent / "cache.sqlite").is_file()


def test_cache_stats_and_clear_commands(tmp_path: Path) -> None:
    corpus = _corpus(tmp_path)
    store = tmp_path / "idx" / "store.json"
    index_paths([corpus], store_path=store, provider="fake", progress=False)
    cache_file = store.parent / "cache.sqlite"
    runner = CliRunner()
    stats = runner.invoke(build_app(), ["cache", "stats", "--path", str(cache_file)])
    assert stats.exit_code == 0, stats.output
    assert "fake / fake-embed (document, 64-d" in stats.output
    as_json = runner.invoke(build_app(), ["cache", "stats", "--path", str(cache_file), "--json"])
    assert '"entries"' in as_json.output
    refused = runner.invoke(build_app(), ["cache", "clear", "--path", str(cache_file)], input="n\n")
    assert refused.exit_code == 1
    cleared = runner.invoke(build_app(), ["cache", "clear", "--path", str(cache_file), "--yes"])
    assert cleared.exit_code == 0, cleared.output
    assert "removed" in cleared.output
    with EmbeddingCache(cache_file) as cache:
        assert len(cache) == 0
    missing = runner.invoke(build_app(), ["cache", "stats", "--path", str(tmp_path / "none.sqlite")])
    assert missing.exit_code != 0
    assert "no embedding cache" in missing.output
