"""The lake's notebook check under JVM Spark: each Spark view and partners query against DuckDB, timed.

    python bench/jvm_spark.py [--demo-db FILE] [--versions 1181,...] [--repeat N] [--keep DIR]

tests/test_lake_spark.py runs this check with Sail (a Spark Connect server, no JVM); here it runs in
JVM Spark itself, ``SparkSession.builder.master("local[2]")`` with the session time zone UTC.
Spark's Delta reader is the delta-spark jars, which come from Maven at run time and cannot be
fetched offline, so the lake is registered with ``register_lake(..., reader="parquet")``: each table
read from exactly the Parquet files its committed Delta version names (warehouse.lake.data_files).

Without ``--demo-db`` a demo warehouse is built with ``mwh demo`` in a temp folder (about a minute).
It is exported to a lake (every version, or ``--versions``; synapses split, as the test does), every view of
warehouse.spark_sql.VIEWS is read whole (all versions) in Spark and in DuckDB on the same warehouse
and compared as polars frames sorted by every column, exactly; then each version's busiest
presynaptic cell's partners, both directions, in the order the macro gives them. Any difference
ends the run with a one-line message and exit status 1.

Printed (Markdown, for docs/benchmarks.md): the JVM session's start, each step's Spark and DuckDB
time (the first Spark run is cold: its Parquet reads and the JIT; ``--repeat N`` adds the best of
N-1 more), rows, and the peak RSS (VmHWM) of the java process and of this one.

Needs full pyspark (with its jars) and Java 17+. It clashes with pyspark-client (the project's
spark and test extras: both install the ``pyspark`` module), so it goes in a venv of its own:

    python3 -m venv .venv-jvm && .venv-jvm/bin/pip install -e . 'pyspark>=4.0,<4.2'
    .venv-jvm/bin/python bench/jvm_spark.py

Exit status 2 (and one line saying what to install) when pyspark's JVM part or java is missing.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.measure import REPO, fmt_mb, machine  # noqa: E402

INSTALL = (
    "python3 -m venv .venv-jvm && .venv-jvm/bin/pip install -e . 'pyspark>=4.0,<4.2' "
    "(a venv of its own: full pyspark and pyspark-client both install the pyspark module)"
)
JAVA_HOME = Path("/usr/lib/jvm/java-17-openjdk-amd64")


def missing() -> str | None:
    """Why JVM Spark cannot start here, as one line, or None."""
    spec = importlib.util.find_spec("pyspark")
    if spec is None or spec.origin is None:
        return f"pyspark is not installed; install full pyspark: {INSTALL}"
    if not (Path(spec.origin).parent / "jars").is_dir():
        return (
            f"this pyspark is the Spark Connect client alone (no JVM jars); install full pyspark: {INSTALL}"
        )
    if not (os.environ.get("JAVA_HOME") or shutil.which("java") or JAVA_HOME.is_dir()):
        return "no Java found; install it: apt-get install openjdk-17-jre-headless"
    return None


def _status_kb(pid: int, key: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def java_pid(pid: int) -> int | None:
    """The java process among ``pid`` (spark-submit's launcher, which may exec java) and its descendants."""
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            if os.path.basename(os.readlink(f"/proc/{p}/exe")) == "java":
                return p
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return None


def build_demo(folder: Path) -> Path:
    """`mwh demo` in an empty folder, with a home of its own (caveclient writes under ~)."""
    home = folder / "home"
    home.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if k not in ("MWH_DB", "CAVE_TOKEN")}
    env.update(HOME=str(home), PYTHONPATH=str(REPO))
    db = folder / "warehouse.duckdb"
    cmd = [sys.executable, "-m", "warehouse", "demo", "--db", str(db), "--out", str(folder / "reports")]
    proc = subprocess.run(cmd, cwd=folder, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"mwh demo failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    return db


def start_spark():
    from pyspark.sql import SparkSession

    if not os.environ.get("JAVA_HOME") and not shutil.which("java") and JAVA_HOME.is_dir():
        os.environ["JAVA_HOME"] = str(JAVA_HOME)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # not the host's outward address
    return (
        SparkSession.builder.master("local[2]")
        .appName("mwh-jvm-lake-check")
        .config("spark.sql.session.timeZone", "UTC")  # as the warehouse's; timestamps read as UTC
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        # 200 (the default) is for a cluster: with 2 cores every join and group-by would run 200
        # shuffle tasks (adaptive execution coalesces them, after planning them all).
        .config("spark.sql.shuffle.partitions", os.environ.get("MWH_SHUFFLE_PARTITIONS", "4"))
        .config("spark.driver.memory", "2g")  # the whole stg_synapses (2 M rows) comes back as Arrow
        .getOrCreate()
    )


def _duck_view(wh, name: str, versions: list[int]):
    """DuckDB's view at the versions Spark registered."""
    return wh.sql(f"SELECT * FROM {name} WHERE version IN ({', '.join(map(str, versions))})")


def comparable(df, sort: bool):
    """Sorted by every column, aware times labelled UTC: DuckDB labels TIMESTAMPTZ with its
    connection's zone (the machine's, here Etc/UTC), Spark with its session's (UTC); the instants,
    which are what is compared, do not change."""
    import polars as pl

    aware = [c for c, t in df.schema.items() if isinstance(t, pl.Datetime) and t.time_zone]
    df = df.with_columns(pl.col(c).dt.convert_time_zone("UTC") for c in aware)
    return df.sort(df.columns, nulls_last=True) if sort else df


def compare(name: str, got, want) -> str | None:
    """None if the frames are equal, else one line saying how they differ."""
    from polars.testing import assert_frame_equal

    try:
        assert_frame_equal(got, want)
    except AssertionError as exc:
        first = " ".join(str(exc).split())[:300]
        return f"{name}: Spark (JVM, parquet reader) and DuckDB differ: {first}"
    return None


def timed(fn, repeat: int) -> tuple[float, float | None, object]:
    """The first run's seconds, the best of the other runs (None if there are none), the first result."""
    t = time.perf_counter()
    out = fn()
    first = time.perf_counter() - t
    rest = []
    for _ in range(repeat - 1):
        t = time.perf_counter()
        fn()
        rest.append(time.perf_counter() - t)
    return first, (min(rest) if rest else None), out


def check(db: Path, work: Path, repeat: int, versions: list[int] | None) -> tuple[list[str], str | None]:
    import polars as pl

    import warehouse
    from warehouse import lake_export, spark_sql

    lines: list[str] = []
    t0 = time.perf_counter()
    root = work / "lake"
    lake_export.export_warehouse(db, root, split_synapses=True, versions=versions)
    export_s = time.perf_counter() - t0

    t = time.perf_counter()
    spark = start_spark()
    start_s = time.perf_counter() - t
    jvm = java_pid(spark.sparkContext._gateway.proc.pid)
    java = spark.sparkContext._jvm.java.lang.System.getProperty("java.version")
    spark.sparkContext.setLogLevel("ERROR")
    try:
        t = time.perf_counter()
        sl = spark_sql.register_lake(spark, root, "demo", reader="parquet")
        register_s = time.perf_counter() - t
        rows: list[tuple[str, float, float | None, float, int]] = []
        failure = None
        with warehouse.open(db) as wh:
            steps = [
                (name, lambda n=name: sl.view(n), lambda n=name: _duck_view(wh, n, sl.versions))
                for name in spark_sql.VIEWS
            ]
            for v in sl.versions:
                top = wh.sql(
                    "SELECT pre_pt_root_id FROM connections WHERE version = ? GROUP BY 1 "
                    "ORDER BY sum(syn_count) DESC, 1 LIMIT 1",
                    [v],
                ).item()
                for d in ("output", "input"):
                    steps.append(
                        (
                            f"partners v{v} {d}",
                            lambda r=top, v=v, d=d: sl.partners(r, v, d),
                            lambda r=top, v=v, d=d: wh.partners(r, v, direction=d),
                        )
                    )
            for name, spark_q, duck_q in steps:
                s_first, s_best, got = timed(lambda q=spark_q: pl.from_arrow(q().toArrow()), repeat)
                d_first, _, want = timed(duck_q, 1)
                view = name in spark_sql.VIEWS  # a view's order is not defined: compare sorted
                want = comparable(want.drop(*spark_sql.DROPPED_COLUMNS.get(name, ())), sort=view)
                got = comparable(got, sort=view)
                rows.append((name, s_first, s_best, d_first, want.height))
                print(
                    f"{name}: Spark {s_first:.2f} s, DuckDB {d_first:.3f} s, {want.height:,} rows",
                    file=sys.stderr,
                )
                failure = compare(name, got, want) or (None if want.height else f"{name}: no rows to compare")
                if failure:
                    break
        jvm_hwm = _status_kb(jvm, "VmHWM") if jvm else None
    finally:
        spark.stop()
    total = time.perf_counter() - t0
    spark_total = sum(r[1] for r in rows)
    lines += [
        f"- Export of the demo warehouse to a lake (versions {', '.join(map(str, sl.versions))}, "
        f"synapses split): {export_s:.1f} s.",
        f"- JVM Spark session start (`local[2]`, Java {java}, from `getOrCreate()`): **{start_s:.1f} s**; "
        f'register_lake(reader="parquet"): {register_s:.1f} s.',
        f"- The {len(rows)} steps: Spark {spark_total:.1f} s (first runs), DuckDB {sum(r[3] for r in rows):.2f} s; "
        f"whole check from export to the last comparison {total:.1f} s"
        + (f" (with each Spark step run {repeat} times)." if repeat > 1 else "."),
        f"- Peak RSS: java {fmt_mb(jvm_hwm / 1024) if jvm_hwm else 'unknown'}, "
        f"this Python process {fmt_mb((_status_kb(os.getpid(), 'VmHWM') or 0) / 1024)}.",
        "",
        "| step | Spark, first run | "
        + ("Spark, best of the rest | " if repeat > 1 else "")
        + "DuckDB | rows |",
        "|---|---|" + ("---|" if repeat > 1 else "") + "---|---|",
    ]
    for name, s_first, s_best, d_first, n in rows:
        best = f"{s_best:.2f} s | " if repeat > 1 else ""
        lines.append(f"| {name} | {s_first:.2f} s | {best}{d_first:.3f} s | {n:,} |")
    lines += ["", "Every step equal, row for row." if failure is None else f"FAILED: {failure}"]
    return lines, failure


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--demo-db", type=Path, help="a demo warehouse (default: build one with mwh demo)")
    ap.add_argument("--versions", help="comma-separated versions to export and check (default: all)")
    ap.add_argument("--repeat", type=int, default=1, help="run each Spark step this many times")
    ap.add_argument("--keep", type=Path, help="build the demo and lake here and keep them")
    args = ap.parse_args(argv)
    why = missing()
    if why:
        print(why, file=sys.stderr)
        return 2
    import pyspark

    work = args.keep or Path(tempfile.mkdtemp(prefix="mwh-jvm-spark-"))
    work.mkdir(parents=True, exist_ok=True)
    lines = [
        f"Machine: {machine()}; pyspark {pyspark.__version__}.",
        "",
    ]
    try:
        db = args.demo_db
        if db is None:
            t = time.perf_counter()
            db = build_demo(work / "demo")
            lines += [f"- `mwh demo` (not part of the check): {time.perf_counter() - t:.0f} s.", ""]
        versions = [int(v) for v in args.versions.split(",")] if args.versions else None
        body, failure = check(db.resolve(), work, args.repeat, versions)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    print("\n".join(lines + body))
    if failure:
        print(failure, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
