"""Chunk specifications: how a snapshot's query is cut into requests that each stay under a row cap.

A chunk is a JSON-able dict, stored in `meta.chunks` so an interrupted ingest resumes with exactly
the chunks it had not finished:

    {"in": {"pre_pt_root_id": [...ids...], "post_pt_root_id": "$proofread"},
     "split": "pre_pt_root_id", "id_range": [lo, hi], "family": "both"}

`"$name"` refers to an id set stored once in the snapshot's query instead of in every chunk.
`id_range` is half-open, `null` meaning unbounded. Chunks are never paged by offset: a chunk that
comes back possibly truncated (as many rows as the cap) is split, first by halving its id list,
then, for a single id, by the median row id it returned, until every piece is under the cap.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

Spec = dict


def whole_table() -> Spec:
    return {"in": {}, "split": None, "id_range": [None, None], "family": "all"}


def by_id_lists(
    column: str, ids: Sequence[int], per_chunk: int, family: str, fixed: dict | None = None
) -> list[Spec]:
    """Root chunks for a query `column IN ids` (plus fixed `IN` filters), `per_chunk` ids each."""
    ids = sorted(set(int(i) for i in ids))
    if not ids:
        return []
    per_chunk = max(1, per_chunk)
    return [
        {
            "in": {column: ids[i : i + per_chunk], **(fixed or {})},
            "split": column,
            "id_range": [None, None],
            "family": family,
        }
        for i in range(0, len(ids), per_chunk)
    ]


def split(spec: Spec, returned_ids: pa.Array | np.ndarray) -> list[Spec]:
    """Two chunks that together ask exactly what `spec` asked, each strictly narrower."""
    col = spec.get("split")
    if col and isinstance(spec["in"].get(col), list) and len(spec["in"][col]) > 1:
        ids = spec["in"][col]
        half = len(ids) // 2
        left, right = copy.deepcopy(spec), copy.deepcopy(spec)
        left["in"][col], right["in"][col] = ids[:half], ids[half:]
        return [left, right]
    ids = np.unique(np.asarray(returned_ids, dtype=np.int64))
    lo, hi = spec["id_range"]
    if len(ids) < 2:
        raise ValueError("a chunk with fewer than two distinct row ids cannot be over the cap")
    mid = int(ids[len(ids) // 2])  # > ids.min() >= lo, so both halves are narrower
    left, right = copy.deepcopy(spec), copy.deepcopy(spec)
    left["id_range"], right["id_range"] = [lo, mid], [mid, hi]
    return [left, right]


def resolve(spec: Spec, sets: dict[str, list[int]]) -> Spec:
    """The spec with `$name` references replaced by the snapshot's id sets."""
    out = copy.deepcopy(spec)
    for col, val in spec["in"].items():
        if isinstance(val, str) and val.startswith("$"):
            out["in"][col] = sets[val[1:]]
    return out


def matches(table: pa.Table, spec: Spec) -> pa.Array:
    """The rows of `table` a resolved spec selects (the reference semantics sources must follow)."""
    mask = pa.array(np.ones(table.num_rows, dtype=bool))
    for col, values in spec["in"].items():
        column = table.column(col)
        typ = column.type if not pa.types.is_null(column.type) else pa.int64()
        mask = pc.and_(mask, pc.is_in(column, value_set=pa.array(values, typ)))
    lo, hi = spec["id_range"]
    if lo is not None:
        mask = pc.and_(mask, pc.greater_equal(table.column("id"), lo))
    if hi is not None:
        mask = pc.and_(mask, pc.less(table.column("id"), hi))
    return mask
