"""The canonical column layout of each table role, as CAVE's query_table returns it.

Every source (caveclient, the demo generator, dump files) is cast to these Arrow schemas before a
row reaches the file, so rows from different sources compare exactly, and a server answer with a
missing column or a wrong type is refused by name instead of corrupting a snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

TS = pa.timestamp("us", tz="UTC")
I64 = pa.int64()


def _pos(name: str) -> list[pa.Field]:
    return [pa.field(f"{name}_{a}", I64) for a in "xyz"]


SCHEMAS: dict[str, pa.Schema] = {
    "synapses": pa.schema(
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
    ),
    "proofreading": pa.schema(
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
}
# Cell-type tables are reference tables on the nucleus table; query_table returns them joined.
SCHEMAS["cell_types_manual"] = SCHEMAS["cell_types_auto"] = pa.schema(
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

# Columns that never change between versions for a row id. Tables listed here are stored split:
# these columns once in `raw.<table>__fixed`, the rest per snapshot in `raw.<table>__rows`, so a
# second version of the 337 M-row synapse table costs only its root ids.
STABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "synapses": tuple(c for c in SCHEMAS["synapses"].names if c not in ("pre_pt_root_id", "post_pt_root_id")),
}

DUCK_TYPES = {
    pa.int64(): "BIGINT",
    TS: "TIMESTAMPTZ",
    pa.bool_(): "BOOLEAN",
    pa.string(): "VARCHAR",
    pa.float64(): "DOUBLE",
}


@dataclass(frozen=True)
class TableLayout:
    """Where a role's rows live in the file."""

    role: str
    name: str  # the CAVE table name, kept as the raw table's name

    @property
    def schema(self) -> pa.Schema:
        return SCHEMAS[self.role]

    @property
    def split(self) -> bool:
        return self.role in STABLE_COLUMNS

    @property
    def fixed_columns(self) -> tuple[str, ...]:
        return STABLE_COLUMNS.get(self.role, ())

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

    @property
    def stage_table(self) -> str:
        return f'stage."{self.name}"'


def column_ddl(schema: pa.Schema, names: tuple[str, ...] | list[str]) -> str:
    return ", ".join(f'"{n}" {DUCK_TYPES[schema.field(n).type]}' for n in names)


def conform(table: pa.Table, role: str, source: str) -> pa.Table:
    """Cast a source's answer to the role's schema, refusing missing columns or bad types."""
    from .errors import SourceError

    schema = SCHEMAS[role]
    missing = [n for n in schema.names if n not in table.column_names]
    if missing:
        raise SourceError(f"{source} answered without column(s) {', '.join(missing)} for the {role} table")
    columns = []
    for f in schema:
        col = table.column(f.name)
        if col.type != f.type:
            try:
                col = col.cast(f.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise SourceError(
                    f"{source} answered column {f.name} as {col.type}, expected {f.type}: {exc}"
                ) from None
        columns.append(col)
    return pa.Table.from_arrays(columns, schema=schema)
