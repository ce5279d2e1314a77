"""The file's schema: meta tables, raw and staging tables, the schema version and migrations.

The schema version is recorded in the file, so a file from an older warehouse is migrated in one
transaction when it is opened for writing, and a file from a newer one is refused rather than
misread.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

import duckdb

from . import __version__, extra_tables, registry, snapshots
from .config import DatastackConfig
from .connection import fetch_one, transaction
from .errors import SchemaMismatch
from .sqlfiles import apply_all, changed_objects, sql_hash
from .store import DuckStore, TableLayout, split_tables_ddl, write_sorted_rows

# 2: meta.versions.kind ('materialized' or 'live'); 3: the nucleus role; 4: the synapse table's
# per-version rows sorted by root id, with size, and their copy in post root order (warehouse/store.py);
# 5: meta.current_snapshots a table kept by warehouse/snapshots.py, not a view; 6: meta.version_facts,
# kept with it, which the checks in sql/macros read.
SCHEMA_VERSION = 6

META_DDL = """
CREATE SCHEMA IF NOT EXISTS meta;
CREATE SCHEMA IF NOT EXISTS raw;
CREATE SCHEMA IF NOT EXISTS stage;
CREATE TABLE IF NOT EXISTS meta.warehouse (key VARCHAR PRIMARY KEY, value VARCHAR);
CREATE TABLE IF NOT EXISTS meta.datastack (
    name VARCHAR PRIMARY KEY, server_address VARCHAR,
    voxel_x_nm DOUBLE, voxel_y_nm DOUBLE, voxel_z_nm DOUBLE, pia_y_voxels DOUBLE,
    viewer_site VARCHAR, tables VARCHAR);
CREATE TABLE IF NOT EXISTS meta.versions (
    datastack VARCHAR, version INTEGER, time_stamp TIMESTAMPTZ, expires_on TIMESTAMPTZ,
    expired BOOLEAN, seen_at TIMESTAMPTZ, kind VARCHAR DEFAULT 'materialized',
    PRIMARY KEY (datastack, version));
CREATE SEQUENCE IF NOT EXISTS meta.snapshot_ids START 1;
CREATE TABLE IF NOT EXISTS meta.snapshots (
    snapshot_id INTEGER PRIMARY KEY, datastack VARCHAR, table_name VARCHAR, role VARCHAR,
    version INTEGER, query VARCHAR, query_key VARCHAR, status VARCHAR,
    row_count BIGINT, expected_rows BIGINT, source VARCHAR, caveclient_version VARCHAR,
    warehouse_version VARCHAR, started_at TIMESTAMPTZ, finished_at TIMESTAMPTZ, message VARCHAR,
    timestamp TIMESTAMPTZ);
CREATE TABLE IF NOT EXISTS meta.chunks (
    snapshot_id INTEGER, chunk_id INTEGER, parent_id INTEGER, spec VARCHAR, status VARCHAR,
    row_count BIGINT, attempts INTEGER, fetched_at TIMESTAMPTZ, PRIMARY KEY (snapshot_id, chunk_id));
CREATE TABLE IF NOT EXISTS meta.snapshot_roots (snapshot_id INTEGER, covered_root_id BIGINT,
    PRIMARY KEY (snapshot_id, covered_root_id));
COMMENT ON TABLE meta.snapshot_roots IS
    'Root ids whose every synapse (both directions) a synapse snapshot holds: its proofread cells or --root-ids.';
"""


def store_for(con: duckdb.DuckDBPyConnection, cfg: DatastackConfig) -> DuckStore:
    """The file's store: the lake it was created with (meta.warehouse lake_path), or the file itself."""
    row = fetch_one(con, "SELECT value FROM meta.warehouse WHERE key = 'lake_path'")
    if row and row[0]:
        from .lake_store import LakeStore

        return LakeStore(con, cfg, row[0])
    return DuckStore(con, cfg)


def lake_path(con: duckdb.DuckDBPyConnection) -> str | None:
    try:
        row = fetch_one(con, "SELECT value FROM meta.warehouse WHERE key = 'lake_path'")
    except duckdb.CatalogException:
        return None
    return row[0] if row and row[0] else None


def create(con: duckdb.DuckDBPyConnection, cfg: DatastackConfig, lake: str | None = None) -> None:
    with transaction(con):
        con.execute(META_DDL)
        snapshots.create_current(con)
        con.execute(
            "INSERT INTO meta.warehouse VALUES ('schema_version', ?), ('datastack', ?), ('created_at', ?), "
            "('created_by', ?)",
            [
                str(SCHEMA_VERSION),
                cfg.name,
                datetime.now(UTC).isoformat(),
                f"microns-warehouse {__version__}",
            ],
        )
        con.execute(
            "INSERT INTO meta.datastack VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                cfg.name,
                cfg.server_address,
                *cfg.voxel_resolution_nm,
                cfg.pia_y_voxels,
                cfg.viewer_site,
                json.dumps(cfg.tables),
            ],
        )
        if lake is not None:  # chosen once, when the warehouse is made (like DuckLake's DATA_PATH)
            con.execute("INSERT INTO meta.warehouse VALUES ('lake_path', ?)", [lake])
        store_for(con, cfg).create_tables()
        _apply_sql(con, cfg)


def _apply_sql(con: duckdb.DuckDBPyConnection, cfg: DatastackConfig) -> None:
    # The viewer links' layers (sql/macros/neuroglancer_state.sql) are written in from these; '' means
    # not configured. They go in first: apply_all reads them.
    con.execute(
        "INSERT OR REPLACE INTO meta.warehouse VALUES ('segmentation_source', ?), ('image_source', ?), "
        "('proofread_filter', ?)",
        [
            str(cfg.extra.get("segmentation_source", "")),
            str(cfg.extra.get("image_source", "")),
            json.dumps(cfg.proofread_filter, sort_keys=True),
        ],
    )
    # The table names a datastack gives each role, including roles added since the file was made.
    con.execute("UPDATE meta.datastack SET tables = ? WHERE name = ?", [json.dumps(cfg.tables), cfg.name])
    apply_all(con, store_for(con, cfg).relations())
    # Tables taken beyond the roles get their views back (they read meta.current_snapshots and
    # their own raw tables only, so no sql/ change can break them).
    extra_tables.ensure_catalog(con)
    extra_tables.apply_views(con)
    con.execute(
        "INSERT OR REPLACE INTO meta.warehouse VALUES ('sql_hash', ?), ('warehouse_version', ?)",
        [sql_hash(), __version__],
    )


def file_schema_version(con: duckdb.DuckDBPyConnection) -> int | None:
    try:
        row = fetch_one(con, "SELECT value FROM meta.warehouse WHERE key = 'schema_version'")
    except duckdb.CatalogException:
        return None
    return int(row[0]) if row else None


def file_datastack(con: duckdb.DuckDBPyConnection) -> str:
    return fetch_one(con, "SELECT value FROM meta.warehouse WHERE key = 'datastack'")[0]


def _add_version_kind(con: duckdb.DuckDBPyConnection) -> None:
    """Schema 1 -> 2: live snapshots (warehouse/live.py) are told apart from materializations by
    `meta.versions.kind`; every version a schema-1 file knows came from the server, so it is
    'materialized'. The column gets the same definition as in META_DDL, so a migrated file and a
    new one are alike."""
    con.execute("ALTER TABLE meta.versions ADD COLUMN IF NOT EXISTS kind VARCHAR DEFAULT 'materialized'")
    con.execute("UPDATE meta.versions SET kind = 'materialized' WHERE kind IS NULL")


# Migrations from schema version N to N+1, applied in one transaction with the SQL re-applied.
def _nothing_but_new_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Schema 2 -> 3: the nucleus role. Its raw tables are created with every role's (IF NOT
    EXISTS) right after the migrations; its snapshots come with the next ingest of a version."""


def _root_ordered_rows(con: duckdb.DuckDBPyConnection) -> None:
    """Schema 3 -> 4: each split role's per-version rows are rewritten snapshot by snapshot in root
    order, with the columns that moved from `__fixed` to them (size), and their copy in the other
    root's order is filled (warehouse/store.py); the moved columns then leave `__fixed`. All in the
    migration's one transaction: an interrupted upgrade leaves the schema-3 file as it was. The
    table names are the ones the file was made with (meta.datastack.tables); a lake warehouse
    keeps no split tables in the file and has nothing to rewrite."""
    row = fetch_one(con, "SELECT tables FROM meta.datastack LIMIT 1")
    names = json.loads(row[0]) if row and row[0] else {}
    for role_name in registry.ROLE_NAMES:
        if not registry.role(role_name).split:
            continue
        layout = TableLayout(role_name, names.get(role_name) or registry.role(role_name).default_table)
        old_rows = f'raw."{layout.name}__rows_schema3"'
        have = {
            r[0]: r[1]
            for r in con.execute(
                "SELECT table_name, list(column_name) FROM duckdb_columns() WHERE schema_name = 'raw' "
                "AND table_name IN (?, ?) GROUP BY table_name",
                [f"{layout.name}__rows", f"{layout.name}__fixed"],
            ).fetchall()
        }
        rows_cols, fixed_cols = have.get(f"{layout.name}__rows"), have.get(f"{layout.name}__fixed")
        if rows_cols is None or fixed_cols is None:
            continue
        con.execute(f"DROP VIEW IF EXISTS {layout.raw}")
        con.execute(f'ALTER TABLE {layout.rows_table} RENAME TO "{layout.name}__rows_schema3"')
        con.execute(split_tables_ddl(layout))
        select = ", ".join(f'r."{c}"' if c in rows_cols else f'f."{c}"' for c in layout.varying_columns)
        for sid, version in con.execute(
            f"SELECT DISTINCT snapshot_id, version FROM {old_rows} ORDER BY 1"
        ).fetchall():
            source = (
                f"(SELECT {select} FROM {old_rows} r JOIN {layout.fixed_table} f USING (id) "
                f"WHERE r.snapshot_id = {int(sid):d})"
            )
            write_sorted_rows(con, layout, sid, version, source)
        con.execute(f"DROP TABLE {old_rows}")
        for c in fixed_cols:
            if c not in layout.fixed_columns:
                con.execute(f'ALTER TABLE {layout.fixed_table} DROP COLUMN "{c}"')


def _current_snapshots_table(con: duckdb.DuckDBPyConnection) -> None:
    """Schema 4 -> 5: `meta.current_snapshots` becomes a table kept by warehouse/snapshots.py; the
    view of that name goes and the table is filled from `meta.snapshots`."""
    snapshots.create_current(con)


def _version_facts_table(con: duckdb.DuckDBPyConnection) -> None:
    """Schema 5 -> 6: `meta.version_facts`, filled from the catalog; no stored row changes."""
    snapshots.refresh_current(con)


MIGRATIONS: dict[int, Callable[[duckdb.DuckDBPyConnection], None]] = {
    1: _add_version_kind,
    2: _nothing_but_new_tables,
    3: _root_ordered_rows,
    4: _current_snapshots_table,
    5: _version_facts_table,
}
# The migrations that rewrite stored rows (3 -> 4 re-sorts the synapse table's), which takes minutes
# on a full-size file; the others add or rebuild catalog tables in a second.
REWRITES_ROWS = frozenset({3})


def rewrites_rows(before: int) -> bool:
    """Does migrating a file of schema `before` to this one rewrite stored rows?"""
    return any(v in REWRITES_ROWS for v in range(before, SCHEMA_VERSION))


def check_file_schema(con: duckdb.DuckDBPyConnection, path: str, *, writable: bool) -> int:
    """The file's schema version, if this release can open it so; else a SchemaMismatch saying
    what to run."""
    version = file_schema_version(con)
    if version is None:
        raise SchemaMismatch(f"{path} is a DuckDB file but not a microns-warehouse (no meta.warehouse table)")
    if version > SCHEMA_VERSION:
        raise SchemaMismatch(
            f"{path} was written by a newer microns-warehouse (schema {version}, this one reads {SCHEMA_VERSION}); "
            "upgrade with 'pip install -U microns-warehouse'"
        )
    if version < SCHEMA_VERSION and not writable:
        raise SchemaMismatch(
            f"{path} has warehouse schema {version}; run 'mwh upgrade --db {path}' to migrate it to {SCHEMA_VERSION}"
        )
    if not writable:
        stored = fetch_one(con, "SELECT value FROM meta.warehouse WHERE key = 'sql_hash'")
        if not stored or stored[0] != sql_hash():
            # A reader cannot re-create views; a missing macro would otherwise fail without saying why.
            raise SchemaMismatch(
                f"the views in {path} come from another microns-warehouse release; run 'mwh upgrade --db {path}' "
                "once (it rewrites views only, no data)"
            )
        changed = changed_objects(con)
        if changed:
            raise SchemaMismatch(
                f"{path}: view(s) or macro(s) {', '.join(changed[:5])} were dropped or changed since they were "
                f"applied; run 'mwh upgrade --db {path}' to re-create them (views only, no data)"
            )
    return version


def _missing_extra_views(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Tables taken beyond the roles whose view is gone (dropped by hand, or from an older file)."""
    names = extra_tables.view_names(con)
    if not names:
        return []
    have = {
        r[0]
        for r in con.execute("SELECT view_name FROM duckdb_views() WHERE schema_name = 'main'").fetchall()
    }
    return [n for n in names if n not in have]


def upgrade(con: duckdb.DuckDBPyConnection, cfg: DatastackConfig) -> bool:
    """Migrate an older file and refresh views whose SQL changed; True if anything changed."""
    found = file_schema_version(con)
    version = SCHEMA_VERSION if found is None else found
    current = fetch_one(con, "SELECT value FROM meta.warehouse WHERE key = 'sql_hash'")
    if (
        version == SCHEMA_VERSION
        and current
        and current[0] == sql_hash()
        and not changed_objects(con)
        and not _missing_extra_views(con)
    ):
        return False
    with transaction(con):
        while version < SCHEMA_VERSION:
            MIGRATIONS[version](con)
            version += 1
        con.execute("UPDATE meta.warehouse SET value = ? WHERE key = 'schema_version'", [str(version)])
        con.execute(META_DDL)
        store_for(con, cfg).create_tables()  # 2 -> 3: the nucleus role's tables
        _apply_sql(con, cfg)
    return True
