"""The notebook's own steps, ported to pandas: the independent oracle the views are checked against.

This follows the researchers' notebook line by line (query results as DataFrames, `isin`,
`drop_duplicates(keep=False)`, an outer `merge` with suffixes, `fillna('unsure')`, a `pivot_table`,
a `groupby().count()`), on rows read from the warehouse's raw tables, never from its views. It
does what the notebook meant where the notebook slipped: `target_id` becomes `nucleus_id` in both
cell-type tables.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pandas as pd

ROLES = {
    "proofreading": "proofreading_status_and_strategy",
    "synapses": "synapses_pni_2",
    "cell_types_manual": "allen_v1_column_types_slanted_ref",
    "cell_types_auto": "aibs_metamodel_celltypes_v661",
    "nucleus": "nucleus_detection_v0",
}


def raw_rows(con: duckdb.DuckDBPyConnection, role: str, version: int) -> pd.DataFrame:
    """The rows of a role's current snapshot at a version, as query_table would have returned them.
    The synapse table's snapshots of a version add up (each synapse once): all of them, then."""
    sids = [
        r[0]
        for r in con.execute(
            "SELECT snapshot_id FROM meta.snapshots WHERE role = ? AND version = ? AND status = 'complete' "
            "ORDER BY finished_at DESC",
            [role, version],
        ).fetchall()
    ]
    if role != "synapses":
        sids = sids[:1]
    return con.execute(
        f'SELECT * EXCLUDE (snapshot_id, version) FROM raw."{ROLES[role]}" WHERE snapshot_id IN (SELECT unnest(?)) ORDER BY id',
        [sids],
    ).df()


@dataclass
class NotebookResult:
    proofread: pd.DataFrame
    synapses: pd.DataFrame
    binary: pd.DataFrame
    cell_types: pd.DataFrame
    proofread_types: pd.DataFrame


def run_notebook(
    prf: pd.DataFrame, syn: pd.DataFrame, manual: pd.DataFrame, auto: pd.DataFrame
) -> NotebookResult:
    # proofreading status, axon 't'
    proof_df = prf[prf["status_axon"] == "t"]
    proofread_ids = proof_df["pt_root_id"].values
    # synapses whose pre and post root ids are both proofread, as the notebook's query filters
    syn_df = syn[syn["pre_pt_root_id"].isin(proofread_ids) & syn["post_pt_root_id"].isin(proofread_ids)]
    # drop autapses
    syn_df = syn_df[syn_df["pre_pt_root_id"] != syn_df["post_pt_root_id"]]
    # binary pre x post matrix
    counts = syn_df.pivot_table(
        index="pre_pt_root_id", columns="post_pt_root_id", values="id", aggfunc="count", fill_value=0
    )
    binary = (counts > 0).astype(int)
    # cell types: rename, drop roots with several nuclei (all copies), outer merge, fill 'unsure'
    manual = manual.rename(columns={"target_id": "nucleus_id"})
    auto = auto.rename(columns={"target_id": "nucleus_id"})
    cols = ["nucleus_id", "pt_root_id", "classification_system", "cell_type"]
    manual = manual[cols].drop_duplicates("pt_root_id", keep=False)
    auto = auto[cols].drop_duplicates("pt_root_id", keep=False)
    cell_types = auto.merge(manual, on="pt_root_id", how="outer", suffixes=("_auto", "_manual"))
    cell_types["cell_type_auto"] = cell_types["cell_type_auto"].fillna("unsure")
    cell_types["cell_type_manual"] = cell_types["cell_type_manual"].fillna("unsure")
    proofread_types = proof_df.merge(cell_types, on="pt_root_id", how="left")
    return NotebookResult(proof_df, syn_df, binary, cell_types, proofread_types)


def outputs_of(syn: pd.DataFrame, root_id: int) -> pd.DataFrame:
    """The notebook's last step: one neuron's synapses grouped by post-synaptic partner."""
    out = syn[syn["pre_pt_root_id"] == root_id]
    return (
        out.groupby("post_pt_root_id")
        .count()[["id"]]
        .rename(columns={"id": "syn_count"})
        .sort_values("syn_count", ascending=False)
    )
