"""``hayswitch index --engine ray``: the ingestion of ``hayswitch index`` as a Ray Data pipeline.

The stages, with the same building blocks as ``--engine local`` (:mod:`hayswitch.cli.ingest`,
:mod:`hayswitch.cli.store`):

1. the driver lists the files (``collect_files``, with ``--exclude``), takes the store's lock,
   checks the embedding space and removes the files that are gone, as the local engine does;
2. **read and split** (a pool of Ray actors, :class:`SplitFiles`, each building Haystack's
   preprocessing pipeline once): each file is read and hashed (``read_file``), compared with the
   hash the store holds, and, when new or changed, converted and split (``split_files``); a file
   yields its passage rows plus one file row;
3. **embed** (:func:`hayswitch.ray.embed_dataset`): ``map_batches(HayswitchEmbedder)`` over an actor
   pool, one provider per actor, with the same text composition as the local engine (the heading
   trail, then the passage) and the same embedding cache file;
4. **write** on the driver (:func:`collect_file_results`): the streamed rows are put back together
   per file; files whose passages are all embedded are committed in groups
   (``PassageStore.commit``: an upsert keyed by passage id), a file with a failed passage is left
   as it was (old passages and hash, so the next run retries it) and reported.

A file is written once, on the driver, after the last of its passages arrived, so an actor that
dies and has its batch retried cannot make a passage be written twice.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hayswitch.errors import ConfigurationError, EmbeddingFailedError, InvalidInputError

if TYPE_CHECKING:
    from haystack import Document

    from hayswitch.cli.index import IndexReport

__all__ = ["FileResult", "SplitFiles", "collect_file_results", "index_paths_ray", "ray_file_results"]

FILE_ROW_PREFIX = "file:"
SPLIT_BATCH_FILES = 16
"""Files per call of a read-and-split actor."""
RAY_BATCH_ROWS = 128
"""Rows (passages) per call of an embedding actor, at least: the unit an actor retries after a
crash; each call sends provider requests of ``batch_size`` passages."""


@dataclass
class FileResult:
    """One file as it comes out of the Ray pipeline.

    :param status: ``unchanged`` (same hash as in the store), ``skipped`` (unreadable; ``reason``
        says why), ``empty`` (readable, but no text to index), ``embedded`` (every passage has its
        vector) or ``failed`` (at least one passage could not be embedded; ``errors`` holds their
        messages).
    """

    key: str
    path: str
    sha256: str | None
    status: str
    reason: str | None = None
    passages: list[Document] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)


class SplitFiles:
    """Ray Data stage: read, hash, compare and split a batch of files (columns ``key``, ``shown``
    and ``known_sha256``; the last None for files the store does not hold).

    Outputs one row per passage of each new or changed file (``id``, ``content``, ``heading``,
    ``meta`` as JSON) and one row per file (``id`` = ``file:<key>``, ``file`` as JSON with the
    status, hash and passage count). All columns are strings or None.
    """

    def __init__(self) -> None:
        from hayswitch.cli.ingest import SPLITTER, build_preprocessing_pipeline

        self.pipeline = build_preprocessing_pipeline(SPLITTER)

    def __call__(self, batch: Mapping[str, Any]) -> dict[str, list[Any]]:
        from dataclasses import replace

        from hayswitch.cli.ingest import read_file, split_files

        out: dict[str, list[Any]] = {name: [] for name in ("key", "id", "content", "heading", "meta", "file")}

        def emit(key: str, row_id: str, content: Any, heading: Any, meta: Any, info: Any) -> None:
            for name, value in zip(out, (key, row_id, content, heading, meta, info), strict=True):
                out[name].append(value)

        infos: list[dict[str, Any]] = []
        changed: list[Any] = []
        for key, shown, known in zip(batch["key"], batch["shown"], batch["known_sha256"], strict=True):
            key, shown = str(key), str(shown)
            info: dict[str, Any] = {"key": key, "path": shown, "sha256": None, "passages": 0}
            infos.append(info)
            read = read_file(Path(key))
            if isinstance(read, str):
                info.update(status="skipped", reason=f"it {read}")
                continue
            info["sha256"] = read.sha256
            if known is not None and known == read.sha256:
                info["status"] = "unchanged"
            else:
                changed.append(replace(read, path=shown))  # as shown on the driver, whatever the worker's cwd
        by_key = split_files(self.pipeline, changed) if changed else {}
        for info in infos:
            if "status" in info:
                continue
            passages = by_key.get(info["key"]) or []
            if not passages:
                info.update(status="empty", reason="no text found in it")
                continue
            info.update(status="split", passages=len(passages))
            for doc in passages:
                emit(info["key"], doc.id, doc.content, doc.meta.get("heading"), json.dumps(doc.meta), None)
        for info in infos:
            emit(info["key"], FILE_ROW_PREFIX + info["key"], None, None, None, json.dumps(info))
        return out


def _document(row: Mapping[str, Any]) -> Document:
    from haystack import Document

    meta = json.loads(row["meta"])
    for name in ("embedding_provider", "embedding_model", "embedding_dimension"):
        meta[name] = row[name]
    vector = row["embedding"]
    return Document(id=str(row["id"]), content=row["content"], meta=meta, embedding=[float(x) for x in vector])


def collect_file_results(batches: Iterable[Mapping[str, Any]]) -> Iterator[FileResult]:
    """Put the streamed rows back together: yield each file once its file row and all of its
    passage rows have arrived (rows of one file may come in any order and any batch)."""
    infos: dict[str, dict[str, Any]] = {}
    docs: dict[str, list[Document]] = {}
    errors: dict[str, dict[str, str]] = {}

    def complete(key: str) -> FileResult | None:
        info = infos.get(key)
        if info is None or len(docs.get(key, [])) + len(errors.get(key, {})) < int(info["passages"]):
            return None
        infos.pop(key)
        passages, failed = docs.pop(key, []), errors.pop(key, {})
        status = info["status"]
        if status == "split":
            status = "failed" if failed else "embedded"
        passages.sort(key=lambda d: int(d.meta["passage"]))
        return FileResult(
            key=key,
            path=info["path"],
            sha256=info["sha256"],
            status=status,
            reason=info.get("reason"),
            passages=passages,
            errors=failed,
        )

    for batch in batches:
        names = list(batch)
        for values in zip(*(batch[n] for n in names), strict=True):
            row = dict(zip(names, values, strict=True))
            key = str(row["key"])
            if row["file"] is not None:
                infos[key] = json.loads(row["file"])
            elif row["embedding_status"] == "ok":
                docs.setdefault(key, []).append(_document(row))
            else:
                reason = row["embedding_error"] or "the passage has no text"
                errors.setdefault(key, {})[str(row["id"])] = str(reason)
            done = complete(key)
            if done is not None:
                yield done
    if infos:  # pragma: no cover - Ray returned fewer rows than the split stage produced
        missing = ", ".join(sorted(infos)[:5])
        raise InvalidInputError(f"The Ray pipeline lost passages of {len(infos)} file(s): {missing}.")


def ray_file_results(
    ray: Any,
    files: Sequence[tuple[str, str, str | None]],
    *,
    workers: int,
    batch_size: int | None,
    embedder_options: Mapping[str, Any],
) -> Iterator[FileResult]:
    """Run the read/split/embed pipeline over ``files`` (``(key, shown path, known sha256)``) and
    yield each file's result as soon as it is complete."""
    from hayswitch.ray import embed_dataset

    items = [{"key": k, "shown": s, "known_sha256": h} for k, s, h in files]
    dataset = ray.data.from_items(items, override_num_blocks=max(1, min(len(items), 4 * workers)))
    split = dataset.map_batches(
        SplitFiles,
        batch_size=SPLIT_BATCH_FILES,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(min_size=1, max_size=max(1, workers // 2)),
        num_cpus=0.5,
    )
    embedded = embed_dataset(
        split,
        workers=workers,
        batch_size=max(batch_size or 0, RAY_BATCH_ROWS),
        request_batch_size=batch_size,  # None: the provider's declared maximum
        text_column="content",
        id_column="id",
        meta_fields_to_embed=["heading"],
        **embedder_options,
    )
    yield from collect_file_results(embedded.iter_batches(batch_size=None, batch_format="numpy"))


def _local_cpus(workers: int) -> int:
    return max(os.cpu_count() or 1, workers + 1)


def index_paths_ray(
    paths: list[Path],
    *,
    store_path: Path | str,
    provider: str | None = None,
    profile: str | None = None,
    batch_size: int | None = None,
    rebuild: bool = False,
    progress: bool = True,
    on_warning: Callable[[str], None] | None = None,
    cache: bool | Path = True,
    exclude: Sequence[str] = (),
    lock_timeout: float = -1,
    ray_address: str | None = None,
    workers: int = 2,
) -> IndexReport:
    """The work behind ``hayswitch index --engine ray``: same arguments, store semantics and report
    as :func:`hayswitch.cli.index.index_paths`.

    :raises EmbeddingFailedError: some passages could not be embedded; every other file was
        committed, the files with failed passages keep their previous passages and hash.
    :raises ConfigurationError: Ray is not installed, or the workers resolve another embedding
        provider/model than this process.
    """
    from tqdm import tqdm

    from hayswitch.api import resolve_provider
    from hayswitch.cli.index import GROUP_PASSAGES, _remove_created, open_store, prepare_run
    from hayswitch.cli.ingest import SPLITTER
    from hayswitch.cli.store import (
        FileRecord,
        FileUpdate,
        PassageStore,
        display_path,
    )
    from hayswitch.ray import require_ray, start_ray

    started = time.perf_counter()
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise InvalidInputError(f"--workers must be a positive integer, got {workers!r}.")
    ray = require_ray()
    run = prepare_run(paths, store_path=store_path, exclude=exclude, cache=cache, on_warning=on_warning)
    location, report, cache_path, warn = run.location, run.report, run.cache_path, run.warn

    # The embedding space as this (driver) process resolves the configuration; the actors resolve
    # it again from theirs, and what they embedded with is checked against it.
    cls, validated, _ = resolve_provider(provider, profile=profile)
    with cls(validated) as instance:
        current = dict(instance.embedding_space())
        if current.get("dimension") is None:
            probe = instance.embed_documents(["dimension check"])
            current["dimension"] = probe.dimension or (len(probe.vectors[0]) if probe.vectors else None)

    created = location.path is not None and not location.path.exists()
    committed = False
    failed: dict[str, str] = {}
    owned = False
    try:
        with PassageStore.lock(location, timeout=lock_timeout, on_wait=warn):
            opened = open_store(run, paths, rebuild=rebuild, current=current)
            store: PassageStore | None = opened.store
            space, manifest = opened.space, opened.manifest
            committed = committed or opened.committed

            todo: list[tuple[str, str, str | None]] = []
            cwd = Path.cwd().resolve()
            for key in run.keys:
                known = manifest.get(key)
                shown = display_path(Path(key), cwd, resolved=True)
                todo.append((key, shown, known.sha256 if known is not None else None))

            updates: list[FileUpdate] = []
            removed: list[FileRecord] = []
            pending_passages = 0

            def commit() -> None:
                nonlocal store, space, committed, pending_passages
                if not updates and not removed:
                    return
                if store is None:
                    store = PassageStore.open_for_indexing(location)
                if space is None and updates:
                    first = updates[0].documents[0].meta
                    space = {"provider": current["provider"], "model": current["model"]}
                    space["dimension"] = int(first["embedding_dimension"])
                    store.record_space(space, SPLITTER)
                committed = True  # (set first: Ctrl-C is raised only after the commit is whole)
                store.commit(updates, removed)
                for update in updates:
                    manifest[update.record.key] = update.record
                updates.clear()
                removed.clear()
                pending_passages = 0

            ray_started = time.perf_counter()
            # A cluster this run starts (or connects to) is released at the end; a Ray already
            # initialised in this process (a notebook, a test session) is left as it was. With no
            # file to look at (all gone or excluded), Ray is not started at all.
            owned = bool(todo) and not ray.is_initialized()
            if todo:
                start_ray(ray_address, num_cpus=None if ray_address else _local_cpus(workers))
                report.ray_start_seconds = time.perf_counter() - ray_started
            options = {"provider": provider, "profile": profile, "cache": str(cache_path) if cache_path else None}
            bar = tqdm(total=len(todo), unit="file", desc="Indexing (ray)", disable=not progress, dynamic_ncols=True)
            with warnings.catch_warnings(), bar:
                # Small corpora give the embedding pool fewer blocks than actors; Ray says so at length.
                warnings.filterwarnings("ignore", message="The minimum number of concurrent actors")
                results: Iterable[FileResult] = (
                    ray_file_results(ray, todo, workers=workers, batch_size=batch_size, embedder_options=options)
                    if todo
                    else ()
                )
                for result in results:
                    bar.update(1)
                    previous = manifest.get(result.key)
                    if result.status in ("skipped", "empty"):
                        # A file that could not be read (skipped) is not seen; one without text
                        # (empty) is, as with --engine local.
                        report.files_seen += result.status == "empty"
                        warn(f"{result.path}: skipped, {result.reason}")
                        report.files_skipped += 1
                        if previous is not None:  # an emptied or unreadable file serves no old text
                            manifest.pop(result.key)
                            removed.append(previous)
                            report.files_removed += 1
                            report.passages_removed += previous.passages
                        continue
                    report.files_seen += 1
                    if result.status == "unchanged":
                        report.files_unchanged += 1
                        report.passages_unchanged += previous.passages if previous is not None else 0
                        continue
                    if result.status == "failed":
                        failed.update(result.errors)  # the file keeps its previous passages and hash
                        warn(f"{result.path}: not updated, {len(result.errors)} passage(s) could not be embedded")
                        continue
                    _check_provenance(result.passages, current)
                    report.embedded += len(result.passages)
                    record = FileRecord(
                        key=result.key, path=result.path, sha256=str(result.sha256), passages=len(result.passages)
                    )
                    updates.append(FileUpdate(record=record, documents=result.passages, previous=previous))
                    if previous is None:
                        report.files_new += 1
                        report.passages_added += len(result.passages)
                    else:
                        report.files_changed += 1
                        report.passages_updated += len(result.passages)
                        report.passages_removed += max(0, previous.passages - len(result.passages))
                    pending_passages += len(result.passages)
                    if pending_passages >= GROUP_PASSAGES:
                        commit()
                commit()
            if report.files_seen == 0 and not committed and not rebuild and not failed:
                raise InvalidInputError(
                    "None of the given files could be read as text (see the warnings above); nothing to index."
                )
            report.embedding = {k: v for k, v in (space or {}).items() if k != "splitter"} or None
            report.passages_total = store.total() if store is not None else 0
            if store is not None:
                store.finish()
    except BaseException:
        if created and not committed and location.path is not None:
            _remove_created(location.path)
        raise
    finally:
        if owned:
            ray.shutdown()
    if created and not committed and location.path is not None:
        _remove_created(location.path)
    report.seconds = time.perf_counter() - started
    if failed:
        raise EmbeddingFailedError(
            f"{len(failed)} passage(s) could not be embedded; the other files were indexed into {location.spec}, "
            "the files with failed passages kept their previous version (re-run to retry them).",
            failed_ids=sorted(failed),
        )
    return report


def _check_provenance(passages: Sequence[Document], current: Mapping[str, Any]) -> None:
    for doc in passages:
        got = (doc.meta.get("embedding_provider"), doc.meta.get("embedding_model"))
        if got != (current.get("provider"), current.get("model")) or (
            current.get("dimension") and doc.meta.get("embedding_dimension") != current["dimension"]
        ):
            raise ConfigurationError(
                f"The Ray workers embedded with {got[0]}/{got[1]} ({doc.meta.get('embedding_dimension')}-d), but "
                f"this process resolves the configuration to {current.get('provider')}/{current.get('model')} "
                f"({current.get('dimension')}-d). Give the workers the same configuration (--provider/--profile, "
                "HAYSWITCH_* variables, hayswitch.toml in their working directory)."
            )
