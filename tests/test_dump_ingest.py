"""`mwh ingest --dump`: CAVE materialization dump files in, the same raw rows out as any other source.

Dumps are written by ingest/synthetic_dumps.py from the seeded generator into tmp_path; the
reference is the generator's own tables and the same rows ingested through the demo source, read
back from the raw tables with pandas.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

import warehouse
from ingest.dump_ingest import ingest_dump
from ingest.job import run_snapshot
from ingest.plan import whole_table_request
from ingest.run import IngestOptions, ingest_version
from ingest.sources.demo import DemoSource
from ingest.synthetic import SYNAPSE_TABLE, SyntheticDatastack, merged_table
from ingest.synthetic_dumps import SYNAPSE_DUMP_TABLE, SyntheticSynapses, write_datastack_version, write_table
from warehouse.errors import IngestInterrupted, WarehouseError
from warehouse.registry import schema_of
from warehouse.tables import conform

V1, V2 = 1181, 1300
ROLE_TABLES = {
    "proofreading": "proofreading_status_and_strategy",
    "synapses": SYNAPSE_TABLE,
    "cell_types_manual": "allen_v1_column_types_slanted_ref",
    "cell_types_auto": "aibs_metamodel_celltypes_v661",
}


@pytest.fixture(scope="module")
def ds() -> SyntheticDatastack:
    return SyntheticDatastack("demo", seed=7, scale=0.1)


@pytest.fixture(scope="module")
def dumps(ds, tmp_path_factory) -> dict[int, Path]:
    root = tmp_path_factory.mktemp("dumps")
    out = {}
    for v in (V1, V2):
        write_datastack_version(ds, v, root / f"v{v}")
        out[v] = root / f"v{v}"
    return out


def _raw(db: Path, role: str, version: int) -> pd.DataFrame:
    """A snapshot's rows from the raw tables (the split synapse storage joined back), sorted by id."""
    with warehouse.open(db) as wh:
        name = ROLE_TABLES[role]
        sid = wh.con.execute(
            "SELECT snapshot_id FROM meta.current_snapshots WHERE role = ? AND version = ?", [role, version]
        ).fetchall()[0][0]
        df = wh.con.execute(f'SELECT * FROM raw."{name}" WHERE snapshot_id = ?', [sid]).df()
    return df.drop(columns=["snapshot_id"]).sort_values("id").reset_index(drop=True)


def _expected(ds: SyntheticDatastack, role: str, version: int) -> pd.DataFrame:
    df = conform(merged_table(ds, ROLE_TABLES[role], version), role, "test").to_pandas()
    df.insert(0, "version", version)
    return df.sort_values("id").reset_index(drop=True)


def _mwh(*args: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **(env_extra or {})}
    env.pop("MWH_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "warehouse", *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_dump_ingest_equals_demo_source_row_for_row(ds, dumps, tmp_path):
    via_dump, via_demo = tmp_path / "dump.duckdb", tmp_path / "demo.duckdb"
    with warehouse.open_for_datastack(via_dump, "demo") as wh:
        outcomes = ingest_dump(wh, dumps[V1], V1, rows_per_batch=7_000)  # many batches: probes per range
    assert {o.action for o in outcomes} == {"created"}
    # The same version through the demo source: the three whole tables, then the whole synapse table
    # (a row cap well under its size, so the job splits chunks as it would against CAVE).
    source = DemoSource(ds, row_cap=20_000)
    with warehouse.open_for_datastack(via_demo, "demo") as wh:
        ingest_version(
            wh, source, V1, IngestOptions(roles=["proofreading", "cell_types_manual", "cell_types_auto"])
        )
        lay = wh.store.layout("synapses")
        req = whole_table_request(lay, V1, source.count(SYNAPSE_TABLE, V1))
        out = run_snapshot(wh, source, req, workers=2)
        assert out.splits > 0
    for role in ROLE_TABLES:
        got, demo = _raw(via_dump, role, V1), _raw(via_demo, role, V1)
        pd.testing.assert_frame_equal(got, demo, check_dtype=True)
        pd.testing.assert_frame_equal(got, _expected(ds, role, V1), check_dtype=False)
    # The analysis views agree too (the dump holds every synapse, the demo snapshot as well).
    q = "SELECT count(*), sum(size), count(DISTINCT pre_pt_root_id) FROM proofread_synapses WHERE version = ?"
    with warehouse.open(via_dump) as a, warehouse.open(via_demo) as b:
        assert a.con.execute(q, [V1]).fetchall() == b.con.execute(q, [V1]).fetchall()


def test_second_version_dedups_fixed_columns_and_rerun_is_noop(ds, dumps, tmp_path):
    db = tmp_path / "w.duckdb"
    with warehouse.open_for_datastack(db, "demo") as wh:
        ingest_dump(wh, dumps[V1], V1, roles=["synapses"], rows_per_batch=10_000)
        size_fixed = wh.con.execute('SELECT count(*) FROM raw."synapses_pni_2__fixed"').fetchall()[0][0]
        second = ingest_dump(wh, dumps[V2], V2, roles=["synapses"], rows_per_batch=10_000)
        again = ingest_dump(wh, dumps[V2], V2, roles=["synapses"])
        forced = ingest_dump(wh, dumps[V2], V2, roles=["synapses"], force=True)
        fixed, distinct = wh.con.execute(
            'SELECT count(*), count(DISTINCT id) FROM raw."synapses_pni_2__fixed"'
        ).fetchall()[0]
        per_snapshot = dict(
            wh.con.execute(
                'SELECT snapshot_id, count(*) FROM raw."synapses_pni_2__rows" GROUP BY 1'
            ).fetchall()
        )
        status = dict(wh.con.execute("SELECT snapshot_id, status FROM meta.snapshots").fetchall())
    n = len(ds.syn_id)
    assert size_fixed == fixed == distinct == n  # the second version added no fixed row
    assert second[0].action == "created" and again[0].action == "unchanged" and forced[0].action == "created"
    assert status[second[0].snapshot_id] == "replaced" and second[0].snapshot_id not in per_snapshot
    assert sorted(per_snapshot.values()) == [n, n]
    for v in (V1, V2):
        pd.testing.assert_frame_equal(
            _raw(db, "synapses", v), _expected(ds, "synapses", v), check_dtype=False
        )


def test_later_version_reads_root_ids_only_and_takes_new_ids_in_a_second_pass(ds, tmp_path):
    """A later version's file is parsed for id and root ids only; the ids it brings that the
    warehouse lacks (here 300, some inside the id range, some beyond it) get their fixed columns
    from a second, full pass, and ids it drops are simply absent at that version."""
    v1 = conform(merged_table(ds, SYNAPSE_TABLE, V1), "synapses", "test")
    v2 = conform(merged_table(ds, SYNAPSE_TABLE, V2), "synapses", "test").slice(200)  # 200 ids gone
    new = v2.slice(0, 300).to_pandas()
    new["id"] = new["id"] + 1 + v1.column("id").to_pandas().max()  # beyond every known id...
    new.loc[:99, "id"] = [-1 - i for i in range(100)]  # ...and 100 below them, out of order
    new["size"] = new["size"] + 7  # fixed columns that only the second pass can bring
    v2 = pa.concat_tables([v2, pa.Table.from_pandas(new, schema=v2.schema, preserve_index=False)])
    write_table(tmp_path / "v1", SYNAPSE_DUMP_TABLE, v1)
    write_table(tmp_path / "v2", SYNAPSE_DUMP_TABLE, v2)
    db = tmp_path / "w.duckdb"
    stats: dict = {}
    with warehouse.open_for_datastack(db, "demo") as wh:
        ingest_dump(wh, tmp_path / "v1", V1, rows_per_batch=9_000, stats=stats)
        assert stats[SYNAPSE_DUMP_TABLE].extra == {"narrow": False}
        ingest_dump(wh, tmp_path / "v2", V2, rows_per_batch=9_000, stats=stats)
        fixed = wh.con.execute('SELECT count(*) FROM raw."synapses_pni_2__fixed"').fetchall()[0][0]
    assert stats[SYNAPSE_DUMP_TABLE].extra == {"narrow": True, "second_pass_ids": 300}
    assert stats[SYNAPSE_DUMP_TABLE].fixed_added == 300 and fixed == v1.num_rows + 300
    want = v2.to_pandas().sort_values("id").reset_index(drop=True)
    want.insert(0, "version", V2)
    pd.testing.assert_frame_equal(_raw(db, "synapses", V2), want, check_dtype=False)
    want1 = v1.to_pandas().sort_values("id").reset_index(drop=True)
    want1.insert(0, "version", V1)
    pd.testing.assert_frame_equal(_raw(db, "synapses", V1), want1, check_dtype=False)


def test_fast_synthetic_versions_share_fixed_rows(tmp_path):
    """The benchmark writer: same ids and positions across versions, some root ids changed."""
    gen = SyntheticSynapses(30_000, seed=3, batch_rows=7_000, synapses_per_cell=50, changed_fraction=0.3)
    for i in (0, 1):
        gen.write(tmp_path / f"v{i}", version_index=i)
    db = tmp_path / "w.duckdb"
    with warehouse.open_for_datastack(db, "demo") as wh:
        ingest_dump(wh, tmp_path / "v0" / f"{SYNAPSE_DUMP_TABLE}.csv.gz", 1, rows_per_batch=4_000)
        ingest_dump(wh, tmp_path / "v1", 2, rows_per_batch=4_000)
        fixed = wh.con.execute('SELECT count(*) FROM raw."synapses_pni_2__fixed"').fetchall()[0][0]
        changed = wh.con.execute(
            'SELECT count(*) FROM raw."synapses_pni_2__rows" a JOIN raw."synapses_pni_2__rows" b USING (id) '
            "WHERE a.version = 1 AND b.version = 2 AND a.pre_pt_root_id <> b.pre_pt_root_id"
        ).fetchall()[0][0]
    want = pd.concat([b.to_pandas() for b in gen.batches(1)]).sort_values("id").reset_index(drop=True)
    got = _raw(db, "synapses", 2).drop(columns=["version"])
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    assert fixed == 30_000
    assert 0.2 * 30_000 < changed < 0.4 * 30_000


def test_file_out_of_id_order_is_read_right_and_duplicate_ids_refused(ds, tmp_path):
    table = conform(merged_table(ds, SYNAPSE_TABLE, V1), "synapses", "test")
    shuffled = table.take(pd.Series(range(table.num_rows)).sample(frac=1, random_state=4).to_numpy())
    write_table(tmp_path / "shuffled", SYNAPSE_DUMP_TABLE, shuffled)
    doubled = pa.concat_tables([table.slice(0, 20_000), table.slice(10_000, 100)])  # 100 ids twice
    write_table(tmp_path / "doubled", SYNAPSE_DUMP_TABLE, doubled)
    db = tmp_path / "w.duckdb"
    with warehouse.open_for_datastack(db, "demo") as wh:
        ingest_dump(wh, tmp_path / "shuffled", V1, rows_per_batch=9_000)
        with pytest.raises(WarehouseError, match="100 duplicate synapse ids; nothing was committed"):
            ingest_dump(wh, tmp_path / "doubled", V2, rows_per_batch=9_000)
    pd.testing.assert_frame_equal(_raw(db, "synapses", V1), _expected(ds, "synapses", V1), check_dtype=False)


def _header_case(dumps: Path, tmp_path: Path, edit) -> Path:
    folder = tmp_path / "edited"
    folder.mkdir()
    for f in dumps.iterdir():
        if f.name.startswith(SYNAPSE_DUMP_TABLE):
            (folder / f.name).write_bytes(f.read_bytes())
    header = folder / f"{SYNAPSE_DUMP_TABLE}_header.csv"
    header.write_text(edit(header.read_text()))
    return folder


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (lambda h: h.replace("size,bigint", "synapse_size,bigint"), ["synapse_size", "not a column"]),
        (
            lambda h: (
                h.replace(
                    "ctr_pt_position_x,bigint\nctr_pt_position_y,bigint\nctr_pt_position_z,bigint\n", ""
                )
                + "ctr_pt_position,geometry\n"
            ),
            ["ctr_pt_position", "unsplit position"],
        ),
        (lambda h: h.replace("valid,boolean", "valid,bytea"), ["valid", "bytea"]),
        (lambda h: h.replace("created,timestamp with time zone\n", ""), ["created", "needs column"]),
        (lambda h: h.replace("id,bigint", "id bigint"), ["line 1", "column,type"]),
    ],
    ids=["unknown", "unsplit-position", "bad-type", "missing", "malformed"],
)
def test_header_problems_fail_in_one_line_naming_the_column(dumps, tmp_path, edit, words):
    folder = _header_case(dumps[V1], tmp_path, edit)
    db = tmp_path / "w.duckdb"
    r = _mwh("ingest", "-d", "demo", "-v", str(V1), "--dump", str(folder), "--db", str(db))
    assert r.returncode == 1, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), r.stderr
    assert all(w in lines[0] for w in words), lines[0]
    assert "Traceback" not in r.stderr


def test_value_that_does_not_fit_names_the_column(tmp_path, ds):
    table = conform(merged_table(ds, SYNAPSE_TABLE, V1), "synapses", "test").slice(0, 500)
    write_table(tmp_path / "d", SYNAPSE_DUMP_TABLE, table)
    header = tmp_path / "d" / f"{SYNAPSE_DUMP_TABLE}_header.csv"
    header.write_text(header.read_text().replace("size,bigint", "size,double precision"))
    data = tmp_path / "d" / f"{SYNAPSE_DUMP_TABLE}.csv.gz"
    lines = gzip.decompress(data.read_bytes()).decode().splitlines()
    cells = lines[300].split(",")
    cells[8] = "12.5"  # size: a fraction cannot be a voxel count
    lines[300] = ",".join(cells)
    data.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    r = _mwh(
        "ingest",
        "-d",
        "demo",
        "-v",
        str(V1),
        "--dump",
        str(tmp_path / "d"),
        "--db",
        str(tmp_path / "w.duckdb"),
    )
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "size" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("damage", ["truncated", "corrupt"])
def test_damaged_file_leaves_no_half_snapshot_and_rerun_works(ds, dumps, tmp_path, damage):
    db = tmp_path / "w.duckdb"
    args = ["ingest", "-d", "demo", "--db", str(db), "--tables", "synapses"]
    assert _mwh(*args, "-v", str(V1), "--dump", str(dumps[V1])).returncode == 0
    before = _raw(db, "synapses", V1)
    folder = tmp_path / "bad"
    folder.mkdir()
    good = dumps[V2] / f"{SYNAPSE_DUMP_TABLE}.csv.gz"
    blob = good.read_bytes()
    if damage == "truncated":
        blob = blob[: int(len(blob) * 0.6)]
    else:
        mid = len(blob) // 2
        blob = blob[:mid] + bytes(b ^ 0x5A for b in blob[mid : mid + 4000]) + blob[mid + 4000 :]
    (folder / good.name).write_bytes(blob)
    (folder / f"{SYNAPSE_DUMP_TABLE}_header.csv").write_text(
        (dumps[V2] / f"{SYNAPSE_DUMP_TABLE}_header.csv").read_text()
    )
    r = _mwh(*args, "-v", str(V2), "--dump", str(folder))
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "Traceback" not in r.stderr and good.name in r.stderr
    with warehouse.open(db) as wh:
        rows = wh.con.execute(
            'SELECT version, count(*) FROM raw."synapses_pni_2__rows" GROUP BY 1 ORDER BY 1'
        ).fetchall()
        fixed = wh.con.execute('SELECT count(*) FROM raw."synapses_pni_2__fixed"').fetchall()[0][0]
        snaps = wh.con.execute("SELECT version, status FROM meta.snapshots ORDER BY snapshot_id").fetchall()
    assert rows == [(V1, len(ds.syn_id))] and fixed == len(ds.syn_id)  # nothing of v1300 is kept
    assert snaps == [(V1, "complete"), (V2, "incomplete")]
    pd.testing.assert_frame_equal(_raw(db, "synapses", V1), before)
    # The same command with a good file finishes the snapshot.
    ok = _mwh(*args, "-v", str(V2), "--dump", str(dumps[V2]))
    assert ok.returncode == 0, ok.stderr
    assert "resumed" in ok.stderr
    pd.testing.assert_frame_equal(_raw(db, "synapses", V2), _expected(ds, "synapses", V2), check_dtype=False)


def test_interrupted_ingest_keeps_nothing_and_reruns(ds, dumps, tmp_path):
    """Ctrl-C after some batches are appended: the transaction rolls back, the re-run completes."""
    db = tmp_path / "w.duckdb"

    def stop(table: str, rows: int) -> None:
        raise KeyboardInterrupt

    with warehouse.open_for_datastack(db, "demo") as wh:
        ingest_dump(wh, dumps[V1], V1, roles=["synapses"])
        with pytest.raises(IngestInterrupted, match="interrupted; nothing of it was kept"):
            ingest_dump(wh, dumps[V2], V2, roles=["synapses"], rows_per_batch=5_000, on_batch=stop)
        counts = wh.con.execute(
            'SELECT (SELECT count(*) FROM raw."synapses_pni_2__rows"), (SELECT count(*) FROM raw."synapses_pni_2__fixed")'
        ).fetchall()[0]
        assert counts == (len(ds.syn_id), len(ds.syn_id))
        assert wh.con.execute("SELECT status FROM meta.snapshots WHERE version = ?", [V2]).fetchall() == [
            ("incomplete",)
        ]
        again = ingest_dump(wh, dumps[V2], V2, roles=["synapses"])
        assert again[0].action == "resumed" and again[0].rows == len(ds.syn_id)


def test_dump_option_errors(dumps, tmp_path):
    db = str(tmp_path / "w.duckdb")
    r = _mwh("ingest", "-d", "demo", "-v", "1181", "--dump", str(tmp_path / "nowhere"), "--db", db)
    assert r.returncode == 1 and "does not exist" in r.stderr and "Traceback" not in r.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    r = _mwh("ingest", "-d", "demo", "-v", "1181", "--dump", str(empty), "--db", db)
    assert r.returncode == 1 and "no dump files" in r.stderr and SYNAPSE_DUMP_TABLE in r.stderr
    lone = tmp_path / "lone"
    lone.mkdir()
    (lone / f"{SYNAPSE_DUMP_TABLE}.csv.gz").write_bytes(
        (dumps[V1] / f"{SYNAPSE_DUMP_TABLE}.csv.gz").read_bytes()
    )
    r = _mwh("ingest", "-d", "demo", "-v", "1181", "--dump", str(lone), "--db", db)
    assert r.returncode == 1 and "header file" in r.stderr
    r = _mwh(
        "ingest", "-d", "demo", "-v", "1181", "--dump", str(dumps[V1]), "--server", "http://x", "--db", db
    )
    assert r.returncode == 2 and "--server" in r.stderr


def test_schema_of_dump_header_matches_canonical(dumps):
    header = (dumps[V1] / f"{SYNAPSE_DUMP_TABLE}_header.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in header] == schema_of("synapses").names
