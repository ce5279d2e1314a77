"""Copy a warehouse into a new one with another store: a single file to a lake, a lake to a file.

The lake is chosen when a warehouse is made, so moving an existing one means making a new one and
copying into it. Everything a view depends on comes along unchanged: the versions the server
announced, every complete snapshot with its id, query, counts and times, the chunks that made it,
which roots each synapse snapshot covers, and the rows, snapshot by snapshot through the new
store's own writer (so a lake gets one Delta commit per snapshot, a file its split layout).
Incomplete snapshots are not copied: their staged chunks live in the old file's staging tables,
and an ingest into the new warehouse takes them afresh.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from . import api, snapshots
from .connection import fetch_one, transaction
from .errors import WarehouseError
from .matrix import refresh_matrix

BATCH_ROWS = 256 * 1024


@dataclass
class Copied:
    snapshots: int
    rows: int


def copy_warehouse(
    src: Path | str,
    dst: Path | str,
    *,
    lake: Path | str | None = None,
    on_snapshot: Callable[[str, int, int], None] | None = None,
) -> Copied:
    """Copy the warehouse at `src` into a new warehouse at `dst` (in the lake `lake`, or a single file)."""
    src, dst = Path(src), Path(dst)
    if dst.exists():
        raise WarehouseError(f"{dst} exists; export into a new file")
    if src.resolve() == dst.resolve():
        raise WarehouseError("the export must go to another file")
    rows_total = 0
    with api.open(src) as old:
        complete = old.con.execute(
            "SELECT snapshot_id, role, table_name, version FROM meta.snapshots WHERE status = 'complete' "
            "ORDER BY snapshot_id"
        ).fetchall()
        with api.open_for_datastack(dst, old.datastack, lake=lake) as new:
            _copy_meta(old, new, [s[0] for s in complete])
            for sid, role, table, version in complete:
                with transaction(new.con):
                    appender = new.store.appender(role, sid, version)
                    reader = old.con.sql(
                        f'SELECT * EXCLUDE (snapshot_id, version) FROM raw."{table}" WHERE snapshot_id = {int(sid)} ORDER BY id'
                    ).to_arrow_reader(BATCH_ROWS)
                    for batch in reader:
                        if batch.num_rows:
                            appender.append(pa.Table.from_batches([batch]))
                    appender.finish(f"{table} v{version} (snapshot {sid})")
                n = fetch_one(new.con, "SELECT row_count FROM meta.snapshots WHERE snapshot_id = ?", [sid])[0]
                rows_total += n
                if on_snapshot:
                    on_snapshot(table, version, n)
            for v in sorted({s[3] for s in complete}):
                refresh_matrix(new.con, v)
    return Copied(len(complete), rows_total)


def _copy_meta(old: api.Warehouse, new: api.Warehouse, sids: list[int]) -> None:
    """The catalog rows of the copied snapshots, and every version the server announced."""
    o, n = old.con, new.con
    with transaction(n):
        for table, where in (
            ("versions", "true"),
            ("snapshots", "snapshot_id IN (SELECT unnest($sids))"),
            ("chunks", "snapshot_id IN (SELECT unnest($sids))"),
            ("snapshot_roots", "snapshot_id IN (SELECT unnest($sids))"),
        ):
            cols = [c[0] for c in n.execute(f"DESCRIBE meta.{table}").fetchall()]
            have = {c[0] for c in o.execute(f"DESCRIBE meta.{table}").fetchall()}
            shared = [c for c in cols if c in have]
            listed = ", ".join(f'"{c}"' for c in shared)
            params = {"sids": sids} if "$sids" in where else {}
            data = o.sql(f"SELECT {listed} FROM meta.{table} WHERE {where}", params=params).to_arrow_table()
            n.register("mwh_meta_copy", data)
            try:
                n.execute(
                    f"INSERT OR REPLACE INTO meta.{table} ({listed}) SELECT {listed} FROM mwh_meta_copy"
                )
            finally:
                n.unregister("mwh_meta_copy")
        snapshots.refresh_current(n)  # the catalog rows came in whole, not through snapshots.py's steps
        top = max(sids, default=0)
        n.execute("DROP SEQUENCE IF EXISTS meta.snapshot_ids")
        n.execute(f"CREATE SEQUENCE meta.snapshot_ids START {top + 1}")
