"""Arrow and DuckDB column types of the roles' canonical schemas (warehouse/registry.py).

Every source (caveclient, the demo generator, dump files) is cast to the role's Arrow schema
before a row reaches the file, so rows from different sources compare exactly, and a server answer
with a missing column or a wrong type is refused by name instead of corrupting a snapshot.
"""

from __future__ import annotations

import pyarrow as pa

from .errors import SourceError
from .registry import TS, role

DUCK_TYPES = {
    pa.int64(): "BIGINT",
    TS: "TIMESTAMPTZ",
    pa.bool_(): "BOOLEAN",
    pa.string(): "VARCHAR",
    pa.float64(): "DOUBLE",
}


def column_ddl(schema: pa.Schema, names: tuple[str, ...] | list[str]) -> str:
    return ", ".join(f'"{n}" {DUCK_TYPES[schema.field(n).type]}' for n in names)


def conform(table: pa.Table, role_name: str, source: str) -> pa.Table:
    """Cast a source's answer to the role's schema, refusing missing columns or bad types."""
    schema = role(role_name).schema
    missing = [n for n in schema.names if n not in table.column_names]
    if missing:
        raise SourceError(
            f"{source} answered without column(s) {', '.join(missing)} for the {role_name} table"
        )
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
