"""Benchmark: a lake warehouse against the single-file one, on the same synthetic rows, in one run.

For each size (10 M and 50 M synapse rows by default) it writes the inputs once:
  * a dump of version 1 and of version 2 (ingest/synthetic_dumps.py `SyntheticSynapses`: 15 % of the
    cells re-rooted at version 2), each with a proofreading dump beside it;
  * the synapse table of version 1 as a CAVE Delta export (ingest/synthetic_delta.py, the `id` copy).
Then, each step in a child process of its own (wall time, CPU seconds of every thread, peak RSS):
  * `ingest_dump` of version 1 into a single file and into a lake warehouse;
  * `ingest_delta_export` of version 1's synapse table into a single file and into a lake;
  * the notebook's views on both dump-made warehouses, with their answers compared;
  * `ingest_dump` of version 2 into both, and what it adds to each;
  * Spark (Sail, a Spark Connect server with no JVM) on the lake beside DuckDB on the same lake.

    python bench/lake_store.py --rows 10000000 50000000 --data /work/bench-data

Files go under --data (outside the repository) and are deleted at the end unless --keep.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.measure import child_step, disk_bytes, emit, fmt_mb, machine, python, run_child  # noqa: E402

DUMP_TABLE = "synapses_pni_2_v1_filtered_view"
SYNAPSES = "synapses_pni_2"
# The notebook's steps, as bench/dump_ingest.py times them, plus the other direction of partners.
VIEW_QUERIES = {
    "stg_synapses scan": "SELECT count(*), sum(size), sum(ctr_pt_position_x) FROM stg_synapses WHERE version = $v",
    "proofread_synapses": "SELECT * FROM proofread_synapses WHERE version = $v",
    "connections": "SELECT * FROM connections WHERE version = $v",
    "connectivity_pairs": "SELECT * FROM connectivity_pairs WHERE version = $v",
    "partners output": "FROM partners($root, $v)",
    "partners input": "FROM partners($root, $v, direction := 'input')",
}
SPARK_STEPS = (
    "read: count, sum(size)",
    "proofread_synapses",
    "connections",
    "partners output",
    "partners input",
)


def _open(db: str, lake: str):
    import warehouse

    return warehouse.open_for_datastack(Path(db), "demo", lake=None if lake == "-" else Path(lake))


# ----------------------------------------------------------------------------------- children
def child_dump(db: str, lake: str, folder: str, version: str) -> None:
    from ingest.dump_ingest import ingest_dump

    stats: dict = {}
    t0 = time.perf_counter()
    with _open(db, lake) as wh:
        outcomes = ingest_dump(wh, Path(folder), int(version), stats=stats)
        wh.con.execute("CHECKPOINT")
    st = stats[DUMP_TABLE]
    rows = sum(o.rows for o in outcomes if o.table == SYNAPSES)
    emit(
        {
            "rows": rows,
            "seconds": time.perf_counter() - t0,
            "read_wait_s": st.read_wait,
            "append_s": st.append,
        }
    )


def child_delta(db: str, lake: str, root: str, version: str) -> None:
    from ingest.delta_ingest import ingest_delta_export

    stats: dict = {}
    t0 = time.perf_counter()
    with _open(db, lake) as wh:
        (out,) = ingest_delta_export(wh, Path(root), int(version), roles=["synapses"], stats=stats)
        wh.con.execute("CHECKPOINT")
    st = stats[SYNAPSES]
    emit(
        {
            "rows": out.rows,
            "seconds": time.perf_counter() - t0,
            "read_wait_s": st.read_wait,
            "append_s": st.append,
        }
    )


def child_read(kind: str, path: str) -> None:
    """A reader alone, no store: what an ingest would take if its writes cost nothing."""
    from warehouse.config import datastack_config

    cfg = datastack_config("demo")
    if kind == "dump":
        from ingest.sources.dump_files import find_dumps, plan_columns, read_batches, read_header

        dump = find_dumps(Path(path), cfg, ["synapses"])[0]
        batches = read_batches(dump, plan_columns(dump, read_header(dump)))
    else:
        from ingest.sources.delta_export import find_export
        from ingest.sources.delta_export import read_batches as read_delta

        (table,) = find_export(Path(path), cfg, 1, ["synapses"])
        batches = read_delta(table)
    t0 = time.perf_counter()
    rows = sum(b.num_rows for b in batches)
    emit({"rows": rows, "seconds": time.perf_counter() - t0})


def _root(con, version: int) -> int:
    """The proofread cell with the most outputs: a neuron with partners both ways."""
    return con.execute(
        "SELECT pre_pt_root_id FROM proofread_synapses WHERE version = ? GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1",
        [version],
    ).fetchall()[0][0]


def child_views(db: str, version_arg: str) -> None:
    """Each view timed (best of 2: the first run also reads the file from disk), then fingerprinted
    (row count and an order-free hash of every row) so the two stores' answers can be compared."""
    import warehouse

    version = int(version_arg)
    out: dict = {}
    with warehouse.open(Path(db)) as wh:
        root = _root(wh.con, version)
        for name, sql in VIEW_QUERIES.items():
            params = {"v": version, "root": root} if "$root" in sql else {"v": version}
            times = []
            for _ in range(2):
                t0 = time.perf_counter()
                table = wh.con.execute(sql, params).to_arrow_table()
                times.append(time.perf_counter() - t0)
            wh.con.register("answer", table)
            n, digest = wh.con.execute("SELECT count(*), sum(hash(a))::VARCHAR FROM answer a").fetchall()[0]
            wh.con.unregister("answer")
            out[name] = {"cold_s": times[0], "warm_s": times[1], "rows": n, "digest": digest}
    emit({"root": root, "views": out})


def child_sail(lake: str, db: str, version_arg: str, root_arg: str) -> None:
    """Sail's server on loopback and the lake's views registered in it (warehouse/spark_sql.py); each
    step timed as a collect to Arrow, best of 2, beside DuckDB's time on the same lake warehouse."""
    from pysail.spark import SparkConnectServer
    from pyspark.sql import SparkSession

    import warehouse
    from warehouse import spark_sql

    version, root = int(version_arg), int(root_arg)
    t0 = time.perf_counter()
    server = SparkConnectServer("127.0.0.1", 0)
    server.start(background=True)
    host, port = server.listening_address
    spark = (
        SparkSession.builder.remote(f"sc://{host}:{port}")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    start_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    lk = spark_sql.register_lake(spark, Path(lake), "demo")
    register_s = time.perf_counter() - t0
    steps = {
        "read: count, sum(size)": lambda: spark.sql(
            f"SELECT count(*), sum(size) FROM stg_synapses WHERE version = {version}"
        ),
        # The views as the DuckDB side reads them (plain SQL on the view): the synthetic rows have no
        # nucleus table, which SparkLake.view (like Warehouse.view) would rightly refuse.
        "proofread_synapses": lambda: spark.table("proofread_synapses").where(f"version = {version}"),
        "connections": lambda: spark.table("connections").where(f"version = {version}"),
        "partners output": lambda: lk.partners(root, version, "output"),
        "partners input": lambda: lk.partners(root, version, "input"),
    }
    duck_sql = {
        "read: count, sum(size)": f"SELECT count(*), sum(size) FROM stg_synapses WHERE version = {version}",
        "proofread_synapses": f"SELECT * FROM proofread_synapses WHERE version = {version}",
        "connections": f"SELECT * FROM connections WHERE version = {version}",
        "partners output": f"FROM partners({root}, {version})",
        "partners input": f"FROM partners({root}, {version}, direction := 'input')",
    }
    out: dict = {}
    for name, frame in steps.items():
        times = []
        for _ in range(2):
            t0 = time.perf_counter()
            rows = frame().toArrow().num_rows
            times.append(time.perf_counter() - t0)
        out[name] = {"spark_s": min(times), "spark_rows": rows}
    with warehouse.open(Path(db)) as wh:
        for name, sql in duck_sql.items():
            times = []
            for _ in range(2):
                t0 = time.perf_counter()
                rows = wh.con.execute(sql).to_arrow_table().num_rows
                times.append(time.perf_counter() - t0)
            out[name].update(duck_s=min(times), duck_rows=rows)
    spark.stop()
    server.stop()
    emit({"server_start_s": start_s, "register_s": register_s, "steps": out})


# --------------------------------------------------------------------------------------- main
def write_inputs(rows: int, base: Path) -> dict:
    import numpy as np

    from ingest.synthetic_delta import write_synapse_stream
    from ingest.synthetic_dumps import SyntheticSynapses

    gen = SyntheticSynapses(rows)
    took = {}
    for i, name in enumerate(("dump_v1", "dump_v2")):
        if not (base / name / f"{DUMP_TABLE}.csv.gz").exists():
            t0 = time.perf_counter()
            gen.write(base / name, i)
            took[name] = time.perf_counter() - t0
    if not (base / "export" / "demo" / "v1").exists():
        t0 = time.perf_counter()
        # ids are 100 M + ~3 per row: even steps of id make 16 partitions of equal size.
        bounds = {"id": np.linspace(100_000_000, 100_000_000 + 3 * rows, 17)[1:-1]}
        write_synapse_stream(base / "export", "demo", 1, gen.batches(0), specs=("id",), bounds=bounds)
        took["export"] = time.perf_counter() - t0
    return took


def _step(label: str, argv: list[str]) -> dict:
    print(f"  {label} ...", file=sys.stderr, flush=True)
    s = run_child(python(__file__, *argv))
    return {"wall_s": s.seconds, "cpu_s": s.cpu_s, "peak_mb": s.peak_mb, **s.out}


def run_size(rows: int, data: Path, keep: bool) -> dict:
    base = data / f"lake{rows // 1_000_000}m"
    base.mkdir(parents=True, exist_ok=True)
    print(f"[{rows:,}] inputs ...", file=sys.stderr, flush=True)
    res: dict = {"rows": rows, "inputs_written_s": write_inputs(rows, base)}
    res["csv_gz_bytes"] = (base / "dump_v1" / f"{DUMP_TABLE}.csv.gz").stat().st_size
    res["export_bytes"] = disk_bytes(base / "export")
    stores = {"file": (base / "file.duckdb", "-"), "lake": (base / "lake.duckdb", str(base / "lake"))}
    for db, lake in [
        *stores.values(),
        (base / "delta_file.duckdb", "-"),
        (base / "delta_lake.duckdb", str(base / "delta_lake")),
    ]:
        for f in base.glob(db.name + "*"):
            f.unlink()
        if lake != "-":
            shutil.rmtree(lake, ignore_errors=True)
    res["read_dump"] = _step("csv.gz reader alone", ["child-read", "dump", str(base / "dump_v1")])
    res["read_delta"] = _step("Delta export reader alone", ["child-read", "delta", str(base / "export")])
    for name, (db, lake) in stores.items():
        res[f"dump_{name}"] = _step(
            f"dump v1 -> {name}", ["child-dump", str(db), lake, str(base / "dump_v1"), "1"]
        )
        res[f"dump_{name}"]["bytes"] = disk_bytes(db) + (disk_bytes(Path(lake)) if lake != "-" else 0)
    for name, db, lake in (
        ("file", base / "delta_file.duckdb", "-"),
        ("lake", base / "delta_lake.duckdb", str(base / "delta_lake")),
    ):
        res[f"delta_{name}"] = _step(
            f"delta export v1 -> {name}", ["child-delta", str(db), lake, str(base / "export"), "1"]
        )
    for name, (db, _) in stores.items():
        res[f"views_{name}"] = _step(f"views on {name}", ["child-views", str(db), "1"])
    for name, (db, lake) in stores.items():
        before = disk_bytes(db) + (disk_bytes(Path(lake)) if lake != "-" else 0)
        res[f"second_{name}"] = _step(
            f"dump v2 -> {name}", ["child-dump", str(db), lake, str(base / "dump_v2"), "2"]
        )
        res[f"second_{name}"]["added_bytes"] = (
            disk_bytes(db) + (disk_bytes(Path(lake)) if lake != "-" else 0) - before
        )
    root = res["views_file"]["root"]
    res["sail"] = _step(
        "Sail and DuckDB on the lake",
        ["child-sail", str(base / "lake"), str(stores["lake"][0]), "1", str(root)],
    )
    if not keep:
        shutil.rmtree(base)
    return res


def report(results: list[dict], started: str, command: str) -> str:
    gb = 1e9
    lines = [f"Run {started} on {machine()}", f"Command: `{command}`", ""]
    lines += [
        "Ingest (wall s, M rows/s, CPU s, peak RSS, size of what it wrote):",
        "",
        "| rows | step | single file | lake | lake / file time |",
        "|---|---|---|---|---|",
    ]

    def cell(r: dict, size_key: str | None = "bytes") -> str:
        rate = r["rows"] / r["seconds"] / 1e6
        size = f", {r[size_key] / gb:.2f} GB" if size_key and size_key in r else ""
        return f"{r['seconds']:.1f} s ({rate:.2f} M/s; {r['cpu_s']:.0f} CPU-s, {fmt_mb(r['peak_mb'])}{size})"

    for res in results:
        n = f"{res['rows'] / 1e6:.0f} M"
        for label, f, lk, size in (
            ("dump v1 (csv.gz)", "dump_file", "dump_lake", "bytes"),
            ("Delta export v1", "delta_file", "delta_lake", None),
            ("dump v2 (added)", "second_file", "second_lake", "added_bytes"),
        ):
            a, b = res[f], res[lk]
            lines.append(
                f"| {n} | {label} | {cell(a, size)} | {cell(b, size)} | {b['seconds'] / a['seconds']:.2f} |"
            )
    lines += [
        "",
        "Delta export against the dump path, same rows (rows/s ratio, higher is faster), and the readers"
        " alone (no store): their ratio is what the Delta path would gain if writing cost nothing:",
        "",
        "| rows | single file | lake | csv.gz reader alone | Delta reader alone | readers' ratio |",
        "|---|---|---|---|---|---|",
    ]
    for res in results:
        rd, rl = res["read_dump"], res["read_delta"]
        per_m = res["rows"] / 1e6
        lines.append(
            f"| {per_m:.0f} M | {res['dump_file']['seconds'] / res['delta_file']['seconds']:.2f}x "
            f"| {res['dump_lake']['seconds'] / res['delta_lake']['seconds']:.2f}x "
            f"| {rd['seconds']:.1f} s ({rd['cpu_s'] / per_m:.2f} CPU-s per M) "
            f"| {rl['seconds']:.1f} s ({rl['cpu_s'] / per_m:.2f} CPU-s per M) | {rd['seconds'] / rl['seconds']:.2f}x |"
        )
    lines += [
        "",
        "Views at version 1 (warm s, cold s in brackets; same answers = identical row count and row hash):",
        "",
        "| rows | view | rows out | single file | lake | same answers |",
        "|---|---|---|---|---|---|",
    ]
    for res in results:
        vf, vl = res["views_file"]["views"], res["views_lake"]["views"]
        for name in VIEW_QUERIES:
            a, b = vf[name], vl[name]
            same = a["rows"] == b["rows"] and a["digest"] == b["digest"]
            lines.append(
                f"| {res['rows'] / 1e6:.0f} M | {name} | {a['rows']:,} | {a['warm_s']:.3f} ({a['cold_s']:.3f}) "
                f"| {b['warm_s']:.3f} ({b['cold_s']:.3f}) | {'yes' if same else '**no**'} |"
            )
        lines.append(
            f"| | peak RSS | | {fmt_mb(res['views_file']['peak_mb'])} | {fmt_mb(res['views_lake']['peak_mb'])} | |"
        )
    lines += ["", "Spark (Sail) and DuckDB on the same lake (best of 2, s):", ""]
    lines += ["| rows | step | Sail | DuckDB | rows (Sail / DuckDB) |", "|---|---|---|---|---|"]
    for res in results:
        sl = res["sail"]
        for name in SPARK_STEPS:
            s = sl["steps"][name]
            lines.append(
                f"| {res['rows'] / 1e6:.0f} M | {name} | {s['spark_s']:.3f} | {s['duck_s']:.3f} "
                f"| {s['spark_rows']:,} / {s['duck_rows']:,} |"
            )
        lines.append(
            f"| | server start, register views | {sl['server_start_s']:.1f} s, {sl['register_s']:.1f} s | | "
            f"peak RSS {fmt_mb(sl['peak_mb'])} (client and server) |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[10_000_000, 50_000_000])
    ap.add_argument("--data", type=Path, default=Path("/tmp/mwh-bench-lake"))
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args(argv)
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    results = [run_size(n, args.data, args.keep) for n in args.rows]
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / "lake_store.json").write_text(json.dumps(results, indent=1))
    print(report(results, started, "python bench/lake_store.py " + " ".join(sys.argv[1:])))
    mismatched = [
        (r["rows"], name)
        for r in results
        for name in VIEW_QUERIES
        if r["views_file"]["views"][name]["digest"] != r["views_lake"]["views"][name]["digest"]
    ]
    if mismatched:
        print(f"the stores' answers differ: {mismatched}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    if not child_step(sys.argv[1:], globals()):
        sys.exit(main())
