"""Hand-built datastacks with answers known in advance, fed through the real ingest job.

A test writes a few rows per table and version (only the columns that matter; the rest get
harmless defaults), and `build` snapshots them into a fresh warehouse file through a tiny Source,
so the real raw tables, staging views and analysis views are what the test checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow as pa

from ingest.chunks import Spec, matches
from ingest.plan import PlanOptions
from ingest.run import IngestOptions, ingest_version
from ingest.sources.base import Answer, VersionInfo
from warehouse.config import datastack_config
from warehouse.tables import conform

DATASTACK = "demo"  # its table names and voxel size (4 x 4 x 40 nm, pia at y = 60,000) are used
T0 = datetime(2024, 1, 1)


@dataclass
class Cell:
    """A proofreading row: root id and soma position in voxels; status_axon 't' unless said."""

    root: int
    xyz: tuple[int, int, int] = (100_000, 80_000, 20_000)
    status_axon: str = "t"


@dataclass
class Nucleus:
    """A cell-type row joined to its nucleus: which root the nucleus is on at this version."""

    nucleus_id: int
    root: int
    cell_type: str
    table: str = "auto"  # 'auto' or 'manual'
    xyz: tuple[int, int, int] = (100_000, 80_000, 20_000)


@dataclass
class Synapse:
    """A synapse; keep id, size and position the same in every version, as CAVE does."""

    id: int
    pre: int
    post: int
    size: int = 100
    xyz: tuple[int, int, int] = (100_000, 80_000, 20_000)


@dataclass
class Version:
    cells: list[Cell] = field(default_factory=list)
    nuclei: list[Nucleus] = field(default_factory=list)
    synapses: list[Synapse] = field(default_factory=list)


def _utc(n: int) -> pa.Array:
    return pa.array([T0] * n, pa.timestamp("us", tz="UTC"))


def proofreading_table(cells: list[Cell]) -> pa.Table:
    n = len(cells)
    return conform(
        pa.table(
            {
                "id": [i + 1 for i in range(n)],
                "created": _utc(n),
                "valid": [True] * n,
                "pt_supervoxel_id": [7_000 + i for i in range(n)],
                "pt_root_id": [c.root for c in cells],
                "valid_id": [c.root for c in cells],
                "status_dendrite": ["t"] * n,
                "status_axon": [c.status_axon for c in cells],
                "strategy_dendrite": ["dendrite_extended"] * n,
                "strategy_axon": ["axon_fully_extended" if c.status_axon == "t" else "none" for c in cells],
                "pt_position_x": [c.xyz[0] for c in cells],
                "pt_position_y": [c.xyz[1] for c in cells],
                "pt_position_z": [c.xyz[2] for c in cells],
            }
        ),
        "proofreading",
        "handmade",
    )


def cell_type_table(nuclei: list[Nucleus]) -> pa.Table:
    n = len(nuclei)
    return conform(
        pa.table(
            {
                "id": [i + 1 for i in range(n)],
                "created": _utc(n),
                "valid": [True] * n,
                "target_id": [x.nucleus_id for x in nuclei],
                "classification_system": ["handmade"] * n,
                "cell_type": [x.cell_type for x in nuclei],
                "id_ref": [x.nucleus_id for x in nuclei],
                "created_ref": _utc(n),
                "valid_ref": [True] * n,
                "volume": [250.0] * n,
                "pt_supervoxel_id": [8_000 + x.nucleus_id for x in nuclei],
                "pt_root_id": [x.root for x in nuclei],
                "pt_position_x": [x.xyz[0] for x in nuclei],
                "pt_position_y": [x.xyz[1] for x in nuclei],
                "pt_position_z": [x.xyz[2] for x in nuclei],
            }
        ),
        "cell_types_auto",
        "handmade",
    )


def nucleus_table(nuclei: list[Nucleus]) -> pa.Table:
    """The nucleus table the cell-type rows are joined to: each nucleus once."""
    seen = {x.nucleus_id: x for x in nuclei}
    rows = [seen[k] for k in sorted(seen)]
    n = len(rows)
    return conform(
        pa.table(
            {
                "id": [x.nucleus_id for x in rows],
                "created": _utc(n),
                "superceded_id": pa.nulls(n, pa.int64()),
                "valid": [True] * n,
                "volume": [250.0] * n,
                "pt_supervoxel_id": [8_000 + x.nucleus_id for x in rows],
                "pt_root_id": [x.root for x in rows],
                "pt_position_x": [x.xyz[0] for x in rows],
                "pt_position_y": [x.xyz[1] for x in rows],
                "pt_position_z": [x.xyz[2] for x in rows],
            }
        ),
        "nucleus",
        "handmade",
    )


def synapse_table(synapses: list[Synapse]) -> pa.Table:
    n = len(synapses)
    cols: dict = {
        "id": [s.id for s in synapses],
        "created": _utc(n),
        "superceded_id": pa.nulls(n, pa.int64()),
        "valid": [True] * n,
        "pre_pt_supervoxel_id": [9_000 + s.id for s in synapses],
        "pre_pt_root_id": [s.pre for s in synapses],
        "post_pt_supervoxel_id": [9_500 + s.id for s in synapses],
        "post_pt_root_id": [s.post for s in synapses],
        "size": [s.size for s in synapses],
    }
    for name in ("pre_pt_position", "post_pt_position", "ctr_pt_position"):
        for i, axis in enumerate("xyz"):
            cols[f"{name}_{axis}"] = [s.xyz[i] for s in synapses]
    return conform(pa.table(cols), "synapses", "handmade")


class HandmadeSource:
    """The Source protocol over fixed Arrow tables: answers exactly what a chunk spec selects."""

    label = "handmade"
    client_version = None
    datastack = DATASTACK

    def __init__(self, versions: dict[int, Version]):
        cfg = datastack_config(DATASTACK)
        self._versions = [
            VersionInfo(v, T0 + timedelta(days=i), T0 + timedelta(days=3650), False)
            for i, v in enumerate(sorted(versions))
        ]
        self._tables: dict[tuple[str, int], pa.Table] = {}
        for v, content in versions.items():
            self._tables[(cfg.table("proofreading"), v)] = proofreading_table(content.cells)
            self._tables[(cfg.table("synapses"), v)] = synapse_table(content.synapses)
            self._tables[(cfg.table("nucleus"), v)] = nucleus_table(content.nuclei)
            for role, which in (("cell_types_auto", "auto"), ("cell_types_manual", "manual")):
                rows = [x for x in content.nuclei if x.table == which]
                self._tables[(cfg.table(role), v)] = cell_type_table(rows)

    def versions(self, include_expired: bool = True) -> list[VersionInfo]:
        return list(self._versions)

    def fetch(self, table: str, role: str, version: int, spec: Spec) -> Answer:
        data = self._tables[(table, version)]
        return Answer(conform(data.filter(matches(data, spec)), role, "handmade"), truncated=False)

    def count(self, table: str, version: int, spec: Spec | None = None) -> int | None:
        data = self._tables[(table, version)]
        return data.num_rows if spec is None else data.filter(matches(data, spec)).num_rows


def build(path: Path, versions: dict[int, Version]) -> Path:
    """A warehouse file holding exactly these rows, through the real ingest job ('partners' synapses)."""
    import warehouse

    source = HandmadeSource(versions)
    with warehouse.open_for_datastack(path, DATASTACK) as wh:
        for v in sorted(versions):
            ingest_version(wh, source, v, IngestOptions(workers=1, plan=PlanOptions(synapses="partners")))
        wh.con.execute("CHECKPOINT")
    return path
