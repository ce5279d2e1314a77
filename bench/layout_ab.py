"""Benchmark: dump ingest of a first and a second version with two checkouts, on the same files.

What a storage layout change costs at ingest: the same synthetic dumps (ingest/synthetic_dumps.py,
version 2 with 15 % of the cells re-rooted) are ingested into a fresh warehouse by checkout A
(`--a-code`, e.g. a worktree of the commit before the change) and by this checkout (B), each step
a child process of that checkout's own bench/dump_ingest.py (`child-ingest`, what `mwh ingest
--dump` runs), with its wall time, CPU seconds and peak RSS; then the file's size after each
version. A and B alternate within each round.

    python bench/layout_ab.py --rows 30000000 --a-code /work/wt-base --data /work/bench-data/ab

Big files go under --data (outside the repo); they are deleted at the end unless --keep.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.measure import REPO, disk_bytes, machine, run_child  # noqa: E402


def _fmt(x: float, unit: str) -> str:
    return f"{x / 1e9:.2f} GB" if unit == "GB" else f"{x:,.1f} {unit}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, required=True)
    ap.add_argument("--a-code", type=Path, required=True, help="the other checkout (A)")
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args(argv)
    from ingest.synthetic_dumps import SyntheticSynapses

    print(machine(), file=sys.stderr)
    base = a.data / f"ab{a.rows // 1_000_000}m"
    gen = SyntheticSynapses(a.rows)
    for i in (0, 1):
        if not (base / f"v{i}").exists():
            gen.write(base / f"v{i}", i)
    codes = {"A": a.a_code.resolve(), "B": REPO}
    res: dict[str, list[dict]] = {"A": [], "B": []}
    for _ in range(a.rounds):
        for label, code in codes.items():
            db = base / f"{label}.duckdb"
            for f in base.glob(f"{label}.duckdb*"):
                f.unlink()
            script = [sys.executable, str(code / "bench" / "dump_ingest.py"), "child-ingest", str(db)]
            first = run_child([*script, str(base / "v0"), "1"])
            size1 = disk_bytes(db)
            second = run_child([*script, str(base / "v1"), "2"])
            res[label].append(
                {
                    "first_s": first.seconds,
                    "first_cpu_s": first.cpu_s,
                    "first_peak_mb": first.peak_mb,
                    "bytes_after_first": size1,
                    "second_s": second.seconds,
                    "second_cpu_s": second.cpu_s,
                    "second_peak_mb": second.peak_mb,
                    "bytes_after_second": disk_bytes(db),
                    "rows": first.out["rows"],
                }
            )
            print(label, res[label][-1], file=sys.stderr, flush=True)
    print(f"{a.rows:,} rows; load at end {os.getloadavg()[0]:.1f}; A = {codes['A']}, B = {codes['B']}")
    print("| measurement | A | B | B / A |")
    print("|---|---|---|---|")
    med = {k: {f: statistics.median(r[f] for r in res[k]) for f in res[k][0]} for k in res}
    for f, unit in (
        ("first_s", "s"),
        ("first_cpu_s", "CPU-s"),
        ("first_peak_mb", "MB"),
        ("bytes_after_first", "GB"),
        ("second_s", "s"),
        ("second_cpu_s", "CPU-s"),
        ("second_peak_mb", "MB"),
        ("bytes_after_second", "GB"),
    ):
        av, bv = med["A"][f], med["B"][f]
        print(f"| {f} | {_fmt(av, unit)} | {_fmt(bv, unit)} | {bv / av:.2f}x |")
    for k in ("A", "B"):
        print(f"| first / second, {k} | {med[k]['first_s'] / med[k]['second_s']:.2f}x | | |")
    print(json.dumps(res))
    if not a.keep:
        shutil.rmtree(base)
    return 0


if __name__ == "__main__":
    sys.exit(main())
