"""Writes a SyntheticDatastack version (or fast synthetic synapses) as a CAVE Delta Lake export.

The layout and column shapes follow MaterializationEngine's exporter (v5.26.4,
`materializationengine/workflows/deltalake_export.py`), so the reader (ingest/sources/delta_export.py)
is tested against what CAVE writes, not against itself:

* ``{root}/{datastack}/v{version}/{table}/{spec}``, one Delta table per spec, each with ALL rows;
  an ``id`` copy for every table, and for the synapse table also ``pre_pt_root_id`` and
  ``post_pt_root_id`` copies and a ``ctr_pt_position_morton`` copy (CAVE trims tables under 200 MB
  to the ``id`` copy; the synapse table is far above that).
* Each copy is partitioned by a ``{spec}_partition`` Int32 column: percentile ranges of the
  column for ``id`` and the root ids, uniform ranges of the Morton code for the spatial copy,
  which also carries ``{col}_morton`` (Int64, 21 bits per axis interleaved).
* Rows are appended in several commits (the exporter flushes every 2 GB), then each copy is
  z-ordered on its column and vacuumed, so a log holds appends, an optimize and a vacuum.
* ``created``, ``deleted`` and ``superceded_id`` are dropped; the Morton column's points are
  ``{col}_x/_y/_z`` Int32 in every copy, every other point stays EWKB (little endian, SRID flag
  set, as PostGIS sends it); a reference table (cell types) carries only its own columns.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from warehouse.registry import schema_of
from warehouse.tables import conform

from .sources.delta_export import own_columns
from .synthetic import (
    AUTO_TYPES_TABLE,
    MANUAL_TYPES_TABLE,
    NUCLEUS_TABLE,
    PROOFREADING_TABLE,
    SYNAPSE_TABLE,
    SyntheticDatastack,
)

DROPPED = ("created", "deleted", "superceded_id")
SRID = 4326  # written with the SRID flag, as PostGIS sends a geometry; the reader skips the value
ROLE_TABLES = {
    "nucleus": NUCLEUS_TABLE,
    "proofreading": PROOFREADING_TABLE,
    "cell_types_manual": MANUAL_TYPES_TABLE,
    "cell_types_auto": AUTO_TYPES_TABLE,
    "synapses": SYNAPSE_TABLE,
}
SYNAPSE_SPECS = ("id", "pre_pt_root_id", "post_pt_root_id", "ctr_pt_position_morton")
MORTON_POINT = "ctr_pt_position"


def ewkb_points(
    x: np.ndarray, y: np.ndarray, z: np.ndarray, *, srid: int | None = SRID, little: bool = True
) -> pa.Array:
    """3-D points as PostGIS EWKB (byte order, type with the Z and SRID flags, SRID, x, y, z)."""
    n = len(x)
    order = "<" if little else ">"
    typ = 0x80000000 | 1 | (0x20000000 if srid is not None else 0)
    head = np.frombuffer(
        bytes([1 if little else 0])
        + np.array([typ], dtype=f"{order}u4").tobytes()
        + (np.array([srid], dtype=f"{order}u4").tobytes() if srid is not None else b""),
        np.uint8,
    )
    coords = np.column_stack([x, y, z]).astype(f"{order}f8").view(np.uint8).reshape(n, 24)
    rows = np.hstack([np.broadcast_to(head, (n, len(head))), coords])
    width = rows.shape[1]
    offsets = pa.py_buffer((np.arange(n + 1, dtype=np.int32) * width).tobytes())
    return pa.Array.from_buffers(pa.binary(), n, [None, offsets, pa.py_buffer(rows.tobytes())])


def morton(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """21 bits per axis interleaved (x lowest), as the exporter's `morton_encode_3d`."""

    def spread(v: np.ndarray) -> np.ndarray:
        v = np.asarray(v, dtype=np.uint64) & np.uint64(0x1FFFFF)
        out = np.zeros_like(v)
        for bit in range(21):
            out |= ((v >> np.uint64(bit)) & np.uint64(1)) << np.uint64(3 * bit)
        return out

    return (spread(x) | spread(y) << np.uint64(1) | spread(z) << np.uint64(2)).astype(np.int64)


def export_shape(table: pa.Table | pa.RecordBatch, role: str, decoded: tuple[str, ...] = ()) -> pa.Table:
    """Canonical rows as the exporter writes them: own columns only, dropped columns gone, points
    in `decoded` as Int32 `_x/_y/_z`, every other point as one EWKB column where the point was."""
    own = [c for c in own_columns(role) if c not in DROPPED]
    points = [n[:-2] for n in own if n.endswith("_x") and f"{n[:-2]}_y" in own]
    cols: dict[str, pa.Array] = {}
    for name in own:
        stem = name[:-2] if name[-2:] in ("_x", "_y", "_z") else None
        if stem in points:
            if stem in decoded:
                cols[name] = pc.cast(table.column(name), pa.int32())
            elif name.endswith("_x"):
                xyz = [np.asarray(table.column(f"{stem}_{a}")) for a in "xyz"]
                cols[stem] = ewkb_points(*xyz)
            continue
        cols[name] = table.column(name)
    return pa.table(cols)


def _bounds(values: np.ndarray, parts: int, uniform: bool) -> np.ndarray:
    if uniform:
        return np.linspace(values.min(), values.max(), parts + 1)[1:-1]
    return np.quantile(values, np.arange(1, parts) / parts)


def _with_spec(table: pa.Table, spec: str, bounds: np.ndarray) -> pa.Table:
    if spec == f"{MORTON_POINT}_morton":
        xyz = [np.asarray(table.column(f"{MORTON_POINT}_{a}")) for a in "xyz"]
        table = table.append_column(spec, pa.array(morton(*xyz)))
    part = np.searchsorted(bounds, np.asarray(table.column(spec)), side="right").astype(np.int32)
    return table.append_column(f"{spec}_partition", pa.array(part))


def write_copies(
    table_dir: Path,
    batches: Iterable[pa.Table],
    specs: tuple[str, ...],
    bounds: dict[str, np.ndarray],
    *,
    optimize: bool = True,
) -> dict[str, Path]:
    """Append each batch to every spec copy (one commit per batch and copy, like the exporter's
    flushes), then z-order and vacuum each copy."""
    from deltalake import DeltaTable, write_deltalake

    for batch in batches:
        for spec in specs:
            write_deltalake(
                str(table_dir / spec),
                _with_spec(batch, spec, bounds[spec]),
                mode="append",
                partition_by=[f"{spec}_partition"],
            )
    out = {}
    for spec in specs:
        path = table_dir / spec
        if optimize:
            dt = DeltaTable(str(path))
            dt.optimize.z_order([spec])
            dt.vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False)
        out[spec] = path
    return out


def _spec_bounds(table: pa.Table, specs: tuple[str, ...], parts: int) -> dict[str, np.ndarray]:
    out = {}
    for spec in specs:
        if spec.endswith("_morton"):
            values = morton(*[np.asarray(table.column(f"{MORTON_POINT}_{a}")) for a in "xyz"])
        else:
            values = np.asarray(table.column(spec))
        out[spec] = _bounds(values, parts, spec.endswith("_morton"))
    return out


def _chunks(table: pa.Table, rows: int) -> Iterator[pa.Table]:
    for start in range(0, table.num_rows, rows):
        yield table.slice(start, rows)


def write_datastack_version(
    ds: SyntheticDatastack,
    version: int,
    root: Path | str,
    roles: list[str] | None = None,
    *,
    parts: int = 4,
    flushes: int = 2,
    optimize: bool | Iterable[str] = True,
) -> Path:
    """The version's export under `{root}/{datastack}/v{version}`; returns that folder.

    `optimize` (True, False or the roles to optimize) z-orders and vacuums each copy as the
    exporter does; the tests leave most tables out, since z-ordering is most of the writing time.
    """
    optimized = set(ROLE_TABLES if optimize is True else () if optimize is False else optimize)
    folder = Path(root) / ds.name / f"v{version}"
    for role in roles or ROLE_TABLES:
        cave = ROLE_TABLES[role]
        base = ds.base_table(cave, version)
        if role in ("cell_types_manual", "cell_types_auto"):
            base = base.append_column("id_ref", base.column("target_id"))  # conform() needs the
            own = own_columns(role)  # reference columns; only the own ones are written
            full = schema_of(role)
            for f in full:
                if f.name not in base.column_names:
                    base = base.append_column(f.name, pa.nulls(base.num_rows, f.type))
            canonical = conform(base, role, "the synthetic datastack").select(own)
        else:
            canonical = conform(base, role, "the synthetic datastack")
        canonical = canonical.sort_by("id")
        specs = SYNAPSE_SPECS if role == "synapses" else ("id",)
        decoded = (MORTON_POINT,) if role == "synapses" else ()
        shaped = export_shape(canonical, role, decoded)
        per_flush = max(1, -(-shaped.num_rows // flushes))
        write_copies(
            folder / cave,
            _chunks(shaped, per_flush),
            specs,
            _spec_bounds(canonical, specs, parts),
            optimize=role in optimized,
        )
    return folder


def write_synapse_stream(
    root: Path | str,
    datastack: str,
    version: int,
    batches: Iterable[pa.RecordBatch],
    *,
    specs: tuple[str, ...] = ("id",),
    bounds: dict[str, np.ndarray],
    optimize: bool = False,
) -> Path:
    """Synapse batches in the canonical schema (e.g. `SyntheticSynapses.batches`) as the synapse
    table's export, batch by batch in bounded memory (for the benchmark); returns the table folder."""
    table_dir = Path(root) / datastack / f"v{version}" / SYNAPSE_TABLE
    shaped = (export_shape(pa.Table.from_batches([b]), "synapses", (MORTON_POINT,)) for b in batches)
    write_copies(table_dir, shaped, specs, bounds, optimize=optimize)
    return table_dir
