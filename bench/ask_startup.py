"""The whole ``hayswitch ask --json`` process, two source trees side by side (not a test).

Runs ``hayswitch ask`` on an existing store (built by ``hayswitch index``, e.g. by
``store_bench.py``) with the ``fake`` provider at 384 dimensions, as ``store_bench.py`` does,
alternating between the trees (``--before`` / ``--after``: checkouts of hayswitch), so that a
change in the machine's load hits both alike. Reports per tree the median wall time, the median
CPU time (user + system of the child, less sensitive to other work on the machine) and the peak
RSS. Each tree's bytecode is compiled once, into a cache outside the checkout
(``PYTHONPYCACHEPREFIX``), before anything is measured: an installed hayswitch has its bytecode
(``pip install`` compiles it; a source checkout writes it on first use) unless
``PYTHONDONTWRITEBYTECODE`` is set, as it may be in a sandbox. ``--no-bytecode`` measures the
sandbox case instead (every module compiled in every run).

    nice -n 10 .venv/bin/python bench/ask_startup.py --store /tmp/s25/store --before ../main --after . --runs 5

The store is only read (``ask`` writes nothing); with ``--copy`` it is copied to a temporary
folder first.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from store_bench import QUESTIONS  # the questions of the store benchmark (this folder)

SOURCES = (
    "core/src",
    "providers/gradient/src",
    "providers/local/src",
    "providers/openai/src",
    "examples/provider-template/src",
)


def tree_env(root: Path, cache: Path | None) -> dict[str, str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(str(root / p) for p in SOURCES if (root / p).is_dir()),
        "HAYSWITCH_PROVIDER": "fake",
        "HAYSWITCH_FAKE__DIMENSION": "384",
        "HF_HUB_OFFLINE": "1",
        "ANONYMIZED_TELEMETRY": "False",
    }
    env.pop("PYTHONPYCACHEPREFIX", None)
    if cache is None:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    else:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(cache)
    return env


def ask_once(env: dict[str, str], store: Path, question: str, cwd: Path) -> dict[str, Any]:
    cmd = [sys.executable, "-c", "from hayswitch.cli import main; main()", "ask", question, "--store", str(store)]
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen([*cmd, "--json"], env=env, cwd=cwd, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"ask failed ({os.waitstatus_to_exitcode(status)}):\n{stderr[-3000:]}")
    answer = json.loads(stdout)
    return {
        "seconds": seconds,
        "cpu": usage.ru_utime + usage.ru_stime,
        "peak_mb": usage.ru_maxrss / 1024,
        "sources": [(s["file"], s["passage"]) for s in answer["sources"]],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", type=Path, required=True, help="a store built by 'hayswitch index'")
    parser.add_argument("--before", type=Path, required=True, help="a hayswitch checkout (e.g. main)")
    parser.add_argument("--after", type=Path, required=True, help="another hayswitch checkout")
    parser.add_argument("--runs", type=int, default=5, help="runs per tree, interleaved (default 5)")
    parser.add_argument("--no-bytecode", action="store_true", help="compile every module in every run")
    parser.add_argument("--copy", action="store_true", help="ask a temporary copy of the store")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="hs-ask-startup-") as tmp:
        work = Path(tmp)
        store = args.store.resolve()
        if args.copy:
            shutil.copytree(store, work / "store", symlinks=True)
            store = work / "store"
        trees = {"before": args.before.resolve(), "after": args.after.resolve()}
        envs = {
            name: tree_env(root, None if args.no_bytecode else work / f"pycache-{name}") for name, root in trees.items()
        }
        # One unmeasured run each: compiles the bytecode (unless --no-bytecode), warms the page cache.
        for name in trees:
            ask_once(envs[name], store, "warm up", work)
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in trees}
        load_start = os.getloadavg()
        for i in range(args.runs):
            for name in trees:
                runs[name].append(ask_once(envs[name], store, QUESTIONS[i % len(QUESTIONS)], work))
        load_end = os.getloadavg()

    results: dict[str, Any] = {
        "store": str(args.store),
        "bytecode": not args.no_bytecode,
        "load_start": [round(x, 2) for x in load_start],
        "load_end": [round(x, 2) for x in load_end],
    }
    print(f"load average: {results['load_start']} -> {results['load_end']}")
    for name, root in trees.items():
        r = runs[name]
        results[name] = {
            "tree": str(root),
            "seconds": round(statistics.median(x["seconds"] for x in r), 3),
            "cpu": round(statistics.median(x["cpu"] for x in r), 3),
            "peak_mb": round(max(x["peak_mb"] for x in r), 1),
            "runs": [round(x["seconds"], 3) for x in r],
        }
        print(
            f"{name:6s} {root}: median {results[name]['seconds']:.2f} s (CPU {results[name]['cpu']:.2f} s), "
            f"peak {results[name]['peak_mb']} MB, runs {results[name]['runs']}"
        )
    same = all(b["sources"] == a["sources"] for b, a in zip(runs["before"], runs["after"], strict=True))
    results["same_sources"] = same
    results["speedup"] = round(results["before"]["seconds"] / results["after"]["seconds"], 2)
    print(f"after vs before: {results['speedup']}x; the same sources for every question: {same}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
