"""Benchmark: `mwh ingest` from the loopback CAVE server through the real caveclient.

The CAVE-compatible test server (tests/cave_server.py) runs as a separate process with a fixed
latency per query, serving the synthetic datastack; the warehouse ingests one version (all four
tables, synapses of every partner of the proofread cells) with 1, 2, 4 and 8 workers, each run
in a child process. Then one run with 1 worker under cProfile splits the time into HTTP (requests,
including the wait for the server), Arrow IPC decode, caveclient's pandas conversion, our
conversion back to Arrow, DuckDB appends and the rest; and DuckDB's append rate for the same
Arrow rows on their own is measured for comparison.

The public server takes seconds a query, so the default latency is 2 s.

    python bench/cave_ingest.py --latency 2 --workers 1 2 4 8
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.measure import REPO, child_step, emit, fmt_mb, machine, python, run_child  # noqa: E402

VERSION = 1181
TOKEN = "bench-token"


def _ingest(db: Path, url: str, workers: int):
    import warehouse
    from ingest.plan import PlanOptions
    from ingest.run import IngestOptions, ingest_version
    from ingest.sources.cave import CaveSource
    from warehouse.config import datastack_config

    source = CaveSource(datastack_config("demo"), server=url, token=TOKEN)
    with warehouse.open_for_datastack(db, "demo") as wh:
        outcomes = ingest_version(
            wh, source, VERSION, IngestOptions(workers=workers, plan=PlanOptions(synapses="partners"))
        )
        wh.con.execute("CHECKPOINT")
    return outcomes


def child_ingest(db: str, url: str, workers: str) -> None:
    t0 = time.perf_counter()
    outcomes = _ingest(Path(db), url, int(workers))
    seconds = time.perf_counter() - t0
    emit(
        {
            "seconds": seconds,
            "rows": sum(o.rows for o in outcomes),
            "queries": sum(o.chunks_fetched for o in outcomes),
            "splits": sum(o.splits for o in outcomes),
        }
    )


# Functions whose cumulative time makes up each share (qualified as pstats names them).
SHARES = {
    "HTTP (requests, incl. server latency)": [("sessions.py", "request")],
    "Arrow IPC decode + caveclient pandas conversion": [
        ("materializationengine.py", "deserialize_query_response")
    ],
    "caveclient pandas conversion (to_pandas)": [("pandas_compat.py", "table_to_dataframe")],
    "Arrow from pandas + conform (ours)": [
        ("pandas_compat.py", "dataframe_to_arrays"),
        ("tables.py", "conform"),
    ],
    "DuckDB append to stage": [("job.py", "_record_rows")],
    "verify + commit to raw": [("job.py", "_verify"), ("job.py", "_commit")],
}


def child_profile(db: str, url: str) -> None:
    import cProfile
    import pstats
    import threading

    # The job fetches in pool threads; give each new thread a profiler of its own.
    thread_profiles: list[cProfile.Profile] = []

    def boot(frame, event, arg) -> None:
        p = cProfile.Profile()
        thread_profiles.append(p)
        p.enable()

    prof = cProfile.Profile()
    t0 = time.perf_counter()
    threading.setprofile(boot)
    prof.enable()
    outcomes = _ingest(Path(db), url, 1)
    prof.disable()
    threading.setprofile(None)
    total = time.perf_counter() - t0
    stats = pstats.Stats(prof)
    for p in thread_profiles:
        stats.add(p)
    cum: dict[str, float] = {}
    for (filename, _line, func), (_cc, _nc, _tt, ct, _callers) in stats.stats.items():
        for share, targets in SHARES.items():
            for file_end, fname in targets:
                if filename.endswith(file_end) and func == fname:
                    cum[share] = cum.get(share, 0.0) + ct
    emit({"total_s": total, "rows": sum(o.rows for o in outcomes), "shares": cum})


def child_duckdb_append(db: str) -> None:
    """DuckDB appending the same synapse rows as one Arrow table, into a fresh file."""
    import duckdb

    from warehouse.registry import schema_of

    cols = ", ".join(f'"{c}"' for c in schema_of("synapses").names)
    with duckdb.connect(db, read_only=True) as con:
        rows = con.sql(f'SELECT {cols} FROM raw."synapses_pni_2" WHERE version = {VERSION}').to_arrow_table()
    with tempfile.TemporaryDirectory() as tmp, duckdb.connect(str(Path(tmp) / "a.duckdb")) as out:
        out.execute("CREATE TABLE s AS SELECT * FROM rows LIMIT 0")
        t0 = time.perf_counter()
        out.execute("INSERT INTO s SELECT * FROM rows")
        out.execute("CHECKPOINT")
        seconds = time.perf_counter() - t0
    emit({"rows": rows.num_rows, "seconds": seconds})


def start_server(latency: float, scale: float, limit: int | None = None) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.cave_server",
            "--port",
            "0",
            "--latency",
            str(latency),
            "--scale",
            str(scale),
            "--token",
            TOKEN,
            "--warm",
            *(["--max-concurrency", str(limit)] if limit else []),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    url = proc.stdout.readline().strip()
    if not url.startswith("http"):
        proc.kill()
        raise RuntimeError("the CAVE test server did not start")
    return proc, url


def profile_lines(profile: dict, direct: dict, runs: dict, latency: float) -> list[str]:
    """Where the 1-worker run's time went, and DuckDB's own append rate for the same rows."""
    lines: list[str] = []
    total = profile["total_s"]
    shares = profile["shares"]
    waits = runs[min(runs)]["queries"] * latency
    lines.append(
        f"Where the time goes with 1 worker (cProfile over every thread, {total:.1f} s in all, "
        f"{profile['rows']:,} rows; the HTTP part includes about {waits:.1f} s of the server's fixed latency):"
    )
    lines.append("")
    lines.append("| part | seconds | share |")
    lines.append("|---|---|---|")
    decode_and_pandas = shares.get("Arrow IPC decode + caveclient pandas conversion", 0.0)
    pandas_part = shares.get("caveclient pandas conversion (to_pandas)", 0.0)
    rows = [
        ("HTTP (requests, incl. server latency)", shares.get("HTTP (requests, incl. server latency)", 0.0)),
        ("Arrow IPC decode", max(0.0, decode_and_pandas - pandas_part)),
        ("caveclient pandas conversion (to_pandas)", pandas_part),
        ("Arrow from pandas + conform (ours)", shares.get("Arrow from pandas + conform (ours)", 0.0)),
        ("DuckDB append to stage", shares.get("DuckDB append to stage", 0.0)),
        ("verify + commit to raw", shares.get("verify + commit to raw", 0.0)),
    ]
    accounted = sum(s for _, s in rows)
    rows.append(("everything else (planning, caveclient metadata calls, bookkeeping)", total - accounted))
    for name, s in rows:
        lines.append(f"| {name} | {s:.2f} | {s / total:.0%} |")
    lines.append("")
    lines.append(
        f"DuckDB appending the same {direct['rows']:,} synapse rows directly from one Arrow table: "
        f"{direct['seconds']:.2f} s ({direct['rows'] / direct['seconds']:,.0f} rows/s), against "
        f"{max(r['rows'] / r['seconds'] for r in runs.values()):,.0f} rows/s end to end at best."
    )
    return lines


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if child_step(argv, globals()):
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--latency", type=float, default=2.0, help="seconds the server waits per query")
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4, 8])
    ap.add_argument(
        "--server-limit", type=int, default=None, help="queries the server runs at once (the rest wait)"
    )
    ap.add_argument("--skip-profile", action="store_true", help="only the runs, no cProfile run")
    ap.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "cave_ingest.json")
    args = ap.parse_args(argv)
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    server, url = start_server(args.latency, args.scale, args.server_limit)
    runs, profile, direct = {}, None, None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for w in args.workers:
                db = Path(tmp) / f"w{w}.duckdb"
                step = run_child(python(__file__, "child-ingest", str(db), url, str(w)))
                runs[w] = {**step.out, "wall_s": step.seconds, "peak_mb": step.peak_mb}
                print(f"workers {w}: {runs[w]}", file=sys.stderr)
            if not args.skip_profile:
                pdb = Path(tmp) / "profile.duckdb"
                profile = run_child(python(__file__, "child-profile", str(pdb), url)).out
                direct = run_child(python(__file__, "child-duckdb-append", str(pdb))).out
    finally:
        server.terminate()
        server.wait(timeout=30)
    lines = [f"Run {started} on {machine()}", f"Command: `python bench/cave_ingest.py {' '.join(argv)}`", ""]
    limit = f", at most {args.server_limit} queries at once" if args.server_limit else ""
    lines.append(
        f"Server: tests/cave_server.py in its own process, scale {args.scale:g}, {args.latency:g} s latency per "
        f"query{limit}, row cap 500,000; client: caveclient 8.2.1 over HTTP; version 1181, four tables, "
        "--synapses partners."
    )
    lines.append("")
    lines.append("| workers | rows | queries | time | rows/s | speed-up over the fewest workers | peak RSS |")
    lines.append("|---|---|---|---|---|---|---|")
    base = runs[min(runs)]["seconds"]
    for w, r in runs.items():
        lines.append(
            f"| {w} | {r['rows']:,} | {r['queries']} | {r['seconds']:.1f} s | {r['rows'] / r['seconds']:,.0f} "
            f"| {base / r['seconds']:.2f}x | {fmt_mb(r['peak_mb'])} |"
        )
    lines.append("")
    if profile is not None and direct is not None:
        lines += profile_lines(profile, direct, runs, args.latency)
    text = "\n".join(lines)
    print(text)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps({"started": started, "runs": runs, "profile": profile, "direct": direct}, indent=1)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
