"""Ingest from a CAVE Delta Lake export: the same raw rows as the generator's tables, all or nothing.

Exports are written by ingest/synthetic_delta.py (real delta-rs tables in MaterializationEngine's
layout) into tmp_path; the reference is the generator's own `merged_table` cast to the canonical
schema, independent of the reader, compared with the raw tables of a real DuckDB file.
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import warehouse
from ingest.delta_ingest import QUERY_KIND, ingest_delta_export
from ingest.sources.delta_export import DeltaExportError, decode_ewkb_points, find_export, read_batches
from ingest.synthetic import SYNAPSE_TABLE, SyntheticDatastack, merged_table
from ingest.synthetic_delta import ROLE_TABLES, SYNAPSE_SPECS, write_datastack_version
from warehouse.config import datastack_config
from warehouse.errors import IngestInterrupted, SourceError
from warehouse.tables import conform

V1, V2 = 1181, 1300
DROPPED = ("created", "superceded_id", "created_ref")  # the export does not carry them: NULL here
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def ds() -> SyntheticDatastack:
    return SyntheticDatastack("demo", seed=7, scale=0.1)


@pytest.fixture(scope="module")
def export(ds, tmp_path_factory) -> Path:
    """The bucket root: every table of V1, and the synapse and proofreading tables of V2."""
    root = tmp_path_factory.mktemp("export")
    write_datastack_version(ds, V1, root, optimize=["synapses"])  # z-order is most of the write time
    write_datastack_version(ds, V2, root, roles=["proofreading", "synapses"], optimize=False)
    return root


@pytest.fixture(scope="module")
def empty_db(tmp_path_factory) -> Path:
    """A new warehouse file, copied per test: creating one costs about a second."""
    path = tmp_path_factory.mktemp("empty") / "w.duckdb"
    with warehouse.open_for_datastack(path, "demo"):
        pass
    return path


@pytest.fixture
def db(empty_db, tmp_path) -> Path:
    path = tmp_path / "w.duckdb"
    shutil.copyfile(empty_db, path)
    return path


def _raw(db: Path, role: str, version: int) -> pd.DataFrame:
    with warehouse.open(db) as wh:
        sid = wh.con.execute(
            "SELECT snapshot_id FROM meta.current_snapshots WHERE role = ? AND version = ?", [role, version]
        ).fetchall()[0][0]
        df = wh.con.execute(f'SELECT * FROM raw."{ROLE_TABLES[role]}" WHERE snapshot_id = ?', [sid]).df()
    return df.drop(columns=["snapshot_id"]).sort_values("id").reset_index(drop=True)


def _expected(ds: SyntheticDatastack, role: str, version: int) -> pd.DataFrame:
    df = conform(merged_table(ds, ROLE_TABLES[role], version), role, "test").to_pandas()
    df.insert(0, "version", version)
    return df.sort_values("id").reset_index(drop=True)


def _same_but_dropped(got: pd.DataFrame, want: pd.DataFrame) -> None:
    """Equal row for row, except the columns the export drops, which must be NULL."""
    dropped = [c for c in DROPPED if c in want.columns]
    for c in dropped:
        assert got[c].isna().all(), c
    pd.testing.assert_frame_equal(got.drop(columns=dropped), want.drop(columns=dropped), check_dtype=False)


def test_export_ingest_equals_generator_row_for_row(ds, export, db):
    with warehouse.open_for_datastack(db, "demo") as wh:
        outcomes = ingest_delta_export(wh, export, V1, rows_per_batch=7_000)  # many batches per table
        queries = dict(wh.con.execute("SELECT role, query FROM meta.current_snapshots").fetchall())
        again = ingest_delta_export(wh, export / "demo" / f"v{V1}", V1)  # the version folder works too
    assert [o.action for o in outcomes] == ["created"] * 5 and {o.action for o in again} == {"unchanged"}
    for role in ROLE_TABLES:
        _same_but_dropped(_raw(db, role, V1), _expected(ds, role, V1))
        q = json.loads(queries[role])
        assert q["kind"] == QUERY_KIND and q["spec"] == "id" and q["delta_version"] >= 1
    assert json.loads(queries["cell_types_auto"])["reference"]["table"] == "nucleus_detection_v0"


def test_every_spec_copy_gives_the_same_rows(ds, export):
    cfg = datastack_config("demo")
    want = conform(merged_table(ds, SYNAPSE_TABLE, V1), "synapses", "test").drop_columns(["created"])
    for spec in SYNAPSE_SPECS:
        (table,) = find_export(export, cfg, V1, ["synapses"], {"synapses": spec})
        assert table.copy.spec == spec
        got = pa.concat_tables(read_batches(table, 20_000)).drop_columns(["created"])
        assert got.num_rows == want.num_rows == table.copy.rows  # one copy, never a union
        assert got.sort_by("id").equals(want.sort_by("id")), spec


def _ewkb(x, y, z, *, little=True, srid=None, m=None, iso=False) -> bytes:
    o = "<" if little else ">"
    if iso:
        typ = 3001 if m is not None else 1001
    else:
        typ = 1 | 0x80000000 | (0x40000000 if m is not None else 0) | (0x20000000 if srid is not None else 0)
    out = bytes([1 if little else 0]) + struct.pack(o + "I", typ)
    if srid is not None and not iso:
        out += struct.pack(o + "I", srid)
    return out + struct.pack(o + "ddd", x, y, z) + (struct.pack(o + "d", m) if m is not None else b"")


def test_ewkb_points_decode_in_either_byte_order_with_or_without_srid():
    values = [
        _ewkb(1, 2, 3),
        _ewkb(400_000, 330_000, 27_000, little=False, srid=4326),
        None,
        _ewkb(-5, 0, 7, srid=0),
        _ewkb(8, 9, 10, little=False, m=1.5),
        _ewkb(11, 12, 13, iso=True),
        _ewkb(2**40, 1, 2, iso=True, little=False, m=0.0),
    ]
    x, y, z = decode_ewkb_points(pa.array(values, pa.large_binary()).slice(0), "pt_position")
    want = [None if v is None else v for v in [(1, 2, 3), (400_000, 330_000, 27_000), None, (-5, 0, 7)]]
    want += [(8, 9, 10), (11, 12, 13), (2**40, 1, 2)]
    got = list(zip(x.to_pylist(), y.to_pylist(), z.to_pylist(), strict=True))
    assert got == [w if w is not None else (None, None, None) for w in want]
    # One shape per column (what an exporter writes) takes the byte-matrix path; same answers.
    for little, srid in [(True, 4326), (False, None)]:
        pts = [_ewkb(i, 2 * i, 3 * i, little=little, srid=srid) for i in range(4)] + [None]
        x, y, z = decode_ewkb_points(pa.array(pts), "ctr_pt_position")
        assert list(zip(x.to_pylist(), y.to_pylist(), z.to_pylist(), strict=True)) == [
            (i, 2 * i, 3 * i) for i in range(4)
        ] + [(None, None, None)]
    for bad, words in [
        (_ewkb(1.5, 2, 3), "not whole voxels"),
        (bytes([1]) + struct.pack("<I", 1) + struct.pack("<dd", 1, 2), "not a 3-D point"),
        (bytes([1]) + struct.pack("<I", 0x80000002) + struct.pack("<Iddd", 1, 1, 2, 3), "not 3-D points"),
    ]:
        with pytest.raises(DeltaExportError, match=words):
            decode_ewkb_points(pa.array([_ewkb(0, 0, 0), bad]), "pt_position")


def _edited_export(export: Path, tmp_path: Path, edit) -> Path:
    """A V1 export whose proofreading id copy is rewritten by `edit` (the nucleus table beside it)."""
    from deltalake import DeltaTable, write_deltalake

    src = export / "demo" / f"v{V1}"
    folder = tmp_path / "edited" / "demo" / f"v{V1}"
    table = DeltaTable(str(src / "proofreading_status_and_strategy" / "id")).to_pyarrow_table()
    write_deltalake(str(folder / "proofreading_status_and_strategy" / "id"), edit(table))
    return folder


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (
            lambda t: t.append_column("status_soma", pa.array(["t"] * t.num_rows)),
            ["status_soma", "not a column"],
        ),
        (lambda t: t.drop_columns(["pt_root_id"]), ["pt_root_id", "needs column"]),
        (
            lambda t: t.set_column(
                t.schema.get_field_index("valid"), "valid", pc.cast(t["valid"], pa.string())
            ),
            ["valid", "cannot hold bool"],
        ),
        (
            lambda t: t.set_column(
                t.schema.get_field_index("id"), "id", pc.add(pc.cast(t["id"], pa.float64()), 0.5)
            ),
            ["column id", "truncated"],
        ),
    ],
    ids=["unknown", "missing", "bad-type", "fraction"],
)
def test_unexpected_columns_are_refused_by_name_in_one_line(export, tmp_path, db, edit, words):
    folder = _edited_export(export, tmp_path, edit)
    with warehouse.open_for_datastack(db, "demo") as wh:
        with pytest.raises(SourceError) as err:
            ingest_delta_export(wh, folder, V1, roles=["proofreading"])
        rows = wh.con.execute('SELECT count(*) FROM raw."proofreading_status_and_strategy"').fetchall()
    text = str(err.value)
    assert "\n" not in text and all(w in text for w in words), text
    assert "proofreading_status_and_strategy/id" in text and rows == [(0,)]


def test_object_store_and_wrong_places_are_refused(export, tmp_path, db):
    with warehouse.open_for_datastack(db, "demo") as wh:
        for where, words in [
            ("s3://bucket/minnie65_public/v1181", "object-store"),
            ("gs://bucket/x", "object-store"),
            (str(tmp_path / "nowhere"), "does not exist"),
            (str(export / "demo" / f"v{V2}"), "version 1300, not of version 1181"),
        ]:
            with pytest.raises(DeltaExportError, match=words):
                ingest_delta_export(wh, where, V1)
        lone = tmp_path / f"v{V1}"  # a cell-type table without the nucleus table it references
        shutil.copytree(
            export / "demo" / f"v{V1}" / "aibs_metamodel_celltypes_v661",
            lone / "aibs_metamodel_celltypes_v661",
        )
        with pytest.raises(DeltaExportError, match="references nucleus_detection_v0"):
            ingest_delta_export(wh, lone, V1)


_KILL = """
import os, signal, warehouse
from ingest.delta_ingest import ingest_delta_export
seen = []
def kill(table, rows):
    seen.append(rows)
    if len(seen) == 3:
        os.kill(os.getpid(), signal.SIGKILL)
with warehouse.open({db!r}, read_only=False) as wh:
    ingest_delta_export(wh, {export!r}, {version}, roles=["synapses"], rows_per_batch=10_000, on_batch=kill)
"""


def test_sigkilled_ingest_keeps_previous_versions_and_rerun_completes(ds, export, db):
    with warehouse.open_for_datastack(db, "demo") as wh:
        ingest_delta_export(wh, export, V1, roles=["proofreading", "synapses"])
    before = _raw(db, "synapses", V1)
    script = textwrap.dedent(_KILL).format(db=str(db), export=str(export), version=V2)
    r = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == -9, r.stderr
    n = len(ds.syn_id)
    with warehouse.open(db, read_only=False) as wh:
        rows = wh.con.execute(
            'SELECT version, count(*) FROM raw."synapses_pni_2__rows" GROUP BY 1'
        ).fetchall()
        fixed = wh.con.execute('SELECT count(*) FROM raw."synapses_pni_2__fixed"').fetchall()[0][0]
        status = wh.con.execute("SELECT status FROM meta.snapshots WHERE version = ?", [V2]).fetchall()
        assert rows == [(V1, n)] and fixed == n and status == [("incomplete",)]
        st: dict = {}
        again = ingest_delta_export(wh, export, V2, roles=["synapses"], stats=st)
    assert again[0].action == "resumed" and again[0].rows == n
    # A later version reads only id and root ids: every id was known, so no second pass.
    assert st["synapses_pni_2"].extra == {"narrow": True}
    pd.testing.assert_frame_equal(_raw(db, "synapses", V1), before)
    _same_but_dropped(_raw(db, "synapses", V2), _expected(ds, "synapses", V2))


def test_force_replaces_atomically(ds, export, db):

    def stop(table: str, rows: int) -> None:
        raise KeyboardInterrupt

    with warehouse.open_for_datastack(db, "demo") as wh:
        (first,) = ingest_delta_export(wh, export, V2, roles=["synapses"])
        with pytest.raises(IngestInterrupted, match="nothing of it was kept"):
            ingest_delta_export(
                wh, export, V2, roles=["synapses"], force=True, rows_per_batch=9_000, on_batch=stop
            )
        assert wh.con.execute(
            "SELECT snapshot_id FROM meta.current_snapshots WHERE role = 'synapses'"
        ).fetchall() == [(first.snapshot_id,)]
        (forced,) = ingest_delta_export(
            wh, export, V2, roles=["synapses"], force=True, specs={"synapses": "id"}
        )
        current = wh.con.execute("SELECT snapshot_id FROM meta.current_snapshots").fetchall()
        per = wh.con.execute(
            'SELECT snapshot_id, count(*) FROM raw."synapses_pni_2__rows" GROUP BY 1'
        ).fetchall()
    # The forced run resumes the interrupted forced attempt (same query), becomes current and
    # replaces the old snapshot in its commit, as an uninterrupted force does.
    assert forced.action == "resumed" and current == [(forced.snapshot_id,)]
    assert dict(per) == {forced.snapshot_id: len(ds.syn_id)}
    with warehouse.open(db, read_only=False) as wh:  # an uninterrupted force replaces in its commit
        (again,) = ingest_delta_export(wh, export, V2, roles=["synapses"], force=True)
        status = dict(wh.con.execute("SELECT snapshot_id, status FROM meta.snapshots").fetchall())
        kept = wh.con.execute('SELECT DISTINCT snapshot_id FROM raw."synapses_pni_2__rows"').fetchall()
    assert again.action == "created" and status[forced.snapshot_id] == "replaced"
    assert (forced.snapshot_id,) not in kept and (again.snapshot_id,) in kept
    _same_but_dropped(_raw(db, "synapses", V2), _expected(ds, "synapses", V2))


def test_unsorted_copy_ingests_the_same_rows(ds, export, tmp_path):
    """The Morton copy is in space order, not id order: the appender's dedup probe path."""
    db = tmp_path / "w.duckdb"
    with warehouse.open_for_datastack(db, "demo") as wh:
        ingest_delta_export(wh, export, V1, roles=["synapses"], rows_per_batch=8_000)
        ingest_delta_export(
            wh,
            export,
            V2,
            roles=["synapses"],
            rows_per_batch=8_000,
            specs={"synapses": "ctr_pt_position_morton"},
        )
        fixed = wh.con.execute('SELECT count(*) FROM raw."synapses_pni_2__fixed"').fetchall()[0][0]
    assert fixed == len(ds.syn_id)
    _same_but_dropped(_raw(db, "synapses", V2), _expected(ds, "synapses", V2))


def test_mwh_ingest_delta_end_to_end_answers_any_neuron(ds, export, tmp_path):
    """`mwh ingest --delta` as a user types it; the whole synapse table makes partners() complete
    for any root, and equals the notebook's groupby on the generator's rows."""
    db = tmp_path / "cli.duckdb"
    env = {k: v for k, v in __import__("os").environ.items() if k != "MWH_DB"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "warehouse",
            "ingest",
            "-d",
            "demo",
            "-v",
            "1181",
            "--delta",
            str(export),
            "--db",
            str(db),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "from the Delta export (created" in proc.stderr
    syn = merged_table(ds, SYNAPSE_TABLE, 1181).to_pandas()
    root = int(
        syn.post_pt_root_id[syn.post_pt_root_id != 0].value_counts().index[-1]
    )  # a quiet, unproofread one
    want = syn[syn.post_pt_root_id == root].groupby("pre_pt_root_id").size().sort_values(ascending=False)
    with warehouse.open(db) as wh:
        got = wh.partners(root, 1181, "input").to_pandas()
    assert sorted(zip(got.partner_root_id, got.syn_count, strict=True)) == sorted(
        zip(want.index, want.values, strict=True)
    )
