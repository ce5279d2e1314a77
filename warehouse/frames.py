"""The kind of frame an answer comes back as: polars (the default), pandas or arrow.

One place for the choice, so every method that returns rows takes the same `kind` argument and
the library a frame needs is imported only when one is made: `mwh` prints from arrow tables and
starts without polars.
"""

from __future__ import annotations

from typing import Any

import duckdb
import pyarrow as pa

from .errors import WarehouseError

KINDS = ("polars", "pandas", "arrow")


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise WarehouseError(f"kind must be polars, pandas or arrow, not {kind!r}")
    return kind


def relation_as(rel: duckdb.DuckDBPyRelation, kind: str) -> Any:
    """A DuckDB relation's rows as the kind of frame asked for."""
    check_kind(kind)
    if kind == "polars":
        return rel.pl()
    if kind == "pandas":
        return rel.df()
    return rel.to_arrow_table()


def arrow_as(table: pa.Table, kind: str) -> Any:
    """An arrow table as the kind of frame asked for."""
    check_kind(kind)
    if kind == "polars":
        import polars as pl

        return pl.from_arrow(table)
    if kind == "pandas":
        return table.to_pandas()
    return table


def polars_as(frame: Any, kind: str) -> Any:
    """A polars frame as the kind of frame asked for."""
    check_kind(kind)
    if kind == "polars":
        return frame
    if kind == "pandas":
        return frame.to_pandas()
    return frame.to_arrow()
