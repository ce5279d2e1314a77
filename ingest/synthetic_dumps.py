"""Writes CAVE materialization dumps: `{table}.csv.gz` without a header plus `{table}_header.csv`.

The format is PostgreSQL's CSV export as CAVE publishes it (see docs/dumps.md): booleans `t`/`f`,
timestamps with a `+00` offset, empty fields for NULL, positions split into `<name>_x/_y/_z`. Two
kinds of rows go in:

* a `SyntheticDatastack` table at a version, so a dump ingest can be compared row for row with
  the same rows ingested through the demo source (the tests);
* fast synthetic synapse rows at any size (10 M to hundreds of millions), written batch by batch
  in bounded memory, with a second version whose root ids partly change (the benchmarks).

Compression uses ISA-L (igzip) in a background thread: gzip at zlib's level 6 would take minutes
per 10 M rows, and any gzip reader reads the result.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from warehouse.registry import schema_of

# The database type names a header file carries for each Arrow type of the canonical schemas.
PG_TYPES = {
    pa.int64(): "bigint",
    pa.timestamp("us", tz="UTC"): "timestamp with time zone",
    pa.bool_(): "boolean",
    pa.string(): "character varying",
    pa.float64(): "double precision",
}
SYNAPSE_DUMP_TABLE = "synapses_pni_2_v1_filtered_view"
ROOT_BASE = 864691135_000_000_000


def header_lines(schema: pa.Schema, types: dict[str, str] | None = None) -> str:
    """The `column,type` lines of a header file; `types` overrides the type name of some columns."""
    types = types or {}
    return "".join(f"{f.name},{types.get(f.name, PG_TYPES[f.type])}\n" for f in schema)


def postgres_text(batch: pa.RecordBatch | pa.Table) -> pa.Table:
    """The batch with booleans as t/f and timestamps as text with a +00 offset, as COPY ... CSV writes."""
    arrays, names = [], []
    for name, col in zip(batch.column_names, batch.columns, strict=True):
        if pa.types.is_boolean(col.type):
            col = pc.if_else(col, "t", "f")
        elif pa.types.is_timestamp(col.type):
            col = pc.binary_join_element_wise(pc.strftime(col, format="%Y-%m-%d %H:%M:%S"), "+00", "")
        elif pa.types.is_string(col.type):
            col = _quote_where_needed(col)
        arrays.append(col)
        names.append(name)
    return pa.Table.from_arrays(arrays, names=names)


def _quote_where_needed(col: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """Quote strings as PostgreSQL does: only empty ones (so they differ from NULL) and ones with , " or newlines."""
    needs = pc.or_(pc.equal(col, ""), pc.match_substring_regex(col, r'[",\r\n]'))
    quoted = pc.binary_join_element_wise('"', pc.replace_substring(col, '"', '""'), '"', "")
    return pc.if_else(needs, quoted, col)


class DumpWriter:
    """Writes one table's dump files; use as a context manager and call `write(batch)` repeatedly."""

    def __init__(
        self,
        folder: Path | str,
        table: str,
        schema: pa.Schema,
        *,
        types: dict[str, str] | None = None,
        compresslevel: int = 2,
    ) -> None:
        from isal import igzip_threaded

        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.table = table
        self.schema = schema
        (self.folder / f"{table}_header.csv").write_text(header_lines(schema, types))
        self.path = self.folder / f"{table}.csv.gz"
        self._out = igzip_threaded.open(self.path, "wb", compresslevel=compresslevel, threads=1)
        self._options = pacsv.WriteOptions(include_header=False, quoting_style="none", batch_size=65536)
        self.rows = 0

    def write(self, batch: pa.RecordBatch | pa.Table) -> None:
        if batch.schema.names != self.schema.names:
            raise ValueError(f"batch columns {batch.schema.names} differ from the header's")
        pacsv.write_csv(postgres_text(batch), self._out, self._options)
        self.rows += batch.num_rows

    def close(self) -> None:
        self._out.close()

    def __enter__(self) -> DumpWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_table(
    folder: Path | str, table: str, data: pa.Table | Iterable[pa.RecordBatch], schema=None
) -> Path:
    """Write a whole table (or a stream of batches) as one dump; returns the .csv.gz path."""
    if isinstance(data, pa.Table):
        schema, batches = data.schema, data.to_batches(max_chunksize=500_000)
    else:
        batches = data
    with DumpWriter(folder, table, schema) as w:
        for b in batches:
            w.write(b)
    return w.path


def write_datastack_version(ds, version: int, folder: Path | str, roles=None) -> dict[str, Path]:
    """Dump files of a SyntheticDatastack version under the CAVE names, cast to the canonical schemas.

    The synapse table is written as the full filtered view (`synapses_pni_2_v1_filtered_view`);
    the cell-type tables merged with the nucleus table as `{table}_merged`, as CAVE names them; the
    nucleus table as `nucleus_detection_v0`.
    """
    from warehouse.tables import conform

    from .synthetic import (
        AUTO_TYPES_TABLE,
        MANUAL_TYPES_TABLE,
        NUCLEUS_TABLE,
        PROOFREADING_TABLE,
        SYNAPSE_TABLE,
        merged_table,
    )

    names = {
        "synapses": (SYNAPSE_TABLE, SYNAPSE_DUMP_TABLE),
        "proofreading": (PROOFREADING_TABLE, PROOFREADING_TABLE),
        "nucleus": (NUCLEUS_TABLE, NUCLEUS_TABLE),
        "cell_types_manual": (MANUAL_TYPES_TABLE, MANUAL_TYPES_TABLE + "_merged"),
        "cell_types_auto": (AUTO_TYPES_TABLE, AUTO_TYPES_TABLE + "_merged"),
    }
    out = {}
    for role in roles or names:
        cave, dump = names[role]
        table = conform(merged_table(ds, cave, version), role, "the synthetic datastack")
        out[role] = write_table(folder, dump, table)
    return out


# ------------------------------------------------------------------------ fast synthetic synapses
@dataclass(frozen=True)
class SyntheticSynapses:
    """Synapse rows of any size, deterministic per (seed, batch), in id order.

    Fixed columns (ids, positions, sizes, supervoxels) depend only on the seed, so every version
    has the same ones; root ids come from a cell -> root map per version, in which
    `changed_fraction` of the cells get a new root id at each later version (cells edited).
    """

    rows: int
    seed: int = 1181
    batch_rows: int = 1_000_000
    synapses_per_cell: int = 200
    changed_fraction: float = 0.15

    @property
    def n_cells(self) -> int:
        return max(10, self.rows // self.synapses_per_cell)

    def roots(self, version_index: int) -> np.ndarray:
        """Root id of each cell at the i-th version (0 = first)."""
        rng = np.random.default_rng([self.seed, 0])
        roots = ROOT_BASE + 100_000_000 + rng.choice(4_000_000_000, self.n_cells, replace=False)
        for i in range(1, version_index + 1):
            r = np.random.default_rng([self.seed, 1, i])
            edited = np.flatnonzero(r.random(self.n_cells) < self.changed_fraction)
            roots = roots.copy()
            roots[edited] = ROOT_BASE + 5_000_000_000 + i * 1_000_000_000 + r.permutation(len(edited))
        return roots

    def batches(self, version_index: int = 0) -> Iterator[pa.RecordBatch]:
        roots = self.roots(version_index)
        schema = schema_of("synapses")
        base_created = np.datetime64("2020-11-04T06:48:07", "us")
        for start in range(0, self.rows, self.batch_rows):
            n = min(self.batch_rows, self.rows - start)
            rng = np.random.default_rng([self.seed, 2, start])
            ids = 100_000_000 + 3 * np.arange(start, start + n, dtype=np.int64) + rng.integers(0, 3, n)
            pre_cell = rng.integers(0, self.n_cells, n)
            post_cell = rng.integers(0, self.n_cells, n)
            ctr = np.column_stack(
                [
                    rng.integers(80_000, 400_000, n),
                    rng.integers(60_000, 330_000, n),
                    rng.integers(15_000, 27_000, n),
                ]
            )
            pre_pos = ctr + rng.integers(-40, 40, (n, 3))
            post_pos = ctr + rng.integers(-40, 40, (n, 3))
            created = base_created + (np.arange(start, start + n) * 37).astype("timedelta64[us]")
            cols = {
                "id": ids,
                "created": pa.array(created, pa.timestamp("us", tz="UTC")),
                "superceded_id": pa.nulls(n, pa.int64()),
                "valid": pa.array(np.ones(n, bool)),
                "pre_pt_supervoxel_id": rng.integers(70_000_000_000_000_000, 120_000_000_000_000_000, n),
                "pre_pt_root_id": roots[pre_cell],
                "post_pt_supervoxel_id": rng.integers(70_000_000_000_000_000, 120_000_000_000_000_000, n),
                "post_pt_root_id": roots[post_cell],
                "size": np.maximum(40, rng.lognormal(6.2, 0.9, n)).astype(np.int64),
            }
            for name, xyz in (
                ("pre_pt_position", pre_pos),
                ("post_pt_position", post_pos),
                ("ctr_pt_position", ctr),
            ):
                for i, axis in enumerate("xyz"):
                    cols[f"{name}_{axis}"] = np.ascontiguousarray(xyz[:, i])
            yield pa.RecordBatch.from_pydict(cols, schema=schema)

    def proofreading(self, version_index: int = 0, cells: int = 1_500) -> pa.Table:
        """A proofreading table of `cells` cells of this synapse world, so the views have work to do."""
        rng = np.random.default_rng([self.seed, 3])
        idx = rng.choice(self.n_cells, min(cells, self.n_cells), replace=False)
        roots = self.roots(version_index)[idx]
        n = len(idx)
        strategies = np.array(["axon_partially_extended", "axon_fully_extended", "axon_column_truncated"])
        cols = {
            "id": np.arange(1, n + 1, dtype=np.int64),
            "created": pa.array(
                np.full(n, np.datetime64("2023-05-01T00:00:00", "us")), pa.timestamp("us", tz="UTC")
            ),
            "valid": pa.array(np.ones(n, bool)),
            "pt_supervoxel_id": rng.integers(70_000_000_000_000_000, 120_000_000_000_000_000, n),
            "pt_root_id": roots,
            "valid_id": roots,
            "status_dendrite": pa.array(["t"] * n),
            "status_axon": pa.array(["t"] * n),
            "strategy_dendrite": pa.array(["dendrite_extended"] * n),
            "strategy_axon": pa.array(strategies[np.arange(n) % 3]),
            "pt_position_x": rng.integers(80_000, 400_000, n),
            "pt_position_y": rng.integers(60_000, 330_000, n),
            "pt_position_z": rng.integers(15_000, 27_000, n),
        }
        return pa.table(cols, schema=schema_of("proofreading"))

    def write(self, folder: Path | str, version_index: int = 0, table: str = SYNAPSE_DUMP_TABLE) -> Path:
        """The version's synapse dump, plus a proofreading dump of the same world beside it."""
        write_table(folder, "proofreading_status_and_strategy", self.proofreading(version_index))
        return write_table(folder, table, self.batches(version_index), schema_of("synapses"))
