"""``make bench`` / ``python -m bench``: run every benchmark side by side, then write the tables.

1. ``bench/resilience_bench.py`` (which runs ``bench/gradient_bench.py`` first): cold embedding vs
   gradient-haystack 0.4.0 and the raw SDK, re-indexing with the cache, the component overhead,
   and throughput under injected 429s; results in ``bench/results/*.json``.
2. ``bench/report.py``: the tables of ``bench/README.md`` and ``docs/performance.md``.

Arguments are passed to ``resilience_bench.py`` (e.g. ``python -m bench --docs 2000 --skip-peer``).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import report
import resilience_bench


def main(argv: list[str] | None = None) -> int:
    code = resilience_bench.main(argv)
    return code or report.main([])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
