"""HayswitchEmbedder on a real (local, 2-CPU) Ray cluster: map_batches over an actor pool keeps ids
and reports failed records; an actor killed mid-run is replaced and every passage is embedded
exactly once."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from ray_helpers import CrashOnceEmbedder

from hayswitch.providers.fake import fake_embedding
from hayswitch.ray import STATUS_FAILED, STATUS_OK, HayswitchEmbedder, embed_dataset

pytestmark = pytest.mark.slow

RECORDS = [{"id": f"passage-{i:03d}", "text": f"passage {i} talks about subject {i % 7}"} for i in range(120)]


def rows(dataset: Any) -> list[dict[str, Any]]:
    return list(dataset.take_all())


def test_map_batches_with_an_actor_pool(ray_cluster: ModuleType) -> None:
    ray = ray_cluster
    records = [*RECORDS[:40], {"id": "bad-1", "text": "this one is poison"}]
    # Two blocks of ~20 rows, batches of 5: one task runs several calls and Ray concatenates their
    # outputs, with and without None vectors (the column type must be the same in every call).
    ds = ray.data.from_items(records, override_num_blocks=2)
    out = ds.map_batches(
        HayswitchEmbedder,
        fn_constructor_kwargs={
            "provider": "fake",
            "settings": {"dimension": 8, "fail_on": ["poison"], "fail_with": "invalid"},
            "request_batch_size": 1,  # the poison record fails alone
        },
        compute=ray.data.ActorPoolStrategy(size=2),
        batch_size=5,
        num_cpus=0.5,
    )
    result = {r["id"]: r for r in rows(out)}
    assert sorted(result) == sorted(r["id"] for r in records)
    for record in records[:40]:
        row = result[record["id"]]
        assert row["embedding_status"] == STATUS_OK
        assert row["text"] == record["text"]
        assert list(row["embedding"]) == fake_embedding(record["text"], 8)
        assert (row["embedding_provider"], row["embedding_model"], row["embedding_dimension"]) == (
            "fake",
            "fake-embed",
            8,
        )
    bad = result["bad-1"]
    assert bad["embedding_status"] == STATUS_FAILED
    assert bad["embedding_error"].startswith("InvalidRequestError: ")
    assert bad["embedding"] is None


def test_a_killed_actor_is_replaced_and_every_passage_is_embedded_once(ray_cluster: ModuleType, tmp_path: Path) -> None:
    ray = ray_cluster
    markers = tmp_path / "markers"
    markers.mkdir()
    ds = ray.data.from_items(RECORDS, override_num_blocks=12)
    out = embed_dataset(
        ds,
        workers=2,
        batch_size=10,
        num_cpus=0.5,
        embedder_cls=CrashOnceEmbedder,
        marker_dir=str(markers),
        crash_after=3,
        provider="fake",
        settings={"dimension": 8},
    )
    result = rows(out)
    killed = markers / "killed"
    assert killed.exists(), "the fault was not injected: no actor was killed"
    killed_pid = int(killed.read_text())
    ids = [r["id"] for r in result]
    assert sorted(ids) == [r["id"] for r in RECORDS]  # every passage, exactly once
    assert len(ids) == len(set(ids))
    texts = {r["id"]: r["text"] for r in RECORDS}
    for row in result:
        assert row["embedding_status"] == STATUS_OK
        assert list(row["embedding"]) == fake_embedding(texts[row["id"]], 8)
    # 12 batches of 10, plus the one whose output was lost with the killed actor, run again by a
    # live (restarted or other) actor.
    assert len(list(markers.glob("call-*"))) == len(RECORDS) // 10 + 1
    assert {row["actor_pid"] for row in result} - {killed_pid}
