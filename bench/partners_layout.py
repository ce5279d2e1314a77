"""Benchmark: one neuron at full scale, the root-ordered synapse layout against the one before it.

Builds one version of N synthetic synapses (ingest/synthetic_dumps.py's SyntheticSynapses, with its
proofreading table, and nucleus and cell-type tables of minnie65_public's sizes: 94,000 nuclei, an
automatic type for each, 2,000 manual types, 300 roots with two nuclei) through the store's appender,
as a dump ingest does but without writing and parsing a CSV (the ingest itself is benchmarked in
bench/dump_ingest.py). `--code DIR` builds with another checkout of the package (e.g. a worktree of
the commit before the layout change), so the old and the new layout hold the same rows. Then,
alternating A/B in one run, each a fresh child process per repetition:

  * `partners(root, v)` both directions, cold (first query of the process) and warm (repeated);
  * `neuron_summary(root, v)`;
  * `mwh neuron ROOT --version V --no-report` as a whole process;

and reports medians, ratios and the files' sizes (the file and its .wal, per table too).

    python bench/partners_layout.py build --rows 100000000 --db /work/bench-data/perf/new.duckdb
    python bench/partners_layout.py build --rows 100000000 --db /work/bench-data/perf/old.duckdb --code /work/wt-base
    python bench/partners_layout.py compare --a /work/bench-data/perf/old.duckdb --a-code /work/wt-base \
        --b /work/bench-data/perf/new.duckdb --root R
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, os.environ.get("MWH_BENCH_CODE") or str(Path(__file__).resolve().parent.parent))

VERSION = 1
OLD_PYTHONPATH_NOTE = "children of --code run with PYTHONPATH=DIR, so that checkout's package is imported"


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*")) if path.exists() else 0


# minnie65_public's sizes at v1181: ~94,000 nuclei with an automatic type, ~1,400 manual types.
NUCLEI = 94_000
MANUAL_OTHERS = 500
TWO_NUCLEI = 300  # roots the automatic table holds twice (a merge error): cell_types drops them
CELL_TYPES = np.array(["23P", "4P", "5P-IT", "5P-ET", "5P-NP", "6P-IT", "6P-CT", "BC", "MC", "BPC", "NGC"])


def annotation_tables(gen, pr) -> dict:
    """Nucleus and both cell-type tables of the real sizes, over this synapse world's cells.

    Every proofread cell has a nucleus, an automatic and a manual type; the rest of the nuclei are
    other cells of the world. The sizes matter: `partners` merges the version's cell types before
    it joins them to a few hundred partners, so tables of the proofread cells only (1,500 rows)
    would hide most of that cost.
    """
    import pyarrow as pa

    from ingest.synthetic import AUTO_TYPES_TABLE, MANUAL_TYPES_TABLE, NUCLEUS_TABLE
    from warehouse.registry import schema_of

    rng = np.random.default_rng([gen.seed, 7])
    roots = gen.roots(0)
    proofread = pr.column("pt_root_id").to_numpy()
    others = np.setdiff1d(roots, proofread)
    nuclei = max(len(proofread), min(NUCLEI, len(roots) // 2))  # a small test build keeps the proportions
    cell_roots = np.concatenate([proofread, rng.choice(others, nuclei - len(proofread), replace=False)])
    n = len(cell_roots)
    nucleus = {
        "id": np.arange(1, n + 1, dtype=np.int64),
        "pt_root_id": cell_roots,
        "pt_supervoxel_id": rng.integers(70_000_000_000_000_000, 120_000_000_000_000_000, n),
        **{
            f"pt_position_{a}": rng.integers(lo, hi, n)
            for a, lo, hi in (("x", 80_000, 400_000), ("y", 60_000, 330_000), ("z", 15_000, 27_000))
        },
        "volume": rng.uniform(100.0, 400.0, n),
    }
    created = pa.array(np.full(n, np.datetime64("2023-05-01T00:00:00", "us")), pa.timestamp("us", tz="UTC"))

    def table(role: str, rows: np.ndarray, root_of: np.ndarray | None = None) -> pa.Table:
        k = len(rows)
        cols = {c: v[rows] for c, v in nucleus.items()}
        if root_of is not None:
            cols["pt_root_id"] = root_of
        cols.update(
            {
                "created": created.take(pa.array(np.zeros(k, np.int64))),
                "valid": pa.array(np.ones(k, bool)),
                "superceded_id": pa.nulls(k, pa.int64()),
                "target_id": nucleus["id"][rows],
                "classification_system": pa.array(["aibs_neuronal"] * k),
                "cell_type": pa.array(CELL_TYPES[rng.integers(0, len(CELL_TYPES), k)]),
                "id_ref": nucleus["id"][rows],
                "created_ref": created.take(pa.array(np.zeros(k, np.int64))),
                "valid_ref": pa.array(np.ones(k, bool)),
            }
        )
        if role != "nucleus":
            cols["id"] = np.arange(1, k + 1, dtype=np.int64)
        schema = schema_of(role)
        return pa.table({c: cols[c] for c in schema.names}, schema=schema)

    everyone = np.arange(n)
    # TWO_NUCLEI roots get a second automatic row: another nucleus whose root is the same cell's
    pairs = min(TWO_NUCLEI, (n - len(proofread)) // 4)
    doubled = rng.choice(np.arange(len(proofread), n), pairs, replace=False)
    into = rng.choice(np.arange(len(proofread), n), pairs, replace=False)
    auto_rows = np.concatenate([everyone, doubled])
    auto_roots = np.concatenate([cell_roots, cell_roots[into]])
    manual_rows = np.concatenate(
        [
            np.arange(len(proofread)),
            rng.choice(np.arange(len(proofread), n), min(MANUAL_OTHERS, n - len(proofread)), replace=False),
        ]
    )
    return {
        NUCLEUS_TABLE: table("nucleus", everyone),
        MANUAL_TYPES_TABLE + "_merged": table("cell_types_manual", manual_rows),
        AUTO_TYPES_TABLE + "_merged": table("cell_types_auto", auto_rows, auto_roots),
    }


# ----------------------------------------------------------------------------------- children
def child_build(rows: str, db: str) -> None:
    """One version: proofreading, nucleus and cell types from dumps, synapses appended."""
    import pyarrow as pa

    import warehouse
    from ingest.dump_ingest import ingest_dump
    from ingest.job import run_whole_file_snapshot
    from ingest.synthetic_dumps import SyntheticSynapses, write_table
    from ingest.whole_file import FileSource, file_request

    gen = SyntheticSynapses(int(rows))
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp, warehouse.open_for_datastack(Path(db), "demo") as wh:
        pr = gen.proofreading(0)
        write_table(tmp, "proofreading_status_and_strategy", pr)
        for name, table in annotation_tables(gen, pr).items():
            write_table(tmp, name, table)
        ingest_dump(wh, Path(tmp), VERSION)
        layout = wh.store.layout("synapses")
        req = file_request(layout, VERSION, {"kind": "dump", "file": "synthetic"}, "synthetic")
        timings: dict[str, float] = {}

        def write(sid: int) -> int:
            app = wh.store.appender("synapses", sid, VERSION)
            n = 0
            for batch in gen.batches(0):
                app.append(pa.Table.from_batches([batch]))
                n += batch.num_rows
            t_finish = time.perf_counter()
            app.finish("synthetic synapses")  # the new layout sorts the version's rows here
            timings["finish"] = time.perf_counter() - t_finish
            return n

        run_whole_file_snapshot(wh, FileSource(wh.datastack, "synthetic synapses"), req, write)
        wh.con.execute("CHECKPOINT")
        root = wh.con.execute(
            "SELECT pre_pt_root_id FROM proofread_synapses WHERE version = ? GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1",
            [VERSION],
        ).fetchall()[0][0]
    hwm = next(
        int(line.split()[1]) * 1024
        for line in Path("/proc/self/status").read_text().splitlines()
        if line.startswith("VmHWM")
    )
    print(
        json.dumps(
            {
                "seconds": time.perf_counter() - t0,
                "finish_seconds": timings.get("finish"),
                "peak_rss_bytes": hwm,
                "root": root,
                "bytes": _size(Path(db)),
            }
        )
    )


def child_query(db: str, root: str, reps: str) -> None:
    """Cold = first run of each query in this process (the file's blocks not yet in DuckDB's
    buffer pool; the OS page cache may hold them); warm = median of the repeats after it."""
    import warehouse

    out: dict[str, dict[str, float]] = {}
    t_open = time.perf_counter()
    with warehouse.open(Path(db)) as wh:
        out["open"] = {"cold": time.perf_counter() - t_open}
        queries = {
            "partners output": f"FROM partners({int(root)}, {VERSION})",
            "partners input": f"FROM partners({int(root)}, {VERSION}, direction := 'input')",
            "neuron_summary": f"FROM neuron_summary({int(root)}, {VERSION})",
        }
        for name, sql in queries.items():
            times = []
            rows = 0
            for _ in range(int(reps) + 1):
                t0 = time.perf_counter()
                rows = len(wh.con.execute(sql).fetchall())
                times.append(time.perf_counter() - t0)
            out[name] = {"cold": times[0], "warm": statistics.median(times[1:]), "rows": rows}
    print(json.dumps(out))


# --------------------------------------------------------------------------------------- main
def _run(args: list[str], code: str | None = None) -> tuple[float, str]:
    env = dict(os.environ)
    if code:
        env["PYTHONPATH"] = code
        env["MWH_BENCH_CODE"] = code
    t0 = time.perf_counter()
    res = subprocess.run(args, env=env, capture_output=True, text=True, check=False, cwd=code or None)
    if res.returncode:
        raise SystemExit(f"{args} failed:\n{res.stderr[-3000:]}")
    return time.perf_counter() - t0, res.stdout


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build")
    b.add_argument("--rows", type=int, required=True)
    b.add_argument("--db", required=True)
    b.add_argument("--code", help=OLD_PYTHONPATH_NOTE)
    c = sub.add_parser("compare")
    c.add_argument("--a", required=True, help="file A (e.g. the old layout)")
    c.add_argument("--a-code", help=OLD_PYTHONPATH_NOTE)
    c.add_argument("--b", required=True, help="file B (e.g. the new layout)")
    c.add_argument("--b-code")
    c.add_argument("--root", type=int, required=True)
    c.add_argument("--rounds", type=int, default=5)
    c.add_argument("--reps", type=int, default=10)
    for name in ("child-build", "child-query"):
        sub.add_parser(name).add_argument("args", nargs="*")
    a = ap.parse_args(argv)
    if a.cmd == "child-build":
        child_build(*a.args)
    elif a.cmd == "child-query":
        child_query(*a.args)
    elif a.cmd == "build":
        code = str(Path(a.code).resolve()) if a.code else None
        script = [sys.executable, str(Path(__file__).resolve())]
        _, out = _run([*script, "child-build", str(a.rows), a.db], code)
        print(out.strip())
    else:
        script = [sys.executable, str(Path(__file__).resolve())]
        mwh = [sys.executable, "-c", "import sys; from warehouse.cli import main; sys.exit(main())"]
        results: dict[str, dict[str, list[float]]] = {"A": {}, "B": {}}
        for _ in range(a.rounds):
            for label, db, code in (("A", a.a, a.a_code), ("B", a.b, a.b_code)):
                _, out = _run([*script, "child-query", db, str(a.root), str(a.reps)], code)
                for q, t in json.loads(out).items():
                    for k, val in t.items():
                        if k != "rows":
                            results[label].setdefault(f"{q} {k}", []).append(val)
                        else:
                            results[label][f"{q} rows"] = [val]
                wall, _ = _run(
                    [*mwh, "neuron", str(a.root), "--version", str(VERSION), "--no-report", "--db", db], code
                )
                results[label].setdefault("mwh neuron process", []).append(wall)
        print(
            f"load {os.getloadavg()[0]:.1f}; A={a.a} ({_size(Path(a.a)) / 1e9:.2f} GB), B={a.b} ({_size(Path(a.b)) / 1e9:.2f} GB)"
        )
        print("| measurement | A median | B median | A / B |")
        print("|---|---|---|---|")
        for key in results["A"]:
            av, bv = (
                statistics.median(results["A"][key]),
                statistics.median(results["B"].get(key, [float("nan")])),
            )
            if key.endswith("rows"):
                print(f"| {key} | {av:,.0f} | {bv:,.0f} | |")
            else:
                print(f"| {key} | {av * 1000:.1f} ms | {bv * 1000:.1f} ms | {av / bv:.1f}x |")
        print(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
