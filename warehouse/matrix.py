"""The wide binary connectivity matrix of one version: one row per pre cell, one column per post cell.

DuckDB cannot keep a PIVOT whose columns come from the data in a view, so after a snapshot
commits, the matrix of that version is (re)written with an explicit `IN (...)` list of the
version's proofread root ids. It is a table macro, `FROM connectivity_matrix_1181()`, not a view:
the duckdb shell's `.tables` prints every column of every view, and 1,436 columns would bury the
listing. Everything else should use the long form `connectivity_pairs`, which is also all there is
past MAX_MATRIX_CELLS proofread cells.
"""

from __future__ import annotations

import duckdb

from . import snapshots
from .sqlfiles import view_roles

# Past this many proofread cells the wide PIVOT needs more memory than a laptop has (14,360 cells
# passed 14 GB in the benchmarks); use the long form connectivity_pairs there.
MAX_MATRIX_CELLS = 5_000


def matrix_macro_name(version: int) -> str:
    return f"connectivity_matrix_{int(version)}"


def refresh_matrix(con: duckdb.DuckDBPyConnection, version: int) -> str | None:
    """Create or drop the version's matrix macro to match what is snapshotted; returns its name."""
    name = matrix_macro_name(version)
    if not set(view_roles()["connections"]) <= snapshots.current_roles(con, version):
        con.execute(f"DROP MACRO TABLE IF EXISTS {name}")
        return None
    ids = [
        r[0]
        for r in con.execute(
            "SELECT DISTINCT pt_root_id FROM proofread_neurons WHERE version = ? ORDER BY 1", [version]
        ).fetchall()
    ]
    if not ids or len(ids) > MAX_MATRIX_CELLS:
        con.execute(f"DROP MACRO TABLE IF EXISTS {name}")
        return None
    in_list = ", ".join(str(int(i)) for i in ids)
    # The PIVOT reads the connected pairs only (one row each) plus one row per cell with no post, so
    # that every cell gets a row; count(*) is then 1 where a pair is connected and 0 elsewhere.
    # Pivoting the dense connectivity_pairs instead (n^2 rows) took 2.5x as long at 1,436 cells.
    v = int(version)
    con.execute(
        f"CREATE OR REPLACE MACRO {name}() AS TABLE "
        f"PIVOT (SELECT pre_pt_root_id, post_pt_root_id FROM connections WHERE version = {v} "
        f"UNION ALL SELECT pt_root_id, NULL FROM proofread_neurons WHERE version = {v}) "
        f"ON post_pt_root_id IN ({in_list}) USING count(*)::INTEGER GROUP BY pre_pt_root_id ORDER BY pre_pt_root_id"
    )
    return name
