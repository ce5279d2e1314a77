"""The table registry: what each table role of the notebook is, in one entry per role.

A role is a part the warehouse's views need (the proofreading table, the synapse table, ...); a
datastack says which of its CAVE tables plays it (`datastacks.toml`, default: the name here). An
entry holds everything role-specific: the canonical column schema every source is cast to, which
columns never change between versions (stored once), how a version's snapshot selects its rows
(the whole table, or the synapses of the proofread cells), the dump file names it is published
under, and the role it references. Nothing else in the code spells out a role: the views that need
a role are read from the SQL itself (`warehouse.sqlfiles.roles_of`), and reports name the views
they read. Adding a role is one entry here plus its `sql/staging/stg_<role>.sql`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pyarrow as pa

from .errors import WarehouseError

TS = pa.timestamp("us", tz="UTC")
I64 = pa.int64()

WHOLE = "whole"  # every row of the table at the version
PROOFREAD_SYNAPSES = "proofread_synapses"  # the synapses of the proofread cells (ingest/plan.py)


def _pos(name: str) -> list[pa.Field]:
    """A point column as CAVE's query_table(split_positions=True) gives it: int64 voxels per axis."""
    return [pa.field(f"{name}_{a}", I64) for a in "xyz"]


@dataclass(frozen=True)
class TableRole:
    name: str
    summary: str
    default_table: str  # the CAVE table on minnie65_public; a datastack may name another
    schema: pa.Schema  # as query_table returns it; reference tables come joined to their target
    taken: str = WHOLE  # WHOLE, or PROOFREAD_SYNAPSES
    selected_by: str | None = None  # the role whose snapshot of the same version selects the rows
    stable_columns: tuple[str, ...] = ()  # never change for a row id: stored once (split storage)
    dump_names: tuple[str, ...] = ("{table}", "{table}_merged")  # {table}.csv.gz names tried in order
    reference: str | None = None  # the role whose table this one references (joined as *_ref)
    # Several snapshots of one version add up (a union keyed on id: proofread cells, then their
    # partners, then one neuron's synapses), so a later, narrower snapshot never shrinks what a
    # version answers. Otherwise the newest complete snapshot of a version is the one read.
    accumulates: bool = False
    # A split role's per-version rows are written sorted by `sorted_by[0]` within each snapshot,
    # and copied, sorted by `sorted_by[1]`, into a second table (store.TableLayout.copy_table):
    # DuckDB's zone maps then read one root's rows from a row group or two, either way round.
    sorted_by: tuple[str, ...] = ()

    @property
    def split(self) -> bool:
        return bool(self.stable_columns)


_CELL_TYPES = pa.schema(
    [
        ("id", I64),
        ("created", TS),
        ("valid", pa.bool_()),
        ("target_id", I64),
        ("classification_system", pa.string()),
        ("cell_type", pa.string()),
        ("id_ref", I64),
        ("created_ref", TS),
        ("valid_ref", pa.bool_()),
        ("volume", pa.float64()),
        ("pt_supervoxel_id", I64),
        ("pt_root_id", I64),
        *_pos("pt_position"),
    ]
)

_SYNAPSES = pa.schema(
    [
        ("id", I64),
        ("created", TS),
        ("superceded_id", I64),
        ("valid", pa.bool_()),
        ("pre_pt_supervoxel_id", I64),
        ("pre_pt_root_id", I64),
        ("post_pt_supervoxel_id", I64),
        ("post_pt_root_id", I64),
        ("size", I64),
        *_pos("pre_pt_position"),
        *_pos("post_pt_position"),
        *_pos("ctr_pt_position"),
    ]
)

# In dependency order: a role that another's rows are selected by comes first (the synapse query
# reads the proofread root ids of the same version's proofreading snapshot).
_ENTRIES = (
    TableRole(
        name="nucleus",
        summary="every detected cell body: its position, volume and root id; nucleus ids are stable across versions",
        default_table="nucleus_detection_v0",
        schema=pa.schema(
            [
                ("id", I64),
                ("created", TS),
                ("superceded_id", I64),
                ("valid", pa.bool_()),
                ("volume", pa.float64()),
                ("pt_supervoxel_id", I64),
                ("pt_root_id", I64),
                *_pos("pt_position"),
            ]
        ),
    ),
    TableRole(
        name="proofreading",
        summary="the proofreading status table: one row per proofread cell",
        default_table="proofreading_status_and_strategy",
        schema=pa.schema(
            [
                ("id", I64),
                ("created", TS),
                ("valid", pa.bool_()),
                ("pt_supervoxel_id", I64),
                ("pt_root_id", I64),
                ("valid_id", I64),
                ("status_dendrite", pa.string()),
                ("status_axon", pa.string()),
                ("strategy_dendrite", pa.string()),
                ("strategy_axon", pa.string()),
                *_pos("pt_position"),
            ]
        ),
    ),
    TableRole(
        name="cell_types_manual",
        summary="the manual cell-type table, a reference table on the nucleus table",
        default_table="allen_v1_column_types_slanted_ref",
        schema=_CELL_TYPES,
        reference="nucleus",
    ),
    TableRole(
        name="cell_types_auto",
        summary="the automatic cell-type table, a reference table on the nucleus table",
        default_table="aibs_metamodel_celltypes_v661",
        schema=_CELL_TYPES,
        reference="nucleus",
    ),
    TableRole(
        name="synapses",
        summary="the synapse table; a version's snapshot holds the synapses of its proofread cells",
        default_table="synapses_pni_2",
        schema=_SYNAPSES,
        taken=PROOFREAD_SYNAPSES,
        selected_by="proofreading",
        accumulates=True,
        # Only the root ids change between versions; a second version of 337 M rows costs only them
        # (and size: it never changes either, but one neuron's partners sum it, and kept beside the
        # root ids it needs no join to __fixed).
        stable_columns=tuple(
            c for c in _SYNAPSES.names if c not in ("pre_pt_root_id", "post_pt_root_id", "size")
        ),
        sorted_by=("pre_pt_root_id", "post_pt_root_id"),
        # CAVE publishes the synapse table's dump as the filtered view.
        dump_names=("{table}_v1_filtered_view", "{table}"),
    ),
)

# A split role's per-version rows are stored in one root order and copied in another (store.py).
for _r in _ENTRIES:
    if _r.split and len(_r.sorted_by) != 2:
        raise ValueError(f"registry: split role {_r.name} must name two sort orders (sorted_by)")
ROLES: dict[str, TableRole] = {r.name: r for r in _ENTRIES}
ROLE_NAMES: tuple[str, ...] = tuple(ROLES)


def role(name: str) -> TableRole:
    if name not in ROLES:
        raise WarehouseError(f"unknown table role '{name}'; roles: {', '.join(ROLE_NAMES)}")
    return ROLES[name]


def in_order(names: Iterable[str]) -> list[str]:
    """Roles in dependency order, each once."""
    wanted = set(names)
    for n in wanted:
        role(n)
    return [r for r in ROLE_NAMES if r in wanted]


def accumulating() -> tuple[str, ...]:
    return tuple(r.name for r in _ENTRIES if r.accumulates)


def schema_of(name: str) -> pa.Schema:
    """A role's canonical Arrow schema."""
    return role(name).schema
