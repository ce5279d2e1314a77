"""Benchmark: where a warm `partners` call goes, piece by piece, on one connection.

`partners(root, v)` is the lookup plus the partners' cell types and proofread flag plus the checks
that make its answer complete or an error (issue 11). This times each piece as a query of its own,
the pieces in turn (so none is warmer than the others), and prints DuckDB's profiler split of the
whole macro into binding, optimizing and execution: the figures behind docs/benchmarks.md
sections 9-11.

    python bench/partners_floor.py --db B.duckdb --version 1 --root 864691136166535180
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.measure import in_turn, machine  # noqa: E402


def pieces(root: int, v: int) -> dict[str, str]:
    syn = f"partner_synapses({root}, {v}, 'output')"
    lookup = f"(SELECT partner_root_id, count(*) AS syn_count FROM {syn} GROUP BY 1) g"
    return {
        "partners (the whole macro)": f"FROM partners({root}, {v})",
        "the lookup alone": f"SELECT * FROM {lookup}",
        "lookup + partner cell types (as partners: cell_types_of the partner roots)": f"SELECT g.*, t.cell_type "
        f"FROM {lookup} LEFT JOIN cell_types_of({v}, (SELECT list(DISTINCT s.partner_root_id) FROM {syn} s)) t "
        "ON t.pt_root_id = g.partner_root_id",
        "lookup + partner cell types (the whole cell_types view)": f"SELECT g.*, t.cell_type FROM {lookup} "
        f"LEFT JOIN cell_types t ON t.version = {v} AND t.pt_root_id = g.partner_root_id",
        "lookup + proofread flag": f"SELECT g.*, pr.pt_root_id IS NOT NULL FROM {lookup} "
        f"LEFT JOIN (SELECT pt_root_id FROM proofread_roots WHERE version = {v}) pr ON pr.pt_root_id = g.partner_root_id",
        "require_synapses_of": f"SELECT require_synapses_of({root}, {v})",
        "  root_known (inside it)": f"SELECT root_known({root}, {v})",
        "require_snapshot": f"SELECT require_snapshot({v}, 'proofreading')",
        "  ingest_args (inside it)": f"SELECT ingest_args({v})",
    }


def profile(con, sql: str, reps: int) -> dict[str, float]:
    """Medians of DuckDB's own timings for `sql` (ms): binding, optimizer, execution CPU, total."""
    out: dict[str, list[float]] = {}
    path = Path(tempfile.mkdtemp()) / "profile.json"
    for _ in range(reps):
        con.execute(
            f"SET enable_profiling = 'json'; SET profiling_output = '{path}'; SET profiling_mode = 'detailed'"
        )
        con.execute(sql).fetchall()
        con.execute("SET enable_profiling = 'no_output'")
        d = json.loads(path.read_text())
        for key, value in (
            ("binding", d["planner"]["binding_time"]),
            ("optimizer", d["optimizer"]["total_time"]),
            ("optimizer: join order", d["optimizer"].get("join_order", 0.0)),
            ("execution CPU", d["query"]["cpu_time"]),
            ("total (profiled)", d["query"]["total_time"]),
        ):
            out.setdefault(key, []).append(value)
    path.unlink(missing_ok=True)
    return {k: statistics.median(v) * 1000 for k, v in out.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", required=True)
    ap.add_argument("--version", type=int, required=True)
    ap.add_argument("--root", type=int, required=True)
    ap.add_argument("--reps", type=int, default=25)
    a = ap.parse_args(argv)
    import warehouse

    print(machine(), file=sys.stderr)
    qs = pieces(a.root, a.version)
    with warehouse.open(Path(a.db)) as wh:
        times = in_turn(wh.con, qs, a.reps)
        split = profile(wh.con, qs["partners (the whole macro)"], 10)
    print(
        f"load {os.getloadavg()[0]:.1f}; {a.db}, root {a.root}, version {a.version}; medians of {a.reps - 3}"
    )
    print("| piece | median | min |")
    print("|---|---|---|")
    for name, ts in times.items():
        print(f"| {name} | {statistics.median(ts[3:]) * 1000:.1f} ms | {min(ts) * 1000:.1f} ms |")
    print("| DuckDB's profiler, the whole macro | | |")
    for key, ms in split.items():
        print(f"| {key} | {ms:.1f} ms | |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
