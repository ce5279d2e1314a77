"""Benchmark: `mwh ingest --dump` of synthetic synapse tables against the baselines, in one run.

For each size (10 M, 50 M, 100 M rows) it writes a dump in CAVE's format (ingest/synthetic_dumps.py),
then times, each in a child process with its peak RSS:
  * `gzip -dc > /dev/null` and ISA-L `igzip -dc` (decompression alone);
  * the baseline a user would write by hand: DuckDB `read_csv` of the .csv.gz straight into a table;
  * the reader alone (inflate + parse, no DuckDB), to show where the time goes;
  * `ingest_dump` into a fresh warehouse (what `mwh ingest --dump` runs);
  * the views over the result;
and compares the warehouse file with the same rows as zstd Parquet and as the csv.gz itself.
Each step's CPU seconds (user + system, every thread) are printed per million rows beside its
wall time: on the shared 2-core machine the wall times move with the load, the CPU per row
hardly, and with both cores busy the CPU per row is what bounds the speed-up over the baseline.
`--second` ingests a second version (15 % of cells re-rooted) and reports what it adds.

    python bench/dump_ingest.py --rows 10000000
    python bench/dump_ingest.py --rows 50000000 --second --data /work/bench-data

Big files go under --data (outside the repo); they are deleted at the end unless --keep.
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

from bench.measure import REPO, child_step, disk_bytes, emit, fmt_mb, machine, python, run_child  # noqa: E402

TABLE = "synapses_pni_2_v1_filtered_view"
FULL_TABLE_ROWS = 337_000_000
VIEW_QUERIES = {
    "stg_synapses (full scan: count, sum size, sum ctr x)": (
        "SELECT count(*), sum(size), sum(ctr_pt_position_x) FROM stg_synapses WHERE version = $v"
    ),
    "proofread_synapses": "SELECT * FROM proofread_synapses WHERE version = $v",
    "connections": "SELECT * FROM connections WHERE version = $v",
    "connectivity_pairs": "SELECT * FROM connectivity_pairs WHERE version = $v",
    "partners(root, v)": "FROM partners($root, $v)",
}


# ----------------------------------------------------------------------------------- children
def child_ingest(db: str, path: str, version: str) -> None:
    import warehouse
    from ingest.dump_ingest import ingest_dump

    stats: dict = {}
    t0 = time.perf_counter()
    with warehouse.open_for_datastack(Path(db), "demo") as wh:
        outcomes = ingest_dump(wh, Path(path), int(version), stats=stats)
        t1 = time.perf_counter()
        wh.con.execute("CHECKPOINT")
    t2 = time.perf_counter()
    syn = stats.get(TABLE)
    print(
        json.dumps(
            {
                "rows": sum(o.rows for o in outcomes if o.table == "synapses_pni_2"),
                "ingest_s": t1 - t0,
                "checkpoint_s": t2 - t1,
                "read_wait_s": syn.read_wait if syn else None,
                "append_s": syn.append if syn else None,
                "fixed_added": syn.fixed_added if syn else None,
                "sorted_ids": syn.sorted_ids if syn else None,
            }
        )
    )


def child_baseline(db: str, data: str, header: str) -> None:
    import duckdb

    types = {
        "bigint": "BIGINT",
        "timestamp with time zone": "TIMESTAMPTZ",
        "boolean": "BOOLEAN",
        "character varying": "VARCHAR",
        "double precision": "DOUBLE",
    }
    cols = [line.split(",", 1) for line in Path(header).read_text().splitlines() if line]
    spec = "{" + ", ".join(f"'{c}': '{types[t]}'" for c, t in cols) + "}"
    con = duckdb.connect(db)
    t0 = time.perf_counter()
    con.execute(
        f"CREATE TABLE synapses AS SELECT * FROM read_csv('{data}', header = false, columns = {spec})"
    )
    con.execute("CHECKPOINT")
    n = con.execute("SELECT count(*) FROM synapses").fetchall()[0][0]
    emit({"rows": n, "seconds": time.perf_counter() - t0})


def child_parse(path: str) -> None:
    from ingest.sources.dump_files import find_dumps, plan_columns, read_batches, read_header
    from warehouse.config import datastack_config

    dump = find_dumps(Path(path), datastack_config("demo"), ["synapses"])[0]
    plan = plan_columns(dump, read_header(dump))
    t0 = time.perf_counter()
    n = sum(t.num_rows for t in read_batches(dump, plan))
    emit({"rows": n, "seconds": time.perf_counter() - t0})


def child_parquet(db: str, out: str, version: str) -> None:
    import duckdb

    from warehouse.registry import schema_of

    cols = ", ".join(f'"{c}"' for c in schema_of("synapses").names)
    con = duckdb.connect(db, read_only=True)
    t0 = time.perf_counter()
    con.execute(
        f'COPY (SELECT {cols} FROM raw."synapses_pni_2" WHERE version = {int(version)} ORDER BY id) '
        f"TO '{out}' (FORMAT parquet, COMPRESSION zstd)"
    )
    emit({"seconds": time.perf_counter() - t0})


def child_views(db: str, version_arg: str) -> None:
    import warehouse

    version = int(version_arg)

    out = {}
    with warehouse.open(Path(db)) as wh:
        root = wh.con.execute(
            "SELECT pre_pt_root_id FROM proofread_synapses WHERE version = ? "
            "GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1",
            [version],
        ).fetchall()[0][0]
        for name, sql in VIEW_QUERIES.items():
            t0 = time.perf_counter()
            res = wh.con.execute(sql, {"v": version, "root": root} if "$root" in sql else {"v": version})
            table = res.to_arrow_table()
            out[name] = {"seconds": time.perf_counter() - t0, "rows": table.num_rows}
    emit(out)


# --------------------------------------------------------------------------------------- main
def _shell_time(cmd: str) -> tuple[float, float]:
    """Wall and CPU seconds of a shell command (the CPU of the pipeline's processes included)."""
    step = run_child(["bash", "-c", cmd], expect_json=False)
    return step.seconds, step.cpu_s


def run_size(rows: int, data: Path, second: bool, keep: bool) -> dict:
    from ingest.synthetic_dumps import SyntheticSynapses

    gen = SyntheticSynapses(rows)
    base = data / f"syn{rows // 1_000_000}m"
    v0 = base / "v0"
    f0 = v0 / f"{TABLE}.csv.gz"
    res: dict = {"rows": rows}
    if not f0.exists():
        t0 = time.perf_counter()
        gen.write(v0, 0)
        print(f"[{rows:,}] wrote {f0} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    res["csv_gz_bytes"] = f0.stat().st_size
    res["csv_bytes"] = None
    print(f"[{rows:,}] decompression baselines ...", file=sys.stderr)
    res["gzip_dc_s"], res["gzip_dc_cpu_s"] = _shell_time(f"gzip -dc '{f0}' > /dev/null")
    res["igzip_dc_s"], res["igzip_dc_cpu_s"] = _shell_time(
        f"'{sys.executable}' -m isal.igzip -d -c '{f0}' > /dev/null"
    )

    print(f"[{rows:,}] baseline: DuckDB read_csv of the .csv.gz ...", file=sys.stderr)
    bdb = base / "baseline.duckdb"
    bdb.unlink(missing_ok=True)
    b = run_child(python(__file__, "child-baseline", str(bdb), str(f0), str(v0 / f"{TABLE}_header.csv")))
    res["baseline"] = {
        "seconds": b.seconds,
        "inner_s": b.out["seconds"],
        "cpu_s": b.cpu_s,
        "peak_mb": b.peak_mb,
        "bytes": disk_bytes(bdb),
    }
    bdb.unlink(missing_ok=True)

    print(f"[{rows:,}] reader alone (isal + pyarrow, no DuckDB) ...", file=sys.stderr)
    p = run_child(python(__file__, "child-parse", str(f0)))
    res["reader"] = {"seconds": p.out["seconds"], "cpu_s": p.cpu_s, "peak_mb": p.peak_mb}

    print(f"[{rows:,}] warehouse: ingest_dump ...", file=sys.stderr)
    wdb = base / "warehouse.duckdb"
    for f in base.glob("warehouse.duckdb*"):
        f.unlink()
    w = run_child(python(__file__, "child-ingest", str(wdb), str(v0), "1"))
    res["ingest"] = {
        "seconds": w.seconds,
        **w.out,
        "cpu_s": w.cpu_s,
        "peak_mb": w.peak_mb,
        "bytes": disk_bytes(wdb),
    }

    print(f"[{rows:,}] zstd Parquet of the same rows ...", file=sys.stderr)
    pq = base / "same_rows.parquet"
    run_child(python(__file__, "child-parquet", str(wdb), str(pq), "1"))
    res["parquet_zstd_bytes"] = pq.stat().st_size
    pq.unlink()

    print(f"[{rows:,}] views ...", file=sys.stderr)
    v = run_child(python(__file__, "child-views", str(wdb), "1"))
    res["views"] = v.out
    res["views_peak_mb"] = v.peak_mb

    if second:
        v1 = base / "v1"
        if not (v1 / f"{TABLE}.csv.gz").exists():
            gen.write(v1, 1)
        before = disk_bytes(wdb)
        print(f"[{rows:,}] second version ...", file=sys.stderr)
        s = run_child(python(__file__, "child-ingest", str(wdb), str(v1), "2"))
        res["second"] = {
            "seconds": s.seconds,
            **s.out,
            "cpu_s": s.cpu_s,
            "peak_mb": s.peak_mb,
            "added_bytes": disk_bytes(wdb) - before,
        }
        v2 = run_child(python(__file__, "child-views", str(wdb), "2"))
        res["second"]["views"] = v2.out
    if not keep:
        shutil.rmtree(base)
    return res


def report(results: list[dict], started: str, command: str) -> str:
    lines = [f"Run {started} on {machine()}", f"Command: `{command}`", ""]
    lines.append(
        "| rows | csv.gz | gzip -dc | igzip -dc | baseline DuckDB read_csv | reader alone | **mwh ingest --dump** "
        "| speed-up | peak RSS (baseline / mwh) | warehouse file | zstd Parquet | file / Parquet |"
    )
    lines.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        n = r["rows"]
        b, w = r["baseline"], r["ingest"]
        lines.append(
            f"| {n / 1e6:.0f} M | {r['csv_gz_bytes'] / 1e9:.2f} GB | {r['gzip_dc_s']:.1f} s "
            f"| {r['igzip_dc_s']:.1f} s | {b['seconds']:.1f} s ({n / b['seconds'] / 1e6:.2f} M rows/s) "
            f"| {r['reader']['seconds']:.1f} s | **{w['seconds']:.1f} s ({n / w['seconds'] / 1e6:.2f} M rows/s)** "
            f"| {b['seconds'] / w['seconds']:.2f}x | {fmt_mb(b['peak_mb'])} / {fmt_mb(w['peak_mb'])} "
            f"| {w['bytes'] / 1e9:.2f} GB | {r['parquet_zstd_bytes'] / 1e9:.2f} GB "
            f"| {w['bytes'] / r['parquet_zstd_bytes']:.2f} |"
        )
    lines.append("")
    lines.append(
        "CPU seconds per million rows (user + system, all threads and child processes; the reader alone "
        "is ISA-L inflate + pyarrow parse; the Python children include ~0.5 CPU-s of start-up):"
    )
    lines.append("")
    lines.append(
        "| rows | gzip -dc | igzip -dc | baseline | reader alone | mwh ingest --dump | second version |"
    )
    lines.append("|---|---|---|---|---|---|---|")
    for r in results:
        per_m = 1e6 / r["rows"]
        second = f"{r['second']['cpu_s'] * per_m:.2f}" if "second" in r else "-"
        lines.append(
            f"| {r['rows'] / 1e6:.0f} M | {r['gzip_dc_cpu_s'] * per_m:.2f} | {r['igzip_dc_cpu_s'] * per_m:.2f} "
            f"| {r['baseline']['cpu_s'] * per_m:.2f} | {r['reader']['cpu_s'] * per_m:.2f} "
            f"| {r['ingest']['cpu_s'] * per_m:.2f} | {second} |"
        )
    lines.append("")
    lines.append(
        "Where the ingest's time goes (seconds): waiting for the reader (inflate + parse) / DuckDB appends / checkpoint"
    )
    for r in results:
        w = r["ingest"]
        lines.append(
            f"- {r['rows'] / 1e6:.0f} M: {w['read_wait_s']:.1f} / {w['append_s']:.1f} / {w['checkpoint_s']:.1f} "
            f"(process total {w['seconds']:.1f}; the reader alone takes {r['reader']['seconds']:.1f})"
        )
    lines.append("")
    lines.append("Views on the ingested version (seconds, rows returned):")
    for r in results:
        views = ", ".join(f"{k} {v['seconds']:.2f} s ({v['rows']:,})" for k, v in r["views"].items())
        lines.append(f"- {r['rows'] / 1e6:.0f} M: {views}; peak RSS {fmt_mb(r['views_peak_mb'])}")
    for r in results:
        if "second" in r:
            s, w = r["second"], r["ingest"]
            lines.append("")
            lines.append(
                f"Second version of the {r['rows'] / 1e6:.0f} M table: {s['seconds']:.1f} s "
                f"({r['rows'] / s['seconds'] / 1e6:.2f} M rows/s), +{s['added_bytes'] / 1e9:.2f} GB "
                f"({s['added_bytes'] / w['bytes']:.0%} of the first version's {w['bytes'] / 1e9:.2f} GB), "
                f"{s['fixed_added']:,} fixed rows added, peak RSS {fmt_mb(s['peak_mb'])}"
            )
    lines.append("")
    lines.append(projection(results))
    return "\n".join(lines)


def projection(results: list[dict]) -> str:
    big = max(results, key=lambda r: r["rows"])
    n, w = big["rows"], big["ingest"]
    per_row_s = w["seconds"] / n
    per_row_b = w["bytes"] / n
    text = (
        f"Projection to the full table ({FULL_TABLE_ROWS / 1e6:.0f} M rows) from the {n / 1e6:.0f} M run: "
        f"first version {FULL_TABLE_ROWS * per_row_s / 60:.0f} min, {FULL_TABLE_ROWS * per_row_b / 1e9:.1f} GB"
    )
    seconds = [r for r in results if "second" in r]
    if seconds:
        s = seconds[0]
        add_s = s["second"]["seconds"] / s["rows"]
        add_b = s["second"]["added_bytes"] / s["rows"]
        text += (
            f"; each further version {FULL_TABLE_ROWS * add_s / 60:.0f} min and "
            f"+{FULL_TABLE_ROWS * add_b / 1e9:.1f} GB; five versions "
            f"{FULL_TABLE_ROWS * (per_row_s + 4 * add_s) / 60:.0f} min, "
            f"{FULL_TABLE_ROWS * (per_row_b + 4 * add_b) / 1e9:.1f} GB "
            f"(five separate zstd Parquet copies: {5 * FULL_TABLE_ROWS * s['parquet_zstd_bytes'] / s['rows'] / 1e9:.0f} GB)"
        )
    return text + "."


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if child_step(argv, globals()):
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[10_000_000])
    ap.add_argument("--data", type=Path, default=Path("/work/bench-data"))
    ap.add_argument("--second", action="store_true", help="also ingest a second version of each size")
    ap.add_argument("--keep", action="store_true", help="keep the data files")
    ap.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "dump_ingest.json")
    args = ap.parse_args(argv)
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    args.data.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(args.data).free
    need = max(args.rows) * 260 * (2 if args.second else 1)
    if free < need:
        print(
            f"only {free / 1e9:.0f} GB free under {args.data}; about {need / 1e9:.0f} GB needed",
            file=sys.stderr,
        )
        return 1
    results = [run_size(n, args.data, args.second, args.keep) for n in args.rows]
    text = report(results, started, "python bench/dump_ingest.py " + " ".join(argv))
    print(text)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"started": started, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
