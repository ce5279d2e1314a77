"""The lake's manifest: what engines other than DuckDB need to read a lake warehouse's snapshots.

Spark, polars or a colleague's delta-rs script see only the Delta tables; which of their rows make
a version (the complete snapshots, the union of a version's synapse snapshots) is in the DuckDB
catalog. Each time a writer publishes the catalog it also writes `{lake}/{datastack}/_manifest.json`
in the format warehouse/lake_export.py defines (the catalog's meta tables as text that casts back
exactly, and one entry per table and version: path, Delta version, current snapshot ids), so
warehouse/spark_sql.py reads a lake warehouse and an exported one alike.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb

from . import lake
from .lake_export import FORMAT, FORMAT_VERSION, _write_manifest, dump_meta, manifest_path


def write_manifest(con: duckdb.DuckDBPyConnection, root: str | Path) -> Path:
    datastack = con.execute("SELECT name FROM meta.datastack").fetchall()[0][0]
    current = con.execute(
        "SELECT role, table_name, version, list(snapshot_id ORDER BY snapshot_id), sum(row_count) "
        "FROM meta.current_snapshots GROUP BY ALL ORDER BY version, role"
    ).fetchall()
    base = lake.check_root(root) / datastack
    entries = []
    for role, table, version, ids, rows in current:
        path = lake.table_path(root, datastack, version, table)
        if not lake.is_delta_table(path):
            continue
        columns = [c[0] for c in con.execute(f'DESCRIBE raw."{table}"').fetchall()]
        entries.append(
            {
                "role": role,
                "table": table,
                "version": version,
                "snapshot_ids": ids,
                "current_snapshot_id": ids[-1],
                "current_snapshot_ids": ids,
                "rows": int(rows),
                "layout": "full",
                "columns": columns,
                "path": path.relative_to(base).as_posix(),
                "delta_version": lake.delta_version(path),
            }
        )
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "datastack": datastack,
        "exported_at": datetime.now(UTC).isoformat(),
        "source": {"lake_warehouse": True},
        "layout": {"synapses": "full"},
        "meta": dump_meta(con),
        "tables": entries,
    }
    path = manifest_path(root, datastack)
    _write_manifest(path, manifest)
    return path
