"""Benchmark the lake: Delta writes of synapse rows, read-back by three engines, split vs full sizes.

    python -m bench.lake [--rows 678235,10000000] [--demo-db warehouse.duckdb] [--keep DIR]

Synapse rows are generated with numpy in the synapse table's schema (root ids drawn from a pool of
one root per ~200 synapses, 64-bit supervoxel ids, positions in voxels); a second version changes
the root ids of 10 % of the rows and adds 2 % new ids, about what one materialization does. Each
step runs in a child process of its own (bench/measure.py), so peak RSS is that step's alone.
Figures go to stdout as a Markdown section for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from bench.measure import child_step, emit, fmt_mb, machine, python, run_child
from ingest.synthetic import ROOT_BASE
from warehouse import lake
from warehouse.tables import SCHEMAS, STABLE_COLUMNS

SCHEMA = pa.schema([("snapshot_id", pa.int32()), ("version", pa.int32()), *SCHEMAS["synapses"]])
ROW_COLUMNS = ("snapshot_id", "version", "id", "pre_pt_root_id", "post_pt_root_id")
FIXED_COLUMNS = STABLE_COLUMNS["synapses"]


def _base(n: int, seed: int) -> tuple[pa.Table, int]:
    rng = np.random.default_rng(seed)
    n_roots = max(n // 200, 10)
    ids = rng.permutation(n).astype(np.int64) + 1
    pre = ROOT_BASE + rng.integers(0, n_roots, n)
    post = ROOT_BASE + rng.integers(0, n_roots, n)
    cols = {
        "id": ids,
        "created": pa.array(np.full(n, 1_600_000_000_000_000), pa.timestamp("us", tz="UTC")),
        "superceded_id": pa.nulls(n, pa.int64()),
        "valid": np.ones(n, dtype=bool),
        "pre_pt_supervoxel_id": rng.integers(8 * 10**16, 9 * 10**16, n),
        "pre_pt_root_id": pre,
        "post_pt_supervoxel_id": rng.integers(8 * 10**16, 9 * 10**16, n),
        "post_pt_root_id": post,
        "size": rng.lognormal(6, 1, n).astype(np.int64),
    }
    for p in ("pre_pt_position", "post_pt_position", "ctr_pt_position"):
        for axis, hi in zip("xyz", (400_000, 300_000, 28_000), strict=True):
            cols[f"{p}_{axis}"] = rng.integers(0, hi, n)
    return pa.table(cols), n_roots


def synapses(n: int, version: int, seed: int = 1) -> pa.Table:
    """n synapse rows at version 1, or the second version (10 % roots changed, 2 % new ids)."""
    table, n_roots = _base(n, seed)
    post = table.column("post_pt_root_id").to_numpy()
    if version == 2:
        rng2 = np.random.default_rng(seed + 1)
        change = rng2.random(n) < 0.10
        new_root = ROOT_BASE + n_roots + np.arange(n)
        table = table.set_column(
            table.schema.get_field_index("post_pt_root_id"),
            "post_pt_root_id",
            pa.array(np.where(change, new_root // 7, post)),
        )
        extra, _ = _base(n // 50, seed + 2)
        extra = extra.set_column(0, "id", pa.array(extra.column("id").to_numpy() + n))
        table = pa.concat_tables([table, extra.select(table.column_names)])
    m = table.num_rows
    table = table.add_column(0, "version", pa.array(np.full(m, version, np.int32)))
    table = table.add_column(0, "snapshot_id", pa.array(np.full(m, version, np.int32)))
    return table.cast(SCHEMA)


def child_write(n: str, out: str) -> None:
    """Write versions 1 and 2 full (sorted, and v1 unsorted) and split; time each write."""
    n_rows, out_dir = int(n), Path(out)
    v1, v2 = synapses(n_rows, 1), synapses(n_rows, 2)
    res: dict = {"rows_v1": v1.num_rows, "rows_v2": v2.num_rows}

    def timed(name: str, fn):
        t = time.perf_counter()
        r = fn()
        res[f"{name}_s"], res[f"{name}_mb"] = time.perf_counter() - t, r.bytes / 2**20
        return r

    timed("full_v1", lambda: lake.write_table(out_dir / "v1" / "full", v1, sort_by=lake.SYNAPSE_SORT))
    timed("unsorted_v1", lambda: lake.write_table(out_dir / "v1" / "unsorted", v1))
    timed("full_v2", lambda: lake.write_table(out_dir / "v2" / "full", v2, sort_by=lake.SYNAPSE_SORT))
    fixed = out_dir / "fixed"
    timed("fixed_v1", lambda: lake.write_table(fixed, v1.select(FIXED_COLUMNS), sort_by=("id",)))
    timed(
        "rows_v1",
        lambda: lake.write_table(out_dir / "v1" / "rows", v1.select(ROW_COLUMNS), sort_by=lake.SYNAPSE_SORT),
    )
    new = v2.filter(pa.compute.greater(v2.column("id"), n_rows)).select(FIXED_COLUMNS)
    timed("fixed_v2", lambda: lake.write_table(fixed, new, sort_by=("id",), mode="append"))
    timed(
        "rows_v2",
        lambda: lake.write_table(out_dir / "v2" / "rows", v2.select(ROW_COLUMNS), sort_by=lake.SYNAPSE_SORT),
    )
    res["lookup_root"] = int(v1.column("post_pt_root_id")[n_rows // 2].as_py())
    emit(res)


AGG = "SELECT count(*) AS n, sum(size) AS s, count(DISTINCT post_pt_root_id) AS roots FROM {src}"
LOOKUP = "SELECT count(*) AS n, sum(size) AS s FROM {src} WHERE post_pt_root_id = {root}"


def _time(fn, repeat: int = 3) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def child_read(engine: str, path: str, root: str) -> None:
    """Full-scan aggregate and one post-root lookup on a Delta table, best of three."""
    res: dict = {}
    t0 = time.perf_counter()
    if engine == "duckdb":
        import duckdb

        src = lake.duckdb_source(path)
        res["agg_s"], res["agg"] = _time(lambda: duckdb.sql(AGG.format(src=src)).fetchall())
        res["lookup_s"], res["lookup"] = _time(
            lambda: duckdb.sql(LOOKUP.format(src=src, root=root)).fetchall()
        )
    elif engine == "polars":
        import polars as pl

        def agg():
            return (
                pl.scan_delta(path)
                .select(pl.len(), pl.col("size").sum(), pl.col("post_pt_root_id").n_unique())
                .collect()
                .rows()
            )

        def lookup():
            return (
                pl.scan_delta(path)
                .filter(pl.col("post_pt_root_id") == int(root))
                .select(pl.len(), pl.col("size").sum())
                .collect()
                .rows()
            )

        res["agg_s"], res["agg"] = _time(agg)
        res["lookup_s"], res["lookup"] = _time(lookup)
    else:
        from pysail.spark import SparkConnectServer
        from pyspark.sql import SparkSession

        server = SparkConnectServer("127.0.0.1", 0)
        server.start(background=True)
        host, port = server.listening_address
        spark = SparkSession.builder.remote(f"sc://{host}:{port}").getOrCreate()
        res["start_s"] = time.perf_counter() - t0
        spark.read.format("delta").load(path).createOrReplaceTempView("syn")
        res["agg_s"], res["agg"] = _time(
            lambda: [tuple(r) for r in spark.sql(AGG.format(src="syn")).collect()]
        )
        res["lookup_s"], res["lookup"] = _time(
            lambda: [tuple(r) for r in spark.sql(LOOKUP.format(src="syn", root=root)).collect()]
        )
        spark.stop()
        server.stop()
    emit(res)


def child_export(db: str, out: str) -> None:
    """Export a demo warehouse file (both layouts), timing each synapse table's commit."""
    from warehouse import lake_export

    res: dict = {}
    for split in (False, True):
        times: list[float] = []
        last = [time.perf_counter()]

        def tick(entry: dict, times=times, last=last) -> None:
            now = time.perf_counter()
            if entry["role"] == "synapses":
                times.append(now - last[0])
            last[0] = now

        t = time.perf_counter()
        lake_export.export_warehouse(
            db, Path(out) / ("split" if split else "full"), split_synapses=split, on_table=tick
        )
        res["split" if split else "full"] = {"total_s": time.perf_counter() - t, "synapse_s": times}
    emit(res)


def _mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*.parquet")) / 2**20


def run(rows: int, work: Path) -> list[str]:
    out = work / f"n{rows}"
    w = run_child(python("-m", "bench.lake", "child-write", str(rows), str(out)))
    r = w.out
    lines = [
        f"### {rows:,} synapse rows (v1), {r['rows_v2']:,} (v2)",
        "",
        f"Write, one commit each (child peak RSS {fmt_mb(w.peak_mb)}, including both generated versions):",
        "",
        "| table | write | Parquet size |",
        "|---|---|---|",
    ]
    for key, label in [
        ("full_v1", "full v1, sorted by post_pt_root_id, id"),
        ("unsorted_v1", "full v1, unsorted (id order shuffled)"),
        ("full_v2", "full v2"),
        ("fixed_v1", "split: `__fixed` v1 (all ids)"),
        ("rows_v1", "split: `__rows` v1"),
        ("fixed_v2", "split: `__fixed` append of v2's new ids"),
        ("rows_v2", "split: `__rows` v2"),
    ]:
        lines.append(f"| {label} | {r[key + '_s']:.2f} s | {r[key + '_mb']:.1f} MB |")
    second_split = r["fixed_v2_mb"] + r["rows_v2_mb"]
    lines += [
        "",
        f"A 2nd version costs **{second_split:.1f} MB split** (`__rows` + new `__fixed` ids) against "
        f"**{r['full_v2_mb']:.1f} MB** as a full table ({second_split / r['full_v2_mb']:.0%}).",
        "",
        "Read-back of full v1 (best of 3; aggregate = count, sum(size), distinct post roots; lookup = one post root):",
        "",
        "| engine | table | full-scan aggregate | post-root lookup | peak RSS |",
        "|---|---|---|---|---|",
    ]
    root = str(r["lookup_root"])
    answers = set()
    for engine in ("duckdb", "polars", "spark"):
        for table in ("full", "unsorted"):
            s = run_child(python("-m", "bench.lake", "child-read", engine, str(out / "v1" / table), root))
            answers.add((tuple(map(tuple, s.out["agg"])), tuple(map(tuple, s.out["lookup"]))))
            extra = f" (server start {s.out['start_s']:.1f} s)" if "start_s" in s.out else ""
            lines.append(
                f"| {engine}{extra} | {table} | {s.out['agg_s']:.3f} s | {s.out['lookup_s']:.3f} s | {fmt_mb(s.peak_mb)} |"
            )
    lines += ["", f"All engines gave the same answers: {len(answers) == 1}.", ""]
    return lines


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if child_step(argv, globals()):
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", default="678235,10000000")
    ap.add_argument("--demo-db", type=Path)
    ap.add_argument("--keep", type=Path, help="write the lakes here and keep them")
    args = ap.parse_args(argv)
    work = args.keep or Path(tempfile.mkdtemp(prefix="lake-bench-"))
    lines = [f"Machine: {machine()}.", ""]
    try:
        if args.demo_db:
            e = run_child(python("-m", "bench.lake", "child-export", str(args.demo_db), str(work / "demo")))
            for layout in ("full", "split"):
                syn = ", ".join(f"{x:.2f}" for x in e.out[layout]["synapse_s"])
                lines.append(
                    f"- Export of the demo warehouse, {layout} layout: {e.out[layout]['total_s']:.1f} s for 12 tables "
                    f"(synapse tables, per version: {syn} s); peak RSS {fmt_mb(e.peak_mb)}; "
                    f"lake {_mb(work / 'demo' / layout):.1f} MB."
                )
            lines.append("")
        for n in (int(x) for x in args.rows.split(",")):
            lines += run(n, work)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
