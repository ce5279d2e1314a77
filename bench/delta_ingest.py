"""Benchmark: ingest of the synapse table from a CAVE Delta export against the csv.gz dump path.

The same synthetic rows (ingest/synthetic_dumps.py `SyntheticSynapses`) are written twice: as a
dump (`{table}.csv.gz` + header, what `mwh ingest --dump` reads) and as the synapse table's `id`
copy in MaterializationEngine's export layout (ingest/synthetic_delta.py: partitioned by
`id_partition`, ctr point as Int32 columns, pre/post points as EWKB, created/superceded_id dropped).
Then, each in a child process of its own with its wall time, CPU seconds and peak RSS:

  * the Delta reader alone (Parquet decode, EWKB, casts; no DuckDB);
  * `ingest_delta_export` into a fresh warehouse;
  * `ingest_dump` of the dump into a fresh warehouse.

    python bench/delta_ingest.py --rows 10000000 --data /tmp/mwh-bench-delta

Files go under --data (outside the repo) and are deleted at the end unless --keep.
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
VERSION = 1


def child_delta_read(root: str) -> None:
    from ingest.sources.delta_export import find_export, read_batches
    from warehouse.config import datastack_config

    (table,) = find_export(Path(root), datastack_config("demo"), VERSION, ["synapses"])
    t0 = time.perf_counter()
    n = sum(b.num_rows for b in read_batches(table))
    emit({"rows": n, "seconds": time.perf_counter() - t0})


def child_delta_ingest(db: str, root: str) -> None:
    import warehouse
    from ingest.delta_ingest import ingest_delta_export

    stats: dict = {}
    t0 = time.perf_counter()
    with warehouse.open_for_datastack(Path(db), "demo") as wh:
        (out,) = ingest_delta_export(wh, Path(root), VERSION, roles=["synapses"], stats=stats)
        wh.con.execute("CHECKPOINT")
    st = stats["synapses_pni_2"]
    emit(
        {
            "rows": out.rows,
            "seconds": time.perf_counter() - t0,
            "read_wait_s": st.read_wait,
            "append_s": st.append,
            "sorted_ids": st.sorted_ids,
        }
    )


def child_dump_ingest(db: str, folder: str) -> None:
    import warehouse
    from ingest.dump_ingest import ingest_dump

    stats: dict = {}
    t0 = time.perf_counter()
    with warehouse.open_for_datastack(Path(db), "demo") as wh:
        (out,) = ingest_dump(wh, Path(folder), VERSION, roles=["synapses"], stats=stats)
        wh.con.execute("CHECKPOINT")
    st = stats[DUMP_TABLE]
    emit(
        {
            "rows": out.rows,
            "seconds": time.perf_counter() - t0,
            "read_wait_s": st.read_wait,
            "append_s": st.append,
        }
    )


def write_inputs(rows: int, data: Path) -> tuple[Path, Path, float, float]:
    """The dump folder and the export root for `rows` synthetic synapses, and their write times."""
    import numpy as np

    from ingest.synthetic_delta import write_synapse_stream
    from ingest.synthetic_dumps import SyntheticSynapses

    gen = SyntheticSynapses(rows)
    dump, export = data / "dump", data / "export"
    t0 = time.perf_counter()
    if not (dump / f"{DUMP_TABLE}.csv.gz").exists():
        gen.write(dump, 0)
    t1 = time.perf_counter()
    if not (export / "demo" / f"v{VERSION}").exists():
        # ids are 100 M + ~3 per row: percentile bounds of id are even steps (16 partitions).
        bounds = {"id": np.linspace(100_000_000, 100_000_000 + 3 * rows, 17)[1:-1]}
        write_synapse_stream(export, "demo", VERSION, gen.batches(0), specs=("id",), bounds=bounds)
    return dump, export, t1 - t0, time.perf_counter() - t1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--data", type=Path, default=Path("/tmp/mwh-bench-delta"))
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    data = args.data / f"syn{args.rows // 1_000_000}m"
    data.mkdir(parents=True, exist_ok=True)
    print(f"[{args.rows:,}] writing the dump and the Delta export ...", file=sys.stderr)
    dump, export, dump_s, delta_s = write_inputs(args.rows, data)
    res: dict = {
        "rows": args.rows,
        "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "write_dump_s": dump_s,
        "write_delta_s": delta_s,
        "csv_gz_bytes": (dump / f"{DUMP_TABLE}.csv.gz").stat().st_size,
        "delta_bytes": disk_bytes(export),
    }
    for name, argv in [
        ("delta_reader", ["child-delta-read", str(export)]),
        ("delta_ingest", ["child-delta-ingest", str(data / "delta.duckdb"), str(export)]),
        ("dump_ingest", ["child-dump-ingest", str(data / "dump.duckdb"), str(dump)]),
    ]:
        for f in data.glob("*.duckdb*"):
            f.unlink()
        print(f"[{args.rows:,}] {name} ...", file=sys.stderr)
        step = run_child(python(__file__, *argv))
        res[name] = {"wall_s": step.seconds, "cpu_s": step.cpu_s, "peak_mb": step.peak_mb, **step.out}
    for f in data.glob("*.duckdb*"):
        f.unlink()
    if not args.keep:
        shutil.rmtree(data)
    print(json.dumps(res))
    print(
        f"\n{args.rows:,} rows; {res['machine']}\n"
        "| path | input | inner s | rows/s | CPU s | peak RSS |\n|---|---|---|---|---|---|"
    )
    for name, size in [
        ("delta_reader", res["delta_bytes"]),
        ("delta_ingest", res["delta_bytes"]),
        ("dump_ingest", res["csv_gz_bytes"]),
    ]:
        r = res[name]
        print(
            f"| {name} | {size / 1e9:.2f} GB | {r['seconds']:.1f} | {r['rows'] / r['seconds'] / 1e6:.2f} M "
            f"| {r['cpu_s']:.1f} | {fmt_mb(r['peak_mb'])} |"
        )
    speed = res["dump_ingest"]["seconds"] / res["delta_ingest"]["seconds"]
    print(f"\ndelta ingest vs dump ingest: {speed:.2f}x rows/s")


if __name__ == "__main__":
    if not child_step(sys.argv[1:], globals()):
        main()
