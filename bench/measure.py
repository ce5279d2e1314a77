"""Run one step of a benchmark in a child process and report its wall time, CPU time and peak memory.

Peak RSS is the child's own `ru_maxrss` from `os.wait4`, so each step is measured alone, not
mixed with what the parent (or an earlier step) allocated.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Step:
    seconds: float
    peak_mb: float
    out: dict
    stderr: str = ""
    # user + system CPU seconds of the child and of the children it waited for (a shell's pipeline):
    # on a shared 2-core machine the wall time depends on the load, the CPU per row much less.
    cpu_s: float = 0.0


def run_child(args: list[str], *, env: dict | None = None, expect_json: bool = True) -> Step:
    """Run `args` (a command line) and measure it; a Python child prints one JSON line last."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO,
        env={**os.environ, **(env or {}), "PYTHONPATH": str(REPO)},
        text=True,
    )
    # wait4 gives this child's rusage; communicate() first would reap it without one.
    out_chunks: list[str] = []
    err_chunks: list[str] = []
    import threading

    def pump(stream, into):
        for line in stream:
            into.append(line)

    threads = [
        threading.Thread(target=pump, args=(proc.stdout, out_chunks)),
        threading.Thread(target=pump, args=(proc.stderr, err_chunks)),
    ]
    for t in threads:
        t.start()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    for t in threads:
        t.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    stdout, stderr = "".join(out_chunks), "".join(err_chunks)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:4])}... failed ({proc.returncode}): {stderr[-2000:]}")
    out = {}
    if expect_json:
        lines = [x for x in stdout.strip().splitlines() if x.startswith("{")]
        out = json.loads(lines[-1]) if lines else {}
    # A forked child inherits the parent's high-water mark in ru_maxrss; a Python child reports its
    # own (VmHWM is reset by exec), which is preferred when present.
    peak = out.pop("vmhwm_mb", None) if isinstance(out, dict) else None
    cpu_s = usage.ru_utime + usage.ru_stime
    return Step(seconds, peak if peak is not None else usage.ru_maxrss / 1024, out, stderr, cpu_s)


def emit(result: dict) -> None:
    """Print a child's result as the JSON line run_child reads, with this process's peak RSS."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                result["vmhwm_mb"] = int(line.split()[1]) / 1024
    except OSError:
        pass
    print(json.dumps(result))


def rss_mb() -> float:
    """This process's resident memory now: taken after imports, so peak minus it is a step's own."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def child_step(argv: list[str], namespace: dict) -> bool:
    """Run `child-<name> ARGS...`, the way a benchmark re-runs itself to measure one step in a
    process of its own; True if argv asked for one. Arguments arrive as strings."""
    if not argv or not argv[0].startswith("child-"):
        return False
    namespace[argv[0].replace("-", "_")](*argv[1:])
    return True


def python(*args: str) -> list[str]:
    return [sys.executable, *args]


def machine() -> str:
    cpus = os.cpu_count()
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        mem = 0
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0
    import duckdb
    import pyarrow

    return (
        f"{cpus} cores ({model}), {mem:.0f} GB RAM, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, DuckDB {duckdb.__version__}, pyarrow {pyarrow.__version__}; "
        f"load average at start {load:.1f} (the machine is shared)"
    )


def in_turn(con, queries: dict, rounds: int) -> dict:
    """Seconds of each query on one connection, all of them in turn each round, so that none runs
    warmer or on a quieter moment than the others: {key: [seconds, one per round]}."""
    times: dict = {k: [] for k in queries}
    for _ in range(rounds):
        for key, sql in queries.items():
            t0 = time.perf_counter()
            con.execute(sql).fetchall()
            times[key].append(time.perf_counter() - t0)
    return times


def disk_bytes(path: Path) -> int:
    """What a result takes on disk: every file under a folder (a lake, an export), or a file with
    its siblings (a DuckDB file's .wal; its .tmp spill folder is not counted)."""
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*") if p.is_file())


def fmt_mb(mb: float) -> str:
    return f"{mb:,.0f} MB"
