"""The store: the only writer of the raw layer, and what readers get a role's rows from.

It creates the raw and staging tables, stages a chunk's rows, moves a verified snapshot's staged
rows into raw, discards or replaces a snapshot's rows, appends a whole file straight into raw, and
names the relation the views read for each role. The snapshot bookkeeping that goes with each step
(warehouse/snapshots.py) is the caller's, in the same transaction.

`DuckStore` keeps everything in the DuckDB file. A role with stable columns (the synapse table) is
stored split: those columns once per row id in `raw."<table>__fixed"`, the rest per snapshot in
`raw."<table>__rows"`, and the view `raw."<table>"` joins them back, so a second version of the
337 M-row table costs only its root ids. Every other role is one table `raw."<table>"` with
`snapshot_id` and `version` in front of its columns.

A split role's per-version rows are written sorted (registry `sorted_by`): each snapshot's block of
`__rows` in pre-synaptic root order, and a copy of the same rows without the id,
`raw."<table>__by_post"`, in post-synaptic root order. DuckDB keeps a min/max per column per row
group (122,880 rows), so a lookup of one root reads a row group or two of either table instead of
the version's whole root-id column, and partners need no join to `__fixed` (size travels with
the root ids). CAVE's own exporter likewise keeps one copy per looked-up column. The copy is
written in the same transaction as the snapshot's `__rows`, holds exactly its rows, and is dropped
with it, so the two never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa

from .config import DatastackConfig
from .connection import fetch_one
from .errors import WarehouseError
from .registry import ROLE_NAMES, TableRole, role
from .tables import column_ddl


@dataclass(frozen=True)
class TableLayout:
    """Where a role's rows live in the DuckDB file."""

    role: str
    name: str  # the CAVE table name, kept as the raw table's name

    @property
    def entry(self) -> TableRole:
        return role(self.role)

    @property
    def schema(self) -> pa.Schema:
        return self.entry.schema

    @property
    def split(self) -> bool:
        return self.entry.split

    @property
    def fixed_columns(self) -> tuple[str, ...]:
        return self.entry.stable_columns

    @property
    def varying_columns(self) -> tuple[str, ...]:
        if not self.split:
            return tuple(self.schema.names)
        return ("id",) + tuple(c for c in self.schema.names if c not in self.fixed_columns)

    @property
    def raw(self) -> str:
        """The relation views read: a table, or a view joining the split storage back together."""
        return f'raw."{self.name}"'

    @property
    def rows_table(self) -> str:
        return f'raw."{self.name}__rows"' if self.split else self.raw

    @property
    def fixed_table(self) -> str:
        return f'raw."{self.name}__fixed"'

    def relation(self, kind: str) -> str:
        """What `{{kind.role}}` in a sql/ file stands for (warehouse/sqlfiles.py)."""
        if kind == "raw" or not self.split:
            return self.raw
        return {"rows": self.rows_table, "fixed": self.fixed_table, "by_post": self.copy_table}[kind]

    @property
    def sorted_by(self) -> tuple[str, ...]:
        """(the order of `__rows`, the order of the copy) for a split role; empty otherwise."""
        return self.entry.sorted_by

    @property
    def copy_table(self) -> str:
        """The per-version rows again, without the id, in `sorted_by[1]` order (`__by_post`)."""
        return f'raw."{self.name}__by_{self.sorted_by[1].removesuffix("_pt_root_id")}"'

    @property
    def copy_columns(self) -> tuple[str, ...]:
        first, second = self.sorted_by
        return (second, first) + tuple(c for c in self.varying_columns if c not in ("id", first, second))

    @property
    def stage_table(self) -> str:
        return f'stage."{self.name}"'


@dataclass(frozen=True)
class _PlainEntry:
    """What the store asks of a role entry, for a table that plays no role: stored whole, one
    snapshot per version (its rows do not add up across snapshots)."""

    accumulates: bool = False
    stable_columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class ExtraLayout:
    """Where a table that plays no role lives (warehouse/extra_tables.py): one raw table per
    (table, schema), so a schema that changed between versions keeps both; never split."""

    name: str  # the CAVE table name
    schema: pa.Schema  # known only at run time, from the server's description
    schema_key: str
    split: bool = False
    fixed_columns: tuple[str, ...] = ()

    @property
    def role(self) -> str:
        return "extra:" + self.name

    @property
    def entry(self) -> _PlainEntry:
        return _PlainEntry()

    @property
    def varying_columns(self) -> tuple[str, ...]:
        return tuple(self.schema.names)

    @property
    def raw(self) -> str:
        return f'raw."{self.name}__{self.schema_key}"'

    @property
    def rows_table(self) -> str:
        return self.raw

    @property
    def stage_table(self) -> str:
        return f'stage."{self.name}__{self.schema_key}"'


@dataclass
class AppendStats:
    """What a whole-file append did, for the benchmarks and the progress line."""

    rows: int = 0
    fixed_added: int = 0
    sorted_ids: bool = True


class DuckStore:
    """The raw layer of one warehouse file, for one datastack's table names."""

    def __init__(self, con: duckdb.DuckDBPyConnection, cfg: DatastackConfig) -> None:
        self.con = con
        self.layouts: dict[str, TableLayout] = {r: TableLayout(r, cfg.table(r)) for r in ROLE_NAMES}
        self.extras: dict[str, ExtraLayout] = {}  # tables that play no role, added at run time

    def layout(self, role_name: str) -> TableLayout:
        if role_name in self.extras:
            return self.extras[role_name]  # type: ignore[return-value] - the same interface
        return self.layouts[role_name]

    def add_extra(self, layout: ExtraLayout) -> None:
        """Raw and staging tables of a table that plays no role, for a schema known only now
        (IF NOT EXISTS: a resumed or repeated run finds them); the job then stages and commits its
        chunks under `layout.role` as for any role."""
        self.con.execute(_raw_ddl(layout))  # type: ignore[arg-type]
        self.extras[layout.role] = layout

    # ----------------------------------------------------------------------------- the tables
    def create_tables(self) -> None:
        """Raw and staging tables of every role (IF NOT EXISTS: also how a migration adds a role)."""
        for layout in self.layouts.values():
            self.con.execute(_raw_ddl(layout))

    def relations(self) -> dict[str, TableLayout]:
        """The relations `{{raw.<role>}}` stands for in sql/ files."""
        return self.layouts

    # ------------------------------------------------------------------------ chunked snapshots
    def stage(self, role_name: str, sid: int, cid: int, table: pa.Table) -> None:
        """A chunk's rows into staging; views never read staging."""
        if not table.num_rows:
            return
        self.con.register("mwh_chunk", table)
        try:
            self.con.execute(
                f"INSERT INTO {self.layout(role_name).stage_table} SELECT ?, ?, * FROM mwh_chunk", [sid, cid]
            )
        finally:
            self.con.unregister("mwh_chunk")

    def staged_counts(self, role_name: str, sid: int) -> tuple[int, int]:
        """(rows, distinct ids) staged for a snapshot."""
        return fetch_one(
            self.con,
            f"SELECT count(*), count(DISTINCT id) FROM {self.layout(role_name).stage_table} WHERE snapshot_id = ?",
            [sid],
        )

    def discard(self, role_name: str, sid: int) -> None:
        """Drop a snapshot's staged rows."""
        self.con.execute(f"DELETE FROM {self.layout(role_name).stage_table} WHERE snapshot_id = ?", [sid])

    def drop(self, role_name: str, sid: int) -> None:
        """Drop a committed snapshot's rows (one replaced by --force). Fixed columns stay: other
        snapshots share them."""
        layout = self.layout(role_name)
        self.con.execute(f"DELETE FROM {layout.rows_table} WHERE snapshot_id = ?", [sid])
        if layout.split:
            self.con.execute(f"DELETE FROM {layout.copy_table} WHERE snapshot_id = ?", [sid])

    def commit(self, role_name: str, sid: int, version: int, *, dedupe: bool) -> None:
        """Move a snapshot's staged rows into raw (inside the caller's transaction). With `dedupe`
        (chunks of several query families may overlap) each id is taken once. For a role whose
        snapshots add up (registry `accumulates`), rows another snapshot of the version already
        holds are not stored again, so the version's rows stay one per id and views need no dedup."""
        layout = self.layout(role_name)
        source = self.new_rows(layout, sid, version, dedupe=dedupe)
        cols = ", ".join(f'"{c}"' for c in layout.varying_columns)
        if layout.split:
            fixed = ", ".join(f's."{c}"' for c in layout.fixed_columns)
            self.con.execute(
                f"INSERT INTO {layout.fixed_table} SELECT {fixed} FROM {source} s "
                f"ANTI JOIN {layout.fixed_table} f ON f.id = s.id"
            )
            # Taken once: `source` leaves out the ids the version holds, so it changes as rows go in.
            self.con.execute(f"CREATE OR REPLACE TEMP TABLE {NEW_ROWS} AS SELECT {cols} FROM {source}")
            write_sorted_rows(self.con, layout, sid, version, f"temp.main.{NEW_ROWS}")
            self.con.execute(f"DROP TABLE temp.main.{NEW_ROWS}")
        else:
            self.con.execute(
                f"INSERT INTO {layout.rows_table} SELECT {sid:d}, {int(version):d}, {cols} FROM {source}"
            )
        self.discard(role_name, sid)

    def new_rows(self, layout: TableLayout, sid: int, version: int, *, dedupe: bool) -> str:
        """SQL for a snapshot's staged rows that go into raw: each id once, and for a role whose
        snapshots add up, without the ids the version already holds."""
        stage = layout.stage_table
        source = (
            f"(SELECT DISTINCT ON (id) * FROM {stage} WHERE snapshot_id = {sid:d})"
            if dedupe
            else f"(SELECT * FROM {stage} WHERE snapshot_id = {sid:d})"
        )
        if not layout.entry.accumulates:
            return source
        return f"(SELECT s.* FROM {source} s ANTI JOIN ({self.held_ids(layout, version)}) h ON h.id = s.id)"

    def held_ids(self, layout: TableLayout, version: int) -> str:
        """SQL for the ids a version already holds (a replaced snapshot's rows are dropped first)."""
        return f"SELECT id FROM {layout.rows_table} WHERE version = {int(version):d}"

    # -------------------------------------------------------------------------- whole files
    def narrow_columns(self, role_name: str) -> tuple[str, ...] | None:
        """The columns a whole file of the role need be read for in a first pass, when fewer than all.

        A split role whose fixed table already holds rows (a later version of the synapse table)
        needs only the id and the columns that change: the fixed columns of ids already stored are
        never read again, so parsing them is wasted. The appender then asks for a second, full
        pass only if the file brought ids the table lacks (`Appender.missing_fixed`)."""
        layout = self.layout(role_name)
        if not layout.split:
            return None
        if not fetch_one(self.con, f"SELECT count(*) FROM (SELECT 1 FROM {layout.fixed_table} LIMIT 1)")[0]:
            return None
        return layout.varying_columns

    def appender(self, role_name: str, sid: int, version: int, stats: AppendStats | None = None) -> Appender:
        """Batches of a whole file appended straight into raw, in the caller's one transaction:
        copying hundreds of millions of rows through staging would write them twice."""
        layout = self.layout(role_name)
        stats = stats if stats is not None else AppendStats()
        if layout.split:
            return SplitAppender(self.con, layout, sid, version, stats)
        return PlainAppender(self.con, layout, sid, version, stats)


class Appender:
    """Appends one file's batches to raw; `finish` checks what only the whole file can tell."""

    def __init__(self, con, layout: TableLayout, sid: int, version: int, stats: AppendStats) -> None:
        self.con, self.layout, self.sid, self.version, self.stats = con, layout, sid, version, stats

    def append(self, table: pa.Table) -> None:
        raise NotImplementedError

    def missing_fixed(self) -> int:
        """Ids of narrow batches (only `narrow_columns`) whose fixed columns the store still lacks:
        the caller then hands every full batch of the file to `append_fixed`."""
        return 0

    def append_fixed(self, table: pa.Table) -> None:
        raise NotImplementedError(f"{type(self).__name__} takes whole rows only")

    def finish(self, label: str) -> None:
        raise NotImplementedError


def _scan(con: duckdb.DuckDBPyConnection, sql: str, mwh_dump_batch: pa.Table) -> list[tuple]:
    """Run `sql` over the batch, found by DuckDB's replacement scan as the local `mwh_dump_batch`.

    Not `con.register`: a registered Arrow table stays referenced until the transaction ends, so a
    whole-file transaction would keep every batch of the file in memory.
    """
    return con.execute(sql).fetchall()


class PlainAppender(Appender):
    """Whole rows into `raw.<table>` (tables that are not split)."""

    def append(self, table: pa.Table) -> None:
        cols = ", ".join(f'"{c}"' for c in self.layout.schema.names)
        _scan(
            self.con,
            f"INSERT INTO {self.layout.raw} SELECT {self.sid:d}, {self.version:d}, {cols} FROM mwh_dump_batch",
            table,
        )
        self.stats.rows += table.num_rows

    def finish(self, label: str) -> None:
        dupes = fetch_one(
            self.con,
            f"SELECT count(*) - count(DISTINCT id) FROM {self.layout.raw} WHERE snapshot_id = ?",
            [self.sid],
        )[0]
        if dupes:
            raise WarehouseError(f"{label}: {dupes} duplicate row ids; nothing was committed")


GATHER_ROWS = 1_000_000
MISSING_IDS = "mwh_missing_fixed_ids"  # a TEMP table: the whole-file transaction's own
NEW_ROWS = "mwh_new_rows"  # a TEMP table: a snapshot's per-version rows until they are written sorted


def write_sorted_rows(
    con: duckdb.DuckDBPyConnection, layout: TableLayout, sid: int, version: int, source: str
) -> None:
    """A snapshot's per-version rows (`source` has the varying columns) into `__rows` in
    `sorted_by[0]` order and into the copy in `sorted_by[1]` order, in the caller's transaction.

    Sorted per snapshot, not per table: a snapshot's rows are one contiguous block of each table,
    so within it a root's rows are adjacent, which is all the zone maps need."""
    first, second = layout.sorted_by
    cols = ", ".join(f'"{c}"' for c in layout.varying_columns)
    copy = ", ".join(f'"{c}"' for c in layout.copy_columns)
    head = f"SELECT {int(sid):d}, {int(version):d}"
    con.execute(f'INSERT INTO {layout.rows_table} {head}, {cols} FROM {source} ORDER BY "{first}"')
    con.execute(f'INSERT INTO {layout.copy_table} {head}, {copy} FROM {source} ORDER BY "{second}"')


class SplitAppender(Appender):
    """Fixed columns once per id into `__fixed`, root ids per snapshot into `__rows` and its copy.

    The dedup probe asks only for the batch's id range, so when the file is in id order (CAVE's
    dumps are) DuckDB's zone maps keep it proportional to the batch, not to the table. The
    per-version rows wait in a TEMP table (never blocks of the file: a stage table's blocks would
    stay behind as free space) until `finish` writes them sorted (`write_sorted_rows`).
    """

    def __init__(self, con, layout: TableLayout, sid: int, version: int, stats: AppendStats) -> None:
        super().__init__(con, layout, sid, version, stats)
        self.last_id: int | None = None
        self.fixed_cols = ", ".join(f'b."{c}"' for c in self.layout.fixed_columns)
        self.rows_cols = ", ".join(f'"{c}"' for c in self.layout.varying_columns)
        # Rows of the version that other snapshots hold (a role whose snapshots add up): a batch
        # then stores only the ids they lack, so the version keeps one row per id.
        self.others_at_version = layout.entry.accumulates and bool(
            fetch_one(
                con,
                f"SELECT count(*) FROM (SELECT 1 FROM {layout.rows_table} WHERE version = ? AND snapshot_id <> ? LIMIT 1)",
                [version, sid],
            )[0]
        )
        # Ids above this were in no earlier snapshot; in an id-ordered file every batch past it is
        # new, and probing __fixed for it (including this transaction's own appends) is skipped.
        self.max_stored = fetch_one(self.con, f"SELECT max(id) FROM {self.layout.fixed_table}")[0]
        self.missing = 0  # ids of narrow batches not in __fixed, kept in MISSING_IDS until append_fixed
        self.filled = 0
        self.pending: list[pa.Table] = []
        self.new_rows = f"temp.main.{NEW_ROWS}"
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {NEW_ROWS} ({column_ddl(layout.schema, layout.varying_columns)})"
        )

    def append(self, table: pa.Table) -> None:
        """Small batches are gathered to GATHER_ROWS first: each batch costs a few statements in the
        file's one transaction, and a Delta export's 256 k-row batches, appended one by one, took
        2.3 GB at 50 M rows against 1.3 GB for a dump's 1 M-row batches (measured)."""
        self.pending.append(table)
        if sum(t.num_rows for t in self.pending) >= GATHER_ROWS:
            self._flush()

    def _flush(self) -> None:
        if not self.pending:
            return
        table = self.pending[0] if len(self.pending) == 1 else pa.concat_tables(self.pending).combine_chunks()
        self.pending = []
        self._append(table)

    def _append(self, table: pa.Table) -> None:
        ids = table.column("id")
        if ids.null_count:
            raise WarehouseError("the dump has rows without an id; nothing was committed")
        lo, hi = _id_range(ids)
        st = self.stats
        if st.sorted_ids:
            arr = ids.to_numpy()
            increasing = bool(np.all(arr[1:] > arr[:-1])) and (
                self.last_id is None or bool(arr[0] > self.last_id)
            )
            st.sorted_ids = increasing
            self.last_id = int(arr[-1])
        fixed = self.layout.fixed_table
        in_range = f"(SELECT id FROM {fixed} WHERE id BETWEEN {lo:d} AND {hi:d}) f"
        beyond = st.sorted_ids and (self.max_stored is None or lo > self.max_stored)
        known = (
            0
            if beyond
            else fetch_one(self.con, f"SELECT count(*) FROM {fixed} WHERE id BETWEEN {lo:d} AND {hi:d}")[0]
        )
        narrow = any(c not in table.column_names for c in self.layout.fixed_columns)
        if narrow:  # only id and root ids: note the ids __fixed lacks, for append_fixed
            new = (
                "mwh_dump_batch b" if known == 0 else f"mwh_dump_batch b ANTI JOIN {in_range} ON f.id = b.id"
            )
            if self.missing == 0:
                self.con.execute(f"CREATE OR REPLACE TEMP TABLE {MISSING_IDS} (id BIGINT)")
            added = _scan(self.con, f"INSERT INTO {MISSING_IDS} SELECT b.id FROM {new}", table)
            self.missing += added[0][0] if added else 0
        elif known == 0:
            _scan(self.con, f"INSERT INTO {fixed} SELECT {self.fixed_cols} FROM mwh_dump_batch b", table)
            st.fixed_added += table.num_rows
        else:
            present = _scan(
                self.con, f"SELECT count(*) FROM mwh_dump_batch b SEMI JOIN {in_range} ON f.id = b.id", table
            )
            if present[0][0] < table.num_rows:  # a later version: usually every id is known already
                added = _scan(
                    self.con,
                    f"INSERT INTO {fixed} SELECT {self.fixed_cols} FROM mwh_dump_batch b ANTI JOIN {in_range} ON f.id = b.id",
                    table,
                )
                st.fixed_added += added[0][0] if added else 0
        held = (
            f" b ANTI JOIN (SELECT id FROM {self.layout.rows_table} WHERE version = {self.version:d} "
            f"AND snapshot_id <> {self.sid:d} AND id BETWEEN {lo:d} AND {hi:d}) h ON h.id = b.id"
            if self.others_at_version
            else ""
        )
        _scan(
            self.con, f"INSERT INTO {self.new_rows} SELECT {self.rows_cols} FROM mwh_dump_batch{held}", table
        )
        st.rows += table.num_rows

    def missing_fixed(self) -> int:
        self._flush()
        return self.missing - self.filled

    def append_fixed(self, table: pa.Table) -> None:
        """The fixed columns of the ids the narrow pass found missing, from a full batch of the file."""
        if not self.missing_fixed():
            return
        lo, hi = _id_range(table.column("id"))
        added = _scan(
            self.con,
            f"INSERT INTO {self.layout.fixed_table} SELECT {self.fixed_cols} FROM mwh_dump_batch b "
            f"SEMI JOIN (SELECT id FROM {MISSING_IDS} WHERE id BETWEEN {lo:d} AND {hi:d}) m ON m.id = b.id",
            table,
        )
        n = added[0][0] if added else 0
        self.filled += n
        self.stats.fixed_added += n

    def finish(self, label: str) -> None:
        self._flush()
        if self.missing:
            if self.filled != self.missing:
                raise WarehouseError(
                    f"{label}: {self.missing - self.filled} synapse ids of the first pass were not in the "
                    "second (did the file change during the ingest?); nothing was committed"
                )
            self.con.execute(f"DROP TABLE IF EXISTS {MISSING_IDS}")
        if not self.stats.sorted_ids:  # strictly increasing ids cannot repeat
            dupes = fetch_one(self.con, f"SELECT count(*) - count(DISTINCT id) FROM {self.new_rows}")[0]
            if dupes:
                raise WarehouseError(f"{label}: {dupes} duplicate synapse ids; nothing was committed")
        write_sorted_rows(self.con, self.layout, self.sid, self.version, self.new_rows)
        self.con.execute(f"DROP TABLE {self.new_rows}")


def split_tables_ddl(layout: TableLayout) -> str:
    """A split role's three tables (IF NOT EXISTS): `__fixed`, `__rows` and its copy."""
    schema = layout.schema
    first, second = layout.sorted_by
    return (
        f"CREATE TABLE IF NOT EXISTS {layout.fixed_table} ({column_ddl(schema, layout.fixed_columns)});"
        f"CREATE TABLE IF NOT EXISTS {layout.rows_table} (snapshot_id INTEGER, version INTEGER, "
        f"{column_ddl(schema, layout.varying_columns)});"
        f"CREATE TABLE IF NOT EXISTS {layout.copy_table} (snapshot_id INTEGER, version INTEGER, "
        f"{column_ddl(schema, layout.copy_columns)});"
        f"COMMENT ON TABLE {layout.rows_table} IS 'Per-version columns of {layout.name}, one row per synapse per "
        f"snapshot; each snapshot''s rows sorted by {first}.';"
        f"COMMENT ON TABLE {layout.copy_table} IS 'The rows of {layout.name}__rows without the id, each snapshot''s "
        f"rows sorted by {second}: one root''s {second.split('_')[0]}-synaptic rows in a row group or two.';"
    )


def _raw_ddl(layout: TableLayout) -> str:
    schema = layout.schema
    stage = f"CREATE TABLE IF NOT EXISTS {layout.stage_table} (snapshot_id INTEGER, chunk_id INTEGER, "
    stage += column_ddl(schema, schema.names) + ");"
    if not layout.split:
        return stage + (
            f"CREATE TABLE IF NOT EXISTS {layout.raw} (snapshot_id INTEGER, version INTEGER, "
            + column_ddl(schema, schema.names)
            + ");"
        )
    cols = ", ".join(f'f."{c}"' if c in layout.fixed_columns else f'r."{c}"' for c in schema.names)
    return (
        stage
        + split_tables_ddl(layout)
        + (
            f"CREATE OR REPLACE VIEW {layout.raw} AS SELECT r.snapshot_id, r.version, {cols} "
            f"FROM {layout.rows_table} r JOIN {layout.fixed_table} f USING (id);"
            f"COMMENT ON VIEW {layout.raw} IS 'Rows of {layout.name} as CAVE returns them, one per snapshot: "
            "columns that never change stored once (__fixed), root ids and size per version (__rows, in pre root "
            "order; __by_post holds them again in post root order).';"
        )
    )


def _id_range(ids: pa.ChunkedArray) -> tuple[int, int]:
    """The smallest and largest id of a batch. pyarrow.compute is imported here, not with the
    module: it costs ~60 ms, and every `mwh` start (a read, `mwh neuron`) imports the store."""
    import pyarrow.compute as pc

    lo, hi = pc.min_max(ids).values()
    return int(lo.as_py()), int(hi.as_py())
