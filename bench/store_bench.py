"""The document store at size: ``hayswitch index`` / ``ask`` over a generated corpus (not a test).

A corpus of N passages is generated as Markdown files of 25 sections each (one passage per
section, 40-70 words; so 25,000 passages are 1,000 files, as in issue 12's measurement). Then,
each step in its own process with its peak memory (``ru_maxrss`` of that child):

1. ``hayswitch index`` with the ``fake`` provider at 384 dimensions (no embedding cache, so every
   passage is embedded and written);
2. the whole ``hayswitch ask`` process, three times (median wall time);
3. ``ask`` retrieval only (question embedding + Chroma search, no generation) in one warm
   process: p50/p95 of 50 questions;
4. re-indexing after editing one file.

With ``--compare-json REF`` the same corpus is indexed and asked with the JSON store of
hayswitch at git ref REF (checked out into a temporary worktree; e.g. ``main`` before issue 12),
side by side.

    nice -n 10 .venv/bin/python bench/store_bench.py --passages 25000 --compare-json 6c223d4
    nice -n 10 .venv/bin/python bench/store_bench.py --passages 1000000 --json bench/results/store-1m.json

The index step's progress bar goes to ``<work>/index.log`` and its RSS, every 10 s, to
``<work>/index-rss.txt``; results are saved after each step. ``--reuse-store --work W`` measures
ask, retrieval and re-indexing on the store already in W (for example of a run that was stopped).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PER_FILE = 25
WORDS = [
    "provider",
    "embedding",
    "pipeline",
    "passage",
    "store",
    "index",
    "question",
    "answer",
    "model",
    "vector",
    "cache",
    "batch",
    "server",
    "token",
    "document",
    "retriever",
    "splitter",
    "converter",
    "heading",
    "section",
    "chunk",
    "query",
    "latency",
    "memory",
    "corpus",
    "file",
    "folder",
    "install",
    "configure",
    "profile",
    "plugin",
    "registry",
    "contract",
    "schema",
    "stream",
    "timeout",
    "retry",
    "error",
    "message",
    "backend",
    "garden",
    "river",
    "mountain",
    "coffee",
    "engine",
    "bicycle",
    "harbour",
    "lantern",
    "meadow",
    "orchard",
    "pepper",
    "quartz",
    "saddle",
    "tunnel",
    "violet",
    "walnut",
    "yellow",
    "zephyr",
    "anchor",
    "basket",
    "candle",
    "dragon",
    "falcon",
    "glacier",
    "hammer",
    "island",
    "jungle",
    "kettle",
]
QUESTIONS = [
    "How do I configure a provider profile?",
    "What does the embedding cache store?",
    "Which retriever does the pipeline use?",
    "How are passages split into chunks?",
    "What happens when the server times out?",
]


def generate(corpus: Path, passages: int, seed: int = 12) -> int:
    """Write ``passages`` passages as Markdown files of 25 sections; returns the file count."""
    rng = random.Random(seed)
    files = (passages + PER_FILE - 1) // PER_FILE
    for f in range(files):
        folder = corpus / f"part{f // 1000:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        sections = min(PER_FILE, passages - f * PER_FILE)
        lines = [f"# Document {f}\n"]
        for s in range(sections):
            words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(40, 70)))
            lines.append(f"## Section {s} of {f}\n\n{words.capitalize()}.\n")
        (folder / f"doc{f:06d}.md").write_text("\n".join(lines), encoding="utf-8")
    return files


def run_measured(
    cmd: list[str], *, env: dict[str, str], cwd: Path, trace: Path | None = None, log: Path | None = None
) -> dict[str, Any]:
    """Run ``cmd``: its wall seconds, its peak RSS (MB, ``ru_maxrss`` from ``os.wait4``) and its stdout.

    ``trace``: append ``<seconds> <RSS MB>`` of the child every 10 s (partial figures for a long run
    that may not finish); ``log``: the child's stderr (e.g. its progress bar) goes there.
    """
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        err_file = log.open("w") if log is not None else err
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=err_file, text=True)
        done = threading.Event()
        sampler = threading.Thread(target=_sample_rss, args=(proc.pid, trace, started, done), daemon=True)
        if trace is not None:
            sampler.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            done.set()
            if log is not None:
                err_file.close()
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read() if log is None else log.read_text()[-3000:]
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:6])} failed ({proc.returncode}):\n{stderr[-3000:]}")
    return {"seconds": round(seconds, 3), "peak_mb": round(usage.ru_maxrss / 1024, 1), "stdout": stdout}


def _sample_rss(pid: int, trace: Path | None, started: float, done: threading.Event) -> None:
    if trace is None:
        return
    with trace.open("a") as sink:
        while not done.wait(10):
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                return
            rss = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
            sink.write(f"{time.perf_counter() - started:.0f} {rss / 1024:.0f}\n")
            sink.flush()


def cli(pythonpath: str) -> tuple[list[str], dict[str, str]]:
    env = {
        **os.environ,
        "PYTHONPATH": pythonpath,
        "HAYSWITCH_PROVIDER": "fake",
        "HAYSWITCH_FAKE__DIMENSION": "384",
        "HF_HUB_OFFLINE": "1",
        "ANONYMIZED_TELEMETRY": "False",
        # Bytecode as an installed hayswitch has it (pip compiles it; a checkout writes it on first
        # use), kept outside the checkouts. With PYTHONDONTWRITEBYTECODE (set in some sandboxes)
        # every process would compile every hayswitch module again: 0.3-0.4 s of each 'ask'.
        "PYTHONPYCACHEPREFIX": str(Path(tempfile.gettempdir()) / "hs-bench-pycache"),
    }
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return [sys.executable, "-c", "from hayswitch.cli import main; main()"], env


def median_ask(base: list[str], env: dict[str, str], store: str, cwd: Path, repeat: int = 3) -> dict[str, Any]:
    runs = [
        run_measured([*base, "ask", QUESTIONS[i % len(QUESTIONS)], "--store", store, "--json"], env=env, cwd=cwd)
        for i in range(repeat)
    ]
    return {
        "seconds": statistics.median(r["seconds"] for r in runs),
        "peak_mb": max(r["peak_mb"] for r in runs),
        "runs": [r["seconds"] for r in runs],
        "sources": json.loads(runs[0]["stdout"])["sources"],
    }


RETRIEVAL = """
import json, statistics, sys, time
from hayswitch.cli import _deferred_imports
_deferred_imports.install()  # (as the hayswitch command does)
from hayswitch.cli.ask import retrieve_passages
store, questions = sys.argv[1], json.loads(sys.argv[2])
retrieve_passages(questions[0], store_path=store)  # open the store, load its index (warm-up)
times = []
for i in range(50):
    t = time.perf_counter()
    r = retrieve_passages(questions[i % len(questions)] + f" {i}", store_path=store, top_k=3)
    times.append((time.perf_counter() - t) * 1000)
    assert len(r.documents) == 3
times.sort()
print(json.dumps({"p50_ms": round(statistics.median(times), 1), "p95_ms": round(times[int(len(times) * 0.95)], 1)}))
"""


def bench_chroma(
    corpus: Path, work: Path, save: Callable[[dict[str, Any]], None], *, reuse: bool = False
) -> dict[str, Any]:
    """Index, ask, retrieval and re-index with this checkout's Chroma store; ``save`` is called with
    the results so far after each step (a long run that is stopped keeps what it measured).
    ``reuse``: measure on the store already in ``work`` (no index step)."""
    base, env = cli(os.pathsep.join(str(ROOT / p) for p in ("core/src",)))
    store = str(work / "store")
    result: dict[str, Any] = {}
    if reuse:
        result["store_mb"] = round(sum(f.stat().st_size for f in Path(store).rglob("*") if f.is_file()) / 2**20, 1)
        return _after_index(base, env, store, corpus, work, result, save)
    shutil.rmtree(store, ignore_errors=True)  # (a reused --work folder: index from scratch)
    print(f"hayswitch (Chroma store): index ... (progress: {work / 'index.log'}, RSS: {work / 'index-rss.txt'})")
    (work / "index-rss.txt").unlink(missing_ok=True)
    idx = run_measured(
        [*base, "index", str(corpus), "--store", store, "--no-cache"],
        env={**env, "TQDM_MININTERVAL": "15"},
        cwd=work,
        trace=work / "index-rss.txt",
        log=work / "index.log",
    )
    result["index"] = {"seconds": idx["seconds"], "peak_mb": idx["peak_mb"], "summary": idx["stdout"].strip()}
    result["store_mb"] = round(sum(f.stat().st_size for f in Path(store).rglob("*") if f.is_file()) / 2**20, 1)
    print(f"  {idx['seconds']:.1f}s, peak {idx['peak_mb']} MB, store {result['store_mb']} MB", flush=True)
    save(result)
    return _after_index(base, env, store, corpus, work, result, save)


def _after_index(
    base: list[str],
    env: dict[str, str],
    store: str,
    corpus: Path,
    work: Path,
    result: dict[str, Any],
    save: Callable[[dict[str, Any]], None],
) -> dict[str, Any]:
    print("  ask (whole process) ...", flush=True)
    result["ask"] = median_ask(base, env, store, work)
    save(result)
    print(f"  {result['ask']['seconds']:.2f}s, peak {result['ask']['peak_mb']} MB", flush=True)
    print("  retrieval p50 (warm) ...", flush=True)
    ret = run_measured([sys.executable, "-c", RETRIEVAL, store, json.dumps(QUESTIONS)], env=env, cwd=work)
    result["retrieval"] = {**json.loads(ret["stdout"]), "peak_mb": ret["peak_mb"]}
    save(result)
    print(f"  {result['retrieval']}", flush=True)

    def reindex(label: str, key: str) -> None:
        print(f"  re-index, {label} ...", flush=True)
        run = run_measured([*base, "index", str(corpus), "--store", store, "-q", "--no-cache"], env=env, cwd=work)
        result[key] = {"seconds": run["seconds"], "peak_mb": run["peak_mb"], "summary": run["stdout"].strip()}
        print(f"  {run['seconds']:.1f}s, peak {run['peak_mb']} MB", flush=True)
        save(result)

    reindex("nothing changed", "reindex_no_change")
    edited = corpus / "part000" / "doc000000.md"
    edited.write_text(edited.read_text() + "\n## Added\n\nOne more section about the lantern harbour.\n")
    reindex("after editing one file", "reindex_one_file")
    return result


def bench_json(corpus: Path, work: Path, ref: str) -> dict[str, Any]:
    tree = work / "json-ref"
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), ref], check=True, capture_output=True
    )
    try:
        base, env = cli(str(tree / "core" / "src"))
        store = str(work / "store.json")
        Path(store).unlink(missing_ok=True)
        result: dict[str, Any] = {"ref": ref}
        print(f"hayswitch at {ref} (JSON store): index ...", flush=True)
        idx = run_measured([*base, "index", str(corpus), "--store", store, "-q", "--no-cache"], env=env, cwd=work)
        result["index"] = {"seconds": idx["seconds"], "peak_mb": idx["peak_mb"], "summary": idx["stdout"].strip()}
        result["store_mb"] = round(Path(store).stat().st_size / 2**20, 1)
        print(f"  {idx['seconds']:.1f}s, peak {idx['peak_mb']} MB, store {result['store_mb']} MB", flush=True)
        result["ask"] = median_ask(base, env, store, work)
        print(f"  ask {result['ask']['seconds']:.2f}s, peak {result['ask']['peak_mb']} MB", flush=True)
        edited = corpus / "part000" / "doc000001.md"
        edited.write_text(edited.read_text() + "\n## Added\n\nOne more section.\n")
        again = run_measured([*base, "index", str(corpus), "--store", store, "-q", "--no-cache"], env=env, cwd=work)
        result["reindex_one_file"] = {"seconds": again["seconds"], "peak_mb": again["peak_mb"]}
        print(f"  re-index {again['seconds']:.1f}s", flush=True)
        return result
    finally:
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False, capture_output=True
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--passages", type=int, default=25_000)
    parser.add_argument("--compare-json", metavar="REF", help="also run the JSON store of this git ref")
    parser.add_argument("--work", type=Path, help="working folder (default: a temporary one, removed after)")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument(
        "--reuse-store",
        action="store_true",
        help="measure ask, retrieval and re-index on the store already in --work (e.g. of a run that was stopped)",
    )
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="hs-store-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        corpus = work / "corpus"
        print(f"generating {args.passages:,} passages ...", flush=True)
        started = time.perf_counter()
        marker = corpus / ".generated"
        if marker.is_file() and marker.read_text() == str(args.passages):
            files = (args.passages + PER_FILE - 1) // PER_FILE  # (--work reused: same corpus)
        else:
            shutil.rmtree(corpus, ignore_errors=True)
            files = generate(corpus, args.passages)
            marker.write_text(str(args.passages))
        print(f"  {files:,} files in {time.perf_counter() - started:.1f}s", flush=True)
        results: dict[str, Any] = {
            "passages": args.passages,
            "files": files,
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "load_average_start": round(os.getloadavg()[0], 2),
            },
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        if args.compare_json:
            results["json_store"] = bench_json(corpus, work, args.compare_json)

        def save(partial: dict[str, Any]) -> None:
            if args.json:
                args.json.parent.mkdir(parents=True, exist_ok=True)
                args.json.write_text(json.dumps({**results, "chroma_store": partial, "partial": True}, indent=2) + "\n")

        results["chroma_store"] = bench_chroma(corpus, work, save, reuse=args.reuse_store)
        results["machine"]["load_average_end"] = round(os.getloadavg()[0], 2)
        if args.compare_json:
            old, new = results["json_store"]["ask"], results["chroma_store"]["ask"]
            results["ask_speedup"] = round(old["seconds"] / new["seconds"], 2)
            results["ask_memory_ratio"] = round(old["peak_mb"] / new["peak_mb"], 2)
            print(f"ask: {results['ask_speedup']}x faster, {results['ask_memory_ratio']}x less memory", flush=True)
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(results, indent=2) + "\n")
        print(json.dumps({k: v for k, v in results.items() if k not in ("json_store", "chroma_store")}, indent=2))
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
