"""`mwh ingest` killed with SIGKILL at ten random moments, against the loopback CAVE server.

After every kill the file must open, earlier snapshots must answer exactly as before, and the same
command must finish the job; the final tables must equal an uninterrupted ingest row for row. The
kill points come from a seeded generator, so a failure can be replayed with the same seed.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import duckdb
import pytest

from ingest.synthetic import SyntheticDatastack
from tests.cave_server import CaveTestServer

SEED = int(os.environ.get("MWH_KILL_SEED", "20261125"))
TOKEN = "kill-test-token"


def ingest_cmd(db, url: str, version: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "warehouse",
        "ingest",
        "--db",
        str(db),
        "--datastack",
        "demo",
        "--server",
        url,
        "--version",
        str(version),
        "--ids-per-chunk",
        "4",
        "--workers",
        "2",
    ]


def state(db, version: int) -> tuple:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return (
            con.execute(
                "SELECT snapshot_id, role, status, row_count FROM meta.snapshots WHERE version = ? ORDER BY 1",
                [version],
            ).fetchall(),
            con.execute(
                "SELECT count(*), sum(size), sum(pre_pt_root_id % 1000) FROM stg_synapses WHERE version = ?",
                [version],
            ).fetchall(),
            con.execute("SELECT count(*) FROM cell_types WHERE version = ?", [version]).fetchall(),
        )
    finally:
        con.close()


def raw(db, version: int) -> dict[str, list]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return {
            t: con.execute(
                f'SELECT * EXCLUDE (snapshot_id) FROM raw."{t}" WHERE version = ? ORDER BY id', [version]
            ).fetchall()
            for t in (
                "proofreading_status_and_strategy",
                "synapses_pni_2",
                "allen_v1_column_types_slanted_ref",
                "aibs_metamodel_celltypes_v661",
            )
        }
    finally:
        con.close()


@pytest.fixture(scope="module")
def server():
    ds = SyntheticDatastack("demo", seed=7, scale=0.1)
    with CaveTestServer(ds, token=TOKEN, row_cap=400, latency=0.02, seed=3) as srv:
        srv.warm()
        yield srv


def test_sigkill_at_ten_random_points_loses_nothing(server, tmp_path, capsys):
    env = {**os.environ, "CAVE_TOKEN": TOKEN, "HOME": str(tmp_path)}
    env.pop("MWH_DB", None)
    ref, db = tmp_path / "ref.duckdb", tmp_path / "w.duckdb"

    server.reset_stats()
    done = subprocess.run(
        ingest_cmd(ref, server.url, 1181), env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    queries_uninterrupted = server.stats["queries"]
    chunks_uninterrupted = synapse_chunk_queries(server)

    first = subprocess.run(
        ingest_cmd(db, server.url, 1078), env=env, capture_output=True, text=True, timeout=300
    )
    assert first.returncode == 0, first.stderr
    earlier = state(db, 1078)

    rng = random.Random(SEED)
    server.reset_stats()
    kills = 0
    for i in range(10):
        before = server.stats["queries"]
        at = rng.randint(0, max(2, queries_uninterrupted // 12))  # 0: during start-up and planning
        proc = subprocess.Popen(
            ingest_cmd(db, server.url, 1181), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 120
        if at == 0:
            time.sleep(rng.uniform(0.2, 1.5))
        else:
            while (
                server.stats["queries"] < before + at and proc.poll() is None and time.monotonic() < deadline
            ):
                time.sleep(0.005)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
        assert state(db, 1078) == earlier, f"an earlier snapshot changed after kill {i}"
    final = subprocess.run(
        ingest_cmd(db, server.url, 1181), env=env, capture_output=True, text=True, timeout=300
    )
    assert final.returncode == 0, final.stderr
    assert kills >= 8, "kills must land while the ingest runs"

    assert raw(db, 1181) == raw(ref, 1181)
    assert state(db, 1078) == earlier
    con = duckdb.connect(str(db), read_only=True)
    chunks_total = con.execute(
        "SELECT count(*) FROM meta.chunks c JOIN meta.snapshots s USING (snapshot_id) WHERE s.version = 1181 AND s.status = 'complete'"
    ).fetchall()[0][0]
    con.close()
    refetched = server.stats["queries"] - queries_uninterrupted
    chunks_refetched = synapse_chunk_queries(server) - chunks_uninterrupted
    with capsys.disabled():
        print(
            f"\n[kill test seed {SEED}] {kills} SIGKILLs; {server.stats['queries']} queries over all runs vs "
            f"{queries_uninterrupted} uninterrupted ({chunks_total} chunks recorded): {refetched} re-sent, "
            f"{chunks_refetched} of them synapse chunks"
        )
    # Done chunks are never fetched again: a resume re-sends at most the 2 (--workers) chunks in flight
    # at the kill. Besides those, each run asks early for what it has not committed yet: a count and
    # the one chunk of each whole table, and the synapse count (ingest/ahead.py), at most 7 a run.
    assert chunks_refetched <= kills * 2, "a resume re-fetches at most the chunks in flight at the kill"
    assert refetched - chunks_refetched <= (kills + 1) * 7


def synapse_chunk_queries(server) -> int:
    """Synapse chunk queries the server has answered since its stats were reset (counts excluded)."""
    return sum(
        1
        for q in server.query_log
        if "synapses_pni_2" in q["path"] and str(q["params"].get("count", "false")).lower() != "true"
    )
