"""Snapshots are all-or-nothing, resumable and verified: the guarantees of ingest/job.py.

The sources here are the demo source and small variations of it that fail the way servers do
(transient errors, wrong columns, empty answers, a count that does not match). They stand in for a
server, not for the code under test: the job, DuckDB and the views are all real.
"""

from __future__ import annotations

import pyarrow as pa
import pytest

import warehouse
from ingest.plan import PlanOptions
from ingest.retry import RetryPolicy
from ingest.run import IngestOptions, ingest_version
from ingest.sources.demo import DemoSource
from tests.catalog_checks import assert_current_is_the_newest_complete
from warehouse.errors import IngestInterrupted, RetryableSourceError, SourceError, WarehouseError
from warehouse.registry import ROLE_NAMES

FAST = RetryPolicy(attempts=3, base_delay=0.001, max_delay=0.002)
ONE_TRY = RetryPolicy(attempts=1, base_delay=0.001)


class FailingAfter(DemoSource):
    """Answers `ok` fetches, then fails every request like a server that went down."""

    def __init__(self, ds, ok: int, **kw):
        super().__init__(ds, **kw)
        self.ok = ok
        self.fetches = 0

    def fetch(self, table, role, version, spec):
        self.fetches += 1
        if self.fetches > self.ok:
            raise RetryableSourceError("503 Service Unavailable")
        return super().fetch(table, role, version, spec)


class CountingSource(DemoSource):
    def __init__(self, ds, **kw):
        super().__init__(ds, **kw)
        self.fetches = 0

    def fetch(self, table, role, version, spec):
        self.fetches += 1
        return super().fetch(table, role, version, spec)


class Flaky(DemoSource):
    """Every request fails twice before it succeeds."""

    def __init__(self, ds, **kw):
        super().__init__(ds, **kw)
        self.seen: dict[str, int] = {}

    def fetch(self, table, role, version, spec):
        key = repr((table, version, spec))
        self.seen[key] = self.seen.get(key, 0) + 1
        if self.seen[key] <= 2:
            raise RetryableSourceError("connection dropped")
        return super().fetch(table, role, version, spec)


class Altered(DemoSource):
    """A server whose answer is malformed: a column missing, of a wrong type, or no rows at all."""

    def __init__(self, ds, change: str, **kw):
        super().__init__(ds, **kw)
        self.change = change

    def _table(self, table, version):
        data = super()._table(table, version)
        if self.change == "missing":
            return data.drop_columns(["status_axon"]) if "status_axon" in data.column_names else data
        if self.change == "wrong_type" and "pt_root_id" in data.column_names:
            i = data.column_names.index("pt_root_id")
            return data.set_column(
                i, "pt_root_id", pa.array(["root-" + str(x) for x in data["pt_root_id"].to_pylist()])
            )
        if self.change == "empty":
            return data.slice(0, 0)
        return data


class Miscounting(DemoSource):
    def count(self, table, version):
        return super().count(table, version) + 1


def opts(**kw) -> IngestOptions:
    base = {"workers": 2, "retry": FAST, "plan": PlanOptions(synapses="proofread", ids_per_chunk=10)}
    base.update(kw)
    return IngestOptions(**base)


def table_rows(wh, name: str) -> list[tuple]:
    return wh.con.execute(f'SELECT * EXCLUDE (snapshot_id) FROM raw."{name}" ORDER BY version, id').fetchall()


def view_counts(wh) -> list[tuple]:
    return wh.con.execute(
        "SELECT 'neurons', version, count(*) FROM proofread_neurons GROUP BY ALL UNION ALL "
        "SELECT 'synapses', version, count(*) FROM proofread_synapses GROUP BY ALL UNION ALL "
        "SELECT 'types', version, count(*) FROM cell_types GROUP BY ALL ORDER BY 1, 2"
    ).fetchall()


def test_interrupted_snapshot_resumes_with_only_the_missing_chunks(tmp_path, small_ds):
    ref_path, path = tmp_path / "ref.duckdb", tmp_path / "w.duckdb"
    with warehouse.open_for_datastack(ref_path, "demo") as ref:
        ingest_version(ref, DemoSource(small_ds), 1181, opts())
        expected = table_rows(ref, "synapses_pni_2")

    with warehouse.open_for_datastack(path, "demo") as wh:
        ingest_version(wh, DemoSource(small_ds), 1181, opts(roles=["proofreading"]))
        with pytest.raises(IngestInterrupted, match="run the same command again to resume"):
            ingest_version(
                wh, FailingAfter(small_ds, ok=4), 1181, opts(roles=["synapses"], retry=ONE_TRY, workers=1)
            )
        status, done = wh.con.execute(
            "SELECT s.status, count(*) FILTER (c.status = 'done') FROM meta.snapshots s JOIN meta.chunks c USING (snapshot_id) "
            "WHERE s.role = 'synapses' GROUP BY ALL"
        ).fetchall()[0]
        assert (status, done) == ("incomplete", 4)
        # the views never see half a snapshot
        assert wh.con.execute("SELECT count(*) FROM stg_synapses").fetchall()[0][0] == 0
        total = (
            wh.con.execute("SELECT count(*) FROM meta.chunks WHERE status = 'pending'").fetchall()[0][0] + 4
        )

        again = CountingSource(small_ds)
        [outcome] = ingest_version(wh, again, 1181, opts(roles=["synapses"]))
        assert outcome.action == "resumed"
        assert_current_is_the_newest_complete(wh)
        assert again.fetches == total - 4, "a resume fetches only the chunks it does not have"
        assert table_rows(wh, "synapses_pni_2") == expected
        assert wh.con.execute("SELECT count(*) FROM stage.synapses_pni_2").fetchall()[0][0] == 0


def test_rerun_is_a_no_op_and_force_replaces_atomically(tmp_path, small_ds):
    with warehouse.open_for_datastack(tmp_path / "w.duckdb", "demo") as wh:
        first = ingest_version(wh, DemoSource(small_ds), 1181, opts())
        before = table_rows(wh, "synapses_pni_2")
        counter = CountingSource(small_ds)
        again = ingest_version(wh, counter, 1181, opts())
        assert [o.action for o in again] == ["unchanged"] * len(ROLE_NAMES)
        assert counter.fetches == 0
        forced = ingest_version(wh, DemoSource(small_ds), 1181, opts(force=True))
        assert all(o.action == "created" for o in forced)
        assert {o.snapshot_id for o in forced}.isdisjoint({o.snapshot_id for o in first})
        assert table_rows(wh, "synapses_pni_2") == before, "replaced, not duplicated"
        statuses = wh.con.execute(
            "SELECT status, count(*) FROM meta.snapshots GROUP BY 1 ORDER BY 1"
        ).fetchall()
        assert statuses == [("complete", len(ROLE_NAMES)), ("replaced", len(ROLE_NAMES))]
        assert_current_is_the_newest_complete(wh)
        current = wh.con.execute("SELECT snapshot_id FROM meta.current_snapshots ORDER BY 1").fetchall()
        assert current == sorted((o.snapshot_id,) for o in forced)


def test_failures_leave_earlier_snapshots_untouched(tmp_path, small_ds):
    with warehouse.open_for_datastack(tmp_path / "w.duckdb", "demo") as wh:
        ingest_version(wh, DemoSource(small_ds), 1078, opts())
        before = (view_counts(wh), table_rows(wh, "synapses_pni_2"))
        with pytest.raises(IngestInterrupted):
            ingest_version(wh, FailingAfter(small_ds, ok=3), 1181, opts(retry=ONE_TRY, workers=1))
        with pytest.raises(SourceError):
            ingest_version(wh, Altered(small_ds, "missing"), 1300, opts())
        # v1181's proofreading table completed before its synapses failed; v1078 is exactly as it was
        after = (
            [c for c in view_counts(wh) if c[1] == 1078],
            [r for r in table_rows(wh, "synapses_pni_2") if r[0] == 1078],
        )
        assert after == before
        assert wh.con.execute("SELECT count(*) FROM stg_synapses WHERE version = 1181").fetchall()[0][0] == 0
        assert_current_is_the_newest_complete(wh)


def test_transient_errors_are_retried(tmp_path, small_ds):
    with warehouse.open_for_datastack(tmp_path / "w.duckdb", "demo") as wh:
        outcomes = ingest_version(wh, Flaky(small_ds), 1181, opts())
        assert all(o.retries >= 2 for o in outcomes)
        attempts = wh.con.execute(
            "SELECT min(attempts), max(attempts) FROM meta.chunks WHERE status = 'done'"
        ).fetchall()
        assert attempts == [(3, 3)]
        assert wh.con.execute("SELECT count(*) FROM proofread_synapses").fetchall()[0][0] > 0


@pytest.mark.parametrize(
    "change, message", [("missing", r"without column\(s\) status_axon"), ("wrong_type", "pt_root_id")]
)
def test_malformed_answers_are_refused_and_nothing_is_written(tmp_path, small_ds, change, message):
    with warehouse.open_for_datastack(tmp_path / "w.duckdb", "demo") as wh:
        with pytest.raises(SourceError, match=message):
            ingest_version(wh, Altered(small_ds, change), 1181, opts(roles=["proofreading"]))
        assert wh.con.execute("SELECT count(*) FROM meta.snapshots").fetchall()[0][0] == 0
        assert wh.con.execute("SELECT count(*) FROM meta.chunks").fetchall()[0][0] == 0
        assert (
            wh.con.execute("SELECT count(*) FROM stage.proofreading_status_and_strategy").fetchall()[0][0]
            == 0
        )


def test_an_empty_table_is_refused(tmp_path, small_ds):
    with warehouse.open_for_datastack(tmp_path / "w.duckdb", "demo") as wh:
        with pytest.raises(WarehouseError, match="(no rows|counts 0)"):
            ingest_version(wh, Altered(small_ds, "empty"), 1181, opts(roles=["proofreading"]))
        assert wh.con.execute("SELECT count(*) FROM meta.current_snapshots").fetchall()[0][0] == 0
        assert (
            wh.con.execute("SELECT count(*) FROM raw.proofreading_status_and_strategy").fetchall()[0][0] == 0
        )


def test_a_count_mismatch_is_never_committed(tmp_path, small_ds):
    with warehouse.open_for_datastack(tmp_path / "w.duckdb", "demo") as wh:
        with pytest.raises(WarehouseError, match="counts"):
            ingest_version(wh, Miscounting(small_ds), 1181, opts(roles=["proofreading"]))
        assert wh.con.execute("SELECT status FROM meta.snapshots").fetchall() == [("failed",)]
        assert (
            wh.con.execute("SELECT count(*) FROM raw.proofreading_status_and_strategy").fetchall()[0][0] == 0
        )
        # and a later, healthy run starts afresh
        [ok] = ingest_version(wh, DemoSource(small_ds), 1181, opts(roles=["proofreading"]))
        assert ok.action == "created" and ok.rows > 0


def test_answers_at_the_cap_are_split_until_complete(tmp_path, small_ds):
    """With a cap of 297 rows the synapse and automatic cell-type queries need splitting, by id list and
    then by id range; the stored rows equal an uncapped ingest's."""
    with warehouse.open_for_datastack(tmp_path / "capped.duckdb", "demo") as capped:
        outcomes = ingest_version(
            capped, DemoSource(small_ds, row_cap=297), 1181, opts(plan=PlanOptions("proofread", 50))
        )
        assert {o.table for o in outcomes if o.splits} >= {"synapses_pni_2", "aibs_metamodel_celltypes_v661"}
        specs = capped.con.execute("SELECT spec FROM meta.chunks WHERE status = 'done'").fetchall()
        assert any('"id_range": [null, null]' not in s for (s,) in specs), "the id-range split was used"
        got = {name: table_rows(capped, name) for name in ("synapses_pni_2", "aibs_metamodel_celltypes_v661")}
    with warehouse.open_for_datastack(tmp_path / "uncapped.duckdb", "demo") as plain:
        ingest_version(plain, DemoSource(small_ds), 1181, opts(plan=PlanOptions("proofread", 50)))
        for name, rows in got.items():
            assert rows == table_rows(plain, name)


class DropsASynapse(DemoSource):
    """A server that silently loses one synapse of one answer (below the cap, so no split helps)."""

    def __init__(self, ds, **kw):
        super().__init__(ds, **kw)
        self.dropped = False

    def fetch(self, table, role, version, spec):
        answer = super().fetch(table, role, version, spec)
        if role == "synapses" and not self.dropped and answer.table.num_rows > 1:
            self.dropped = True
            return type(answer)(answer.table.slice(1), answer.truncated)
        return answer


@pytest.mark.parametrize("mode", ["proofread", "partners"])
def test_a_lost_synapse_is_caught_by_the_servers_count(tmp_path, small_ds, mode):
    with warehouse.open_for_datastack(tmp_path / "w.duckdb", "demo") as wh:
        ingest_version(wh, DemoSource(small_ds), 1181, opts(roles=["proofreading"]))
        with pytest.raises(WarehouseError, match="the server counts"):
            ingest_version(
                wh, DropsASynapse(small_ds), 1181, opts(roles=["synapses"], plan=PlanOptions(mode, 10))
            )
        assert wh.con.execute("SELECT count(*) FROM stg_synapses").fetchall()[0][0] == 0
        [ok] = ingest_version(
            wh, DemoSource(small_ds), 1181, opts(roles=["synapses"], plan=PlanOptions(mode, 10))
        )
        assert ok.rows == wh.con.execute("SELECT count(*) FROM stg_synapses").fetchall()[0][0] > 0
