"""The synapse table's root-ordered storage (warehouse/store.py): each snapshot's `__rows` in
pre root order with size, and `__by_post`, the same rows in post root order. They must hold
exactly the version's rows through every way rows arrive (chunked snapshots that add up, a dump
in several batches, --force, a schema-3 file migrated), stay sorted within each snapshot, and
partners / neuron_summary must answer as a pandas groupby over the raw view's rows does.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest

import warehouse
from ingest.dump_ingest import ingest_dump
from ingest.plan import PlanOptions
from ingest.run import IngestOptions, ingest_version
from ingest.sources.demo import DemoSource
from ingest.synthetic import SyntheticDatastack
from ingest.synthetic_dumps import write_datastack_version
from tests.catalog_checks import assert_current_is_the_newest_complete
from warehouse import schema
from warehouse.cli import main

V = 1181
RAW = 'raw."synapses_pni_2"'
ROWS = 'raw."synapses_pni_2__rows"'
FIXED = 'raw."synapses_pni_2__fixed"'
BY_POST = 'raw."synapses_pni_2__by_post"'
COLS = "snapshot_id, version, pre_pt_root_id, post_pt_root_id, size"


def _opts(mode: str, roots: tuple[int, ...] = ()) -> IngestOptions:
    return IngestOptions(workers=2, plan=PlanOptions(synapses=mode, ids_per_chunk=10, root_ids=roots))


def _raw_synapses(wh) -> pd.DataFrame:
    """The version's synapses through the raw view (__rows joined to __fixed), current snapshots."""
    return wh.con.execute(
        f"SELECT id, pre_pt_root_id, post_pt_root_id, size FROM {RAW} WHERE version = ? AND snapshot_id IN "
        "(SELECT snapshot_id FROM meta.current_snapshots WHERE role = 'synapses')",
        [V],
    ).df()


def _expected_partners(raw: pd.DataFrame, root: int, direction: str) -> pd.DataFrame:
    me, other = (
        ("pre_pt_root_id", "post_pt_root_id")
        if direction == "output"
        else ("post_pt_root_id", "pre_pt_root_id")
    )
    g = (
        raw[raw[me] == root]
        .groupby(other)
        .agg(syn_count=("id", "size"), size_sum=("size", "sum"))
        .reset_index()
        .rename(columns={other: "partner_root_id"})
    )
    return g.sort_values(["syn_count", "partner_root_id"], ascending=[False, True]).reset_index(drop=True)


def _check_copy_matches_rows(wh) -> None:
    """Every row of __rows is in the copy once, with its size, and nothing else is."""
    diff = wh.con.execute(
        f"""SELECT count(*) FROM (
            (SELECT {COLS} FROM {ROWS} EXCEPT ALL SELECT {COLS} FROM {BY_POST})
            UNION ALL
            (SELECT {COLS} FROM {BY_POST} EXCEPT ALL SELECT {COLS} FROM {ROWS}))"""
    ).fetchall()[0][0]
    assert diff == 0


def _check_sorted(wh) -> None:
    """Each snapshot's block is stored in its root's order (what the zone maps need)."""
    for table, key in ((ROWS, "pre_pt_root_id"), (BY_POST, "post_pt_root_id")):
        blocks = wh.con.execute(
            f"SELECT snapshot_id, max(rowid) - min(rowid) + 1, count(*) FROM {table} GROUP BY 1"
        ).fetchall()
        assert all(span == n for _, span, n in blocks), f"{table}: a snapshot's rows are not one block"
        out_of_order = wh.con.execute(
            f"SELECT count(*) FROM (SELECT {key}, lag({key}) OVER (PARTITION BY snapshot_id ORDER BY rowid) AS prev "
            f"FROM {table}) WHERE {key} < prev"
        ).fetchall()[0][0]
        assert out_of_order == 0, table


@pytest.fixture(scope="module")
def two_snapshots(tmp_path_factory) -> tuple[Path, list[int]]:
    """One version with a proofread snapshot and a second one for roots outside it: they add up."""
    ds = SyntheticDatastack("demo", seed=11, scale=0.1)
    db = tmp_path_factory.mktemp("roots") / "w.duckdb"
    source = DemoSource(ds)
    with warehouse.open_for_datastack(db, "demo") as wh:
        ingest_version(wh, source, V, _opts("proofread"))
        roots = [
            r
            for (r,) in wh.con.execute(
                "SELECT pre_pt_root_id FROM stg_synapses GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 3"
            ).fetchall()
        ]
        ingest_version(wh, source, V, _opts("roots", tuple(roots)))
        n_snaps = wh.con.execute(
            "SELECT count(*) FROM meta.current_snapshots WHERE role = 'synapses' AND version = ?", [V]
        ).fetchall()[0][0]
        assert n_snaps == 2
    return db, roots


def test_partners_both_directions_equal_a_pandas_groupby_after_a_second_snapshot(two_snapshots):
    db, roots = two_snapshots
    with warehouse.open(db) as wh:
        raw = _raw_synapses(wh)
        assert raw["id"].is_unique  # the union of the snapshots, each synapse once
        for root in roots:
            for direction in ("output", "input"):
                got = wh.con.execute(
                    f"SELECT partner_root_id, syn_count, size_sum FROM partners({root}, {V}, direction := '{direction}')"
                ).df()
                want = _expected_partners(raw, root, direction)
                assert len(want) > 0
                pd.testing.assert_frame_equal(got, want, check_dtype=False)


def test_neuron_summary_counts_equal_the_raw_rows(two_snapshots):
    db, roots = two_snapshots
    with warehouse.open(db) as wh:
        raw = _raw_synapses(wh)
        for root in roots:
            out, inp = raw[raw.pre_pt_root_id == root], raw[raw.post_pt_root_id == root]
            got = wh.con.execute(
                f"SELECT syn_out, output_partners, syn_in, input_partners, autapses FROM neuron_summary({root}, {V})"
            ).fetchall()[0]
            assert got == (
                len(out),
                out.post_pt_root_id.nunique(),
                len(inp),
                inp.pre_pt_root_id.nunique(),
                int((out.post_pt_root_id == root).sum()),
            )


def test_rows_and_copy_hold_the_same_rows_each_sorted(two_snapshots):
    db, _ = two_snapshots
    with warehouse.open(db) as wh:
        _check_copy_matches_rows(wh)
        _check_sorted(wh)
        assert wh.con.execute(f"SELECT count(*) FROM {ROWS}").fetchall()[0][0] > 0


def test_partners_read_the_root_ordered_tables_and_never_the_fixed_columns(two_snapshots):
    """The point of the layout: one neuron's partners are a filtered scan of the table stored in
    that root's order (zone maps skip the rest at scale, docs/benchmarks.md), with no join to
    __fixed; what DuckDB plans is what it runs."""
    db, roots = two_snapshots
    with warehouse.open(db) as wh:
        for direction, table, key in (
            ("output", "synapses_pni_2__rows", "pre_pt_root_id"),
            ("input", "synapses_pni_2__by_post", "post_pt_root_id"),
        ):
            plan = "\n".join(
                r[1]
                for r in wh.con.execute(
                    f"EXPLAIN FROM partners({roots[0]}, {V}, direction := '{direction}')"
                ).fetchall()
            )
            assert table in plan, plan
            assert "__fixed" not in plan, plan
            assert f"{key}={roots[0]}" in plan.replace(" ", ""), (
                plan
            )  # pushed into the scan: the zone maps see it


def test_partners_checks_still_stand(two_snapshots):
    db, roots = two_snapshots
    with warehouse.open(db) as wh:
        with pytest.raises(Exception, match="direction must be 'output' or 'input'"):
            wh.con.execute(f"FROM partners({roots[0]}, {V}, direction := 'both')").fetchall()
        with pytest.raises(Exception, match="is not in version"):
            wh.con.execute(f"FROM partners(42, {V})").fetchall()


def _make_schema_3(wh) -> None:
    """Turn this file back into what schema 3 wrote: size in __fixed, __rows (snapshot_id,
    version, id, pre, post) in id order, no copy, meta.current_snapshots a view (as schemas 1-4
    had it), no meta.version_facts (schema 6 added it), schema_version 3."""
    wh.con.execute(f"ALTER TABLE {FIXED} ADD COLUMN size BIGINT")
    wh.con.execute(
        f"UPDATE {FIXED} f SET size = r.size FROM (SELECT DISTINCT id, size FROM {ROWS}) r WHERE r.id = f.id"
    )
    wh.con.execute(
        f"CREATE TABLE raw.old_rows AS SELECT snapshot_id, version, id, pre_pt_root_id, post_pt_root_id "
        f"FROM {ROWS} ORDER BY snapshot_id, id"
    )
    wh.con.execute(f"DROP VIEW {RAW}; DROP TABLE {ROWS}; DROP TABLE {BY_POST}")
    wh.con.execute('ALTER TABLE raw.old_rows RENAME TO "synapses_pni_2__rows"')
    wh.con.execute(
        f"CREATE VIEW {RAW} AS SELECT r.snapshot_id, r.version, f.*, r.pre_pt_root_id, r.post_pt_root_id "
        f"FROM {ROWS} r JOIN {FIXED} f USING (id)"
    )
    wh.con.execute(
        "DROP TABLE meta.current_snapshots; CREATE VIEW meta.current_snapshots AS "
        "SELECT * FROM meta.snapshots WHERE status = 'complete' QUALIFY role IN ('synapses') "
        "OR row_number() OVER (PARTITION BY role, version ORDER BY finished_at DESC, snapshot_id DESC) = 1"
    )
    wh.con.execute("DROP TABLE meta.version_facts")
    wh.con.execute("UPDATE meta.warehouse SET value = '3' WHERE key = 'schema_version'")


def _current_snapshots_is_a_table(con) -> bool:
    return con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'meta' AND table_name = 'current_snapshots'"
    ).fetchall() == [(1,)]


def test_dump_force_and_migration_keep_the_copy_equal_to_the_rows(tmp_path):
    ds = SyntheticDatastack("demo", seed=5, scale=0.05)
    write_datastack_version(ds, V, tmp_path / "dump")
    db = tmp_path / "w.duckdb"
    with warehouse.open_for_datastack(db, "demo") as wh:
        ingest_dump(wh, tmp_path / "dump", V, rows_per_batch=3_000)  # several batches, one sort
        _check_copy_matches_rows(wh)
        _check_sorted(wh)
        n = wh.con.execute(f"SELECT count(*) FROM {BY_POST}").fetchall()[0][0]
        assert n == len(ds.syn_id)
        ingest_dump(wh, tmp_path / "dump", V, roles=["synapses"], force=True)  # replaces the snapshot
        _check_copy_matches_rows(wh)
        assert wh.con.execute(f"SELECT count(*) FROM {BY_POST}").fetchall()[0][0] == n
        root = wh.con.execute(
            "SELECT pre_pt_root_id FROM stg_synapses GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"
        ).fetchall()[0][0]
        before = {
            d: wh.con.execute(f"FROM partners({root}, {V}, direction := '{d}')").fetchall()
            for d in ("output", "input")
        }
        raw_before = wh.con.execute("SELECT * FROM stg_synapses ORDER BY version, id").fetchall()
        _make_schema_3(wh)
    with warehouse.open_for_datastack(db, "demo") as wh:  # opening for writing migrates, in one transaction
        assert schema.file_schema_version(wh.con) == schema.SCHEMA_VERSION == 6
        assert _current_snapshots_is_a_table(wh.con)
        assert_current_is_the_newest_complete(wh)  # and meta.version_facts, which schema 6 adds
        _check_copy_matches_rows(wh)
        _check_sorted(wh)
        cols = [r[0] for r in wh.con.execute(f"DESCRIBE {FIXED}").fetchall()]
        assert "size" not in cols  # moved to __rows, not kept twice
        for d, rows in before.items():
            assert wh.con.execute(f"FROM partners({root}, {V}, direction := '{d}')").fetchall() == rows
        assert wh.con.execute("SELECT * FROM stg_synapses ORDER BY version, id").fetchall() == raw_before


def test_upgrade_from_schema_5_adds_the_version_facts_and_says_no_row_changed(
    two_snapshots, tmp_path, capsys
):
    """Schema 5 -> 6 only adds meta.version_facts: `mwh upgrade` says no stored row changed (3 -> 4
    rewrote them, and says so), the facts equal their definition, and the checks that read them
    answer and refuse as before."""
    src, roots = two_snapshots
    db = tmp_path / "w.duckdb"
    shutil.copy(src, db)
    with warehouse.open_for_datastack(db, "demo") as wh:
        before = wh.con.execute(f"FROM partners({roots[0]}, {V})").fetchall()
        # a cell with a nucleus whose synapses neither snapshot took whole: not proofread, not asked for
        outside = wh.con.execute(
            f"SELECT min(pt_root_id) FROM stg_nucleus WHERE version = {V} AND pt_root_id <> 0 "
            "AND pt_root_id NOT IN (SELECT unnest(?)) AND pt_root_id NOT IN (SELECT pt_root_id FROM proofread_roots)",
            [roots],
        ).fetchall()[0][0]
        wh.con.execute("DROP TABLE meta.version_facts")
        wh.con.execute("UPDATE meta.warehouse SET value = '5' WHERE key = 'schema_version'")
    with pytest.raises(SystemExit) as exit_:
        main(["upgrade", "--db", str(db)])
    err = capsys.readouterr().err
    assert exit_.value.code == 0
    assert "migrated from warehouse schema 5 to 6 (no stored row changed)" in err and "rewritten" not in err
    with warehouse.open(db) as wh:
        assert_current_is_the_newest_complete(wh)
        assert wh.con.execute(f"FROM partners({roots[0]}, {V})").fetchall() == before
        kinds = ", ".join(
            sorted(
                k
                for (k,) in wh.con.execute(
                    "SELECT DISTINCT json_extract_string(query, '$.kind') FROM meta.snapshots WHERE role = 'synapses'"
                ).fetchall()
            )
        )
        with pytest.raises(duckdb.InvalidInputException) as refused:
            wh.con.execute(f"FROM partners({outside}, {V})").fetchall()
        assert (
            f"version {V} holds only part of the synapses of root id {outside} (synapse snapshots: {kinds}); "
            f"take them all with: mwh ingest --datastack demo --version {V} --root-ids {outside}"
        ) in str(refused.value)
        with pytest.raises(
            duckdb.InvalidInputException,
            # any table partners checks: which fails first is DuckDB's order
            match=r"version 1 has no (synapses|proofreading|cell_types_manual|cell_types_auto) snapshot in this warehouse; "
            r"run: mwh ingest --datastack demo --version 1$",
        ):
            wh.con.execute("FROM partners(5, 1)").fetchall()
