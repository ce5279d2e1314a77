"""A seeded synthetic datastack shaped like minnie65_public.

It backs `mwh demo`, the tests and the benchmarks, and the CAVE-compatible test server serves it,
so the demo path and the CAVE path can be compared row for row. It is built to exercise what the
real data does to a pipeline: root ids that change between versions while nucleus ids stay, root
ids with two nuclei, cells in only one of the two cell-type tables, autapses, root id 0, and
connectivity that depends on cell type and distance, so the reports look like cortex.

Sizes at ``scale=1`` follow the notebook's version 1181: about 1,436 proofread axons with the
strategy_axon proportions 979/233/144/80, about 130 k synapses among them, about 94 k automatic
cell-type rows.
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa

from .sources.base import VersionInfo

VOXEL_NM = (4.0, 4.0, 40.0)
PIA_Y_VOXELS = 60_000  # y voxel of the pia surface in the synthetic volume; depth grows with y
ROOT_BASE = 864691135_000_000_000
NUCLEUS_TABLE = "nucleus_detection_v0"
PROOFREADING_TABLE = "proofreading_status_and_strategy"
SYNAPSE_TABLE = "synapses_pni_2"
MANUAL_TYPES_TABLE = "allen_v1_column_types_slanted_ref"
AUTO_TYPES_TABLE = "aibs_metamodel_celltypes_v661"
# Tables that play no role in the notebook, shaped like the real service's (`mwh ingest --tables`).
COREGISTRATION_TABLE = "coregistration_manual_v4"  # a reference table on the nucleus table
SYNAPSE_TARGETS_TABLE = "synapse_target_predictions_ssa"  # a reference table on the synapse table
CELL_NOTES_TABLE = "cell_notes_v1"  # a bound spatial point and free text; gains a column at NOTES_CHANGE
EMPTY_TABLE = "empty_annotations_v0"  # a table with no rows
MYSTERY_TABLE = "mystery_table_v1"  # a column type the warehouse does not know (an array)
EXTRA_TABLES = (COREGISTRATION_TABLE, SYNAPSE_TARGETS_TABLE, CELL_NOTES_TABLE, EMPTY_TABLE, MYSTERY_TABLE)
NOTES_CHANGE = 1300  # from this version cell_notes_v1 has schema bound_tag_confidence (one more column)

# (layer upper depth in um, excitatory types with weights)
LAYERS = [
    (100.0, {"23P": 1.0}),
    (370.0, {"23P": 1.0}),
    (500.0, {"4P": 1.0}),
    (720.0, {"5P-IT": 0.6, "5P-ET": 0.25, "5P-NP": 0.15}),
    (1100.0, {"6P-IT": 0.55, "6P-CT": 0.45}),
]
INHIBITORY = {"BC": 0.45, "MC": 0.3, "BPC": 0.15, "NGC": 0.1}
NONNEURONAL = {"astrocyte": 0.35, "oligo": 0.3, "microglia": 0.15, "OPC": 0.12, "pericyte": 0.08}
# The manual table has its own vocabulary in places: 5P-ET is called 5P-PT there.
MANUAL_NAME = {"5P-ET": "5P-PT"}
STRATEGIES = {
    "axon_partially_extended": 979,
    "axon_fully_extended": 233,
    "axon_column_truncated": 144,
    "axon_interareal": 80,
}
# Connection probability scale by (pre class, post class) for nearby cells.
CLASS_P = {("E", "E"): 0.08, ("E", "I"): 0.25, ("I", "E"): 0.35, ("I", "I"): 0.3}
DEMO_VERSIONS = (
    (943, datetime(2024, 1, 22, 10, 10, 1, 466000), True),
    (1078, datetime(2024, 6, 5, 10, 10, 1, 525000), False),
    (1181, datetime(2024, 10, 3, 10, 10, 1, 172000), False),
    (1300, datetime(2025, 2, 11, 10, 10, 1, 310000), False),
)
POSITION_AXES = ("x", "y", "z")
# The notebook's example neuron: at minnie65_public v1181, synapse_query(pre_ids=root) returns
# 1,498 output synapses onto 1,035 partners, and the cell is not proofread. The demo has a cell
# shaped like it under the same root id, so the README's examples run verbatim on the demo.
EXAMPLE_ROOT = 864691135808473885
EXAMPLE_VERSION = 1181
EXAMPLE_OUTPUTS, EXAMPLE_PARTNERS = 1_498, 1_035


def _pick(rng: np.random.Generator, choices: dict[str, float], n: int) -> np.ndarray:
    names = np.array(list(choices))
    weights = np.array(list(choices.values()), dtype=float)
    return names[rng.choice(len(names), size=n, p=weights / weights.sum())]


def _utc(ts: np.ndarray) -> pa.Array:
    return pa.array(ts.astype("datetime64[us]"), pa.timestamp("us", tz="UTC"))


class SyntheticDatastack:
    """A deterministic datastack: the same (seed, scale) always gives the same rows.

    The world (cells, nuclei, synapses) is drawn once; each version then assigns root ids, the
    proofread set and which cells were edited since the previous version.
    """

    def __init__(self, name: str = "demo", seed: int = 1181, scale: float = 1.0) -> None:
        if scale <= 0:
            raise ValueError("scale must be positive")
        self.name = name
        self.seed = seed
        self.scale = scale
        now = datetime(2026, 11, 1)
        self.versions: list[VersionInfo] = [
            VersionInfo(v, ts, now + timedelta(days=365 * 5) if not exp else ts + timedelta(days=30), exp)
            for v, ts, exp in DEMO_VERSIONS
        ]
        self._draw_world()

    # ----------------------------------------------------------------------------------- world
    def _draw_world(self) -> None:
        rng = np.random.default_rng(self.seed)
        s = self.scale
        n_nuc = int(94_000 * s)
        n_frag = int(60_000 * s)  # segments without a nucleus: axon and dendrite fragments
        n_cells = n_nuc + n_frag
        self.n_nuc = n_nuc
        self.n_cells = n_cells

        # Positions in voxels. x and z span the volume; y is depth below the pia.
        self.pos = np.empty((n_cells, 3), dtype=np.int64)
        self.pos[:, 0] = rng.integers(80_000, 400_000, n_cells)
        self.pos[:, 1] = rng.integers(PIA_Y_VOXELS + 2_000, PIA_Y_VOXELS + 270_000, n_cells)
        self.pos[:, 2] = rng.integers(15_000, 27_000, n_cells)
        depth_um = (self.pos[:n_nuc, 1] - PIA_Y_VOXELS) * VOXEL_NM[1] / 1000.0

        # Cell classes and types for cells with a nucleus.
        klass = _pick(rng, {"E": 0.55, "I": 0.1, "N": 0.35}, n_nuc)
        ctype = np.empty(n_nuc, dtype=object)
        layer_idx = np.searchsorted([u for u, _ in LAYERS], depth_um)
        layer_idx = np.minimum(layer_idx, len(LAYERS) - 1)
        for li, (_, types) in enumerate(LAYERS):
            m = (klass == "E") & (layer_idx == li)
            ctype[m] = _pick(rng, types, int(m.sum()))
        ctype[(klass == "E") & (depth_um < 100)] = "23P"
        ctype[klass == "I"] = _pick(rng, INHIBITORY, int((klass == "I").sum()))
        ctype[klass == "N"] = _pick(rng, NONNEURONAL, int((klass == "N").sum()))
        self.klass, self.ctype = klass, ctype.astype(str)

        # Nucleus ids are sparse and stable; annotation ids are dense.
        self.nucleus_id = np.sort(1 + rng.choice(int(800_000 * s), n_nuc, replace=False))
        self.nucleus_volume = np.round(rng.lognormal(5.6, 0.35, n_nuc), 4)
        self.nucleus_sv = rng.integers(70_000_000_000_000_000, 120_000_000_000_000_000, n_nuc)
        self.cell_created = np.datetime64("2020-09-28T22:40:42") + rng.integers(0, 86_400, n_nuc).astype(
            "timedelta64[s]"
        )
        # Unsegmented nuclei (root id 0) and nuclei merged into one segment (two nuclei, one root).
        self.unsegmented = rng.random(n_nuc) < 0.02
        self.merged_into = np.full(n_nuc, -1)
        neuron_idx = np.flatnonzero((klass != "N") & ~self.unsegmented)
        pairs = rng.choice(neuron_idx, size=(int(300 * s), 2), replace=False)
        self.merged_into[pairs[:, 1]] = pairs[:, 0]

        # The proofread population: neurons near the central column, a fixed order so that each
        # version proofreads a prefix of it (the set grows over time).
        centre = np.array([240_000, 21_000])
        lateral_um = np.hypot(
            (self.pos[:n_nuc, 0] - centre[0]) * VOXEL_NM[0] / 1000, (self.pos[:n_nuc, 2] - centre[1]) * 0.04
        )
        eligible = np.flatnonzero((klass != "N") & ~self.unsegmented & (self.merged_into < 0))
        w = np.exp(-lateral_um[eligible] / 120.0) * np.where(klass[eligible] == "I", 1.4, 1.0)
        n_pool = int(round(1_600 * s))
        self.pool = rng.choice(eligible, size=n_pool, replace=False, p=w / w.sum())
        self.proofread_count = {
            943: int(1_180 * s),
            1078: int(1_300 * s),
            1181: int(1_436 * s),
            1300: n_pool - 40,
        }
        strategies = np.repeat(list(STRATEGIES), list(STRATEGIES.values()))
        self.pool_strategy = np.resize(rng.permutation(strategies), n_pool)
        self.dendrite_only = rng.choice(np.setdiff1d(eligible, self.pool), int(420 * s), replace=False)

        # Root ids: one per cell at first; each version re-roots edited cells.
        first_roots = ROOT_BASE + 100_000_000 + rng.choice(800_000_000, n_cells, replace=False)
        self.roots = {}
        current = first_roots.copy()
        fresh = iter(ROOT_BASE + 900_000_000 + rng.permutation(int(5 * n_cells * 0.08) + 1000))
        for i, vi in enumerate(self.versions):
            if i:
                edited = rng.random(n_cells) < 0.03
                edited[self.pool] |= rng.random(len(self.pool)) < 0.08
                current = current.copy()
                current[edited] = np.fromiter((next(fresh) for _ in range(int(edited.sum()))), np.int64)
            roots = current.copy()
            roots[:n_nuc][self.unsegmented] = 0
            has_merge = self.merged_into >= 0
            roots[:n_nuc][has_merge] = roots[self.merged_into[has_merge]]
            self.roots[vi.version] = roots

        self._draw_synapses(rng)
        self._draw_cell_type_tables(rng)
        self._add_example_neuron()

    def _connect_probability(self, pre: np.ndarray, post: np.ndarray) -> np.ndarray:
        kp, kq = self.klass[pre][:, None], self.klass[post][None, :]
        p = np.zeros((len(pre), len(post)))
        for (a, b), val in CLASS_P.items():
            p[(kp == a) & (kq == b)] = val
        d = np.hypot(
            (self.pos[pre, 0][:, None] - self.pos[post, 0][None, :]) * VOXEL_NM[0] / 1000,
            (self.pos[pre, 1][:, None] - self.pos[post, 1][None, :]) * VOXEL_NM[1] / 1000,
        )
        same_type = self.ctype[pre][:, None] == self.ctype[post][None, :]
        return p * np.exp(-((d / 180.0) ** 2)) * np.where(same_type, 1.6, 1.0)

    def _draw_synapses(self, rng: np.random.Generator) -> None:
        pool = self.pool
        pre_parts, post_parts = [], []
        # Among proofread cells: type- and distance-dependent, a few synapses per connection.
        gain = 1.07 / self.scale
        for start in range(0, len(pool), 400):
            pre = pool[start : start + 400]
            p = np.minimum(self._connect_probability(pre, pool) * gain, 0.95)
            hit = rng.random(p.shape) < p
            hit[np.arange(len(pre)), np.arange(start, start + len(pre))] = False
            i, j = np.nonzero(hit)
            n_syn = 1 + rng.geometric(0.42, len(i)) - 1 + (self.klass[pre[i]] == "I")
            pre_parts.append(np.repeat(pre[i], n_syn))
            post_parts.append(np.repeat(pool[j], n_syn))
        # A few autapses, which the views must drop.
        aut = rng.choice(pool, int(60 * self.scale), replace=True)
        pre_parts.append(aut)
        post_parts.append(aut)
        # Outputs to and inputs from cells that are not proofread (neurons and fragments).
        others = np.setdiff1d(np.arange(self.n_cells), pool)
        n_out, n_in = int(170 * len(pool)), int(190 * len(pool))
        pre_parts += [rng.choice(pool, n_out), rng.choice(others, n_in)]
        post_parts += [rng.choice(others, n_out), rng.choice(pool, n_in)]
        # Background synapses between cells nobody proofread.
        n_bg = int(80_000 * self.scale)
        pre_parts.append(rng.choice(others, n_bg))
        post_parts.append(rng.choice(others, n_bg))
        pre_cell = np.concatenate(pre_parts)
        post_cell = np.concatenate(post_parts)
        n = len(pre_cell)
        order = rng.permutation(n)
        self.syn_pre, self.syn_post = pre_cell[order], post_cell[order]
        self.syn_id = np.sort(rng.choice(9 * n, n, replace=False)) + 100_000_000
        # Some synapses land on unsegmented pieces: root id 0 at every version.
        self.syn_zero_post = rng.random(n) < 0.004
        self.syn_size = np.maximum(40, rng.lognormal(6.2, 0.9, n)).astype(np.int64)
        jitter = rng.normal(0, 1, (n, 3)) * np.array([6_000, 6_000, 300])
        ctr = self.pos[self.syn_post] + jitter.astype(np.int64)
        self.syn_ctr = ctr
        self.syn_pre_pos = ctr + rng.integers(-40, 40, (n, 3))
        self.syn_post_pos = ctr + rng.integers(-40, 40, (n, 3))
        self.syn_pre_sv = rng.integers(70_000_000_000_000_000, 120_000_000_000_000_000, n)
        self.syn_post_sv = rng.integers(70_000_000_000_000_000, 120_000_000_000_000_000, n)
        self.syn_created = np.datetime64("2020-11-04T06:48:07") + rng.integers(0, 3_600, n).astype(
            "timedelta64[s]"
        )

    def _add_example_neuron(self) -> None:
        """Give one unproofread excitatory cell the notebook example's root id at v1181 and exactly
        its outputs (1,498 synapses onto 1,035 partners). It draws from a generator of its own, after
        everything else, so the rest of the datastack is the same with or without it."""
        if EXAMPLE_VERSION not in self.roots:
            return
        rng = np.random.default_rng([self.seed, EXAMPLE_OUTPUTS])
        n_nuc = self.n_nuc
        merge_target = np.zeros(self.n_cells, bool)
        merge_target[self.merged_into[self.merged_into >= 0]] = True
        single = np.ones(self.n_cells, bool)  # a root id of its own: no merge either way, segmented
        single[:n_nuc] = ~self.unsegmented & (self.merged_into < 0)
        single &= ~merge_target
        busy = np.zeros(self.n_cells, bool)
        busy[self.pool] = True
        busy[self.dendrite_only] = True  # in the proofreading table, with status_axon 'f'
        outputs = np.bincount(self.syn_pre, minlength=self.n_cells)
        candidates = np.flatnonzero(
            single[:n_nuc] & (self.klass == "E") & ~busy[:n_nuc] & (outputs[:n_nuc] == 0)
        )
        cell = int(rng.choice(candidates))
        old = self.roots[EXAMPLE_VERSION][cell]
        for v, roots in self.roots.items():
            roots[roots == EXAMPLE_ROOT] = ROOT_BASE + 990_000_000 + v  # never two cells on the example root
            if v >= EXAMPLE_VERSION and roots[cell] == old:  # the same, unedited cell at later versions
                roots[cell] = EXAMPLE_ROOT
        others = np.flatnonzero(single)
        partners = rng.choice(others[others != cell], EXAMPLE_PARTNERS, replace=False)
        extra = rng.multinomial(
            EXAMPLE_OUTPUTS - EXAMPLE_PARTNERS, np.full(EXAMPLE_PARTNERS, 1 / EXAMPLE_PARTNERS)
        )
        post = np.repeat(partners, 1 + extra)
        n = len(post)
        start = int(self.syn_id.max()) + 1
        jitter = (rng.normal(0, 1, (n, 3)) * np.array([6_000, 6_000, 300])).astype(np.int64)
        ctr = self.pos[post] + jitter
        self.syn_pre = np.concatenate([self.syn_pre, np.full(n, cell)])
        self.syn_post = np.concatenate([self.syn_post, post])
        self.syn_id = np.concatenate([self.syn_id, start + np.sort(rng.choice(9 * n, n, replace=False))])
        self.syn_zero_post = np.concatenate([self.syn_zero_post, np.zeros(n, bool)])
        self.syn_size = np.concatenate(
            [self.syn_size, np.maximum(40, rng.lognormal(6.2, 0.9, n)).astype(np.int64)]
        )
        self.syn_ctr = np.concatenate([self.syn_ctr, ctr])
        self.syn_pre_pos = np.concatenate([self.syn_pre_pos, ctr + rng.integers(-40, 40, (n, 3))])
        self.syn_post_pos = np.concatenate([self.syn_post_pos, ctr + rng.integers(-40, 40, (n, 3))])
        sv = (70_000_000_000_000_000, 120_000_000_000_000_000)
        self.syn_pre_sv = np.concatenate([self.syn_pre_sv, rng.integers(*sv, n)])
        self.syn_post_sv = np.concatenate([self.syn_post_sv, rng.integers(*sv, n)])
        self.syn_created = np.concatenate(
            [
                self.syn_created,
                np.datetime64("2020-11-04T06:48:07") + rng.integers(0, 3_600, n).astype("timedelta64[s]"),
            ]
        )
        self.example_cell = cell

    def _draw_cell_type_tables(self, rng: np.random.Generator) -> None:
        n_nuc = self.n_nuc
        # Automatic types: almost every nucleus, a few missing.
        auto = np.flatnonzero(rng.random(n_nuc) < 0.995)
        # Manual types: the column's neurons, most of the proofread pool plus some others;
        # some cells here have no automatic type.
        column = np.concatenate(
            [
                self.pool[: int(0.8 * len(self.pool))],
                rng.choice(np.flatnonzero(self.klass != "N"), int(420 * self.scale), replace=False),
            ]
        )
        column = np.unique(column)
        self.manual_rows = column
        self.manual_type = np.array([MANUAL_NAME.get(t, t) for t in self.ctype[column]], dtype="<U16")
        unsure = rng.random(len(column)) < 0.03
        self.manual_type[unsure] = "Unsure"
        self.auto_rows = np.setdiff1d(auto, column[:40])  # some manually typed cells lack an auto type
        # and a few proofread cells have no type at all: only the nucleus table knows their nucleus
        typed = set(column)
        early = self.pool[int(0.8 * len(self.pool)) : self.proofread_count[1078]]  # proofread from 1078 on
        untyped = [c for c in early if c not in typed][:12]
        self.auto_rows = np.setdiff1d(self.auto_rows, untyped)

    # -------------------------------------------------------------------------------- tables
    def version_info(self, version: int) -> VersionInfo:
        for vi in self.versions:
            if vi.version == version:
                return vi
        raise KeyError(version)

    def table_names(self) -> list[str]:
        return [
            SYNAPSE_TABLE,
            NUCLEUS_TABLE,
            PROOFREADING_TABLE,
            MANUAL_TYPES_TABLE,
            AUTO_TYPES_TABLE,
            *EXTRA_TABLES,
        ]

    def table_metadata(self, table: str, version: int | None = None) -> dict:
        """Metadata as CAVE's table metadata endpoint gives it (at `version`; default the newest)."""
        version = version if version is not None else max(v.version for v in self.versions)
        schema = {
            SYNAPSE_TABLE: "synapse",
            NUCLEUS_TABLE: "nucleus_detection",
            PROOFREADING_TABLE: "proofreading_boolstatus_user",
            MANUAL_TYPES_TABLE: "cell_type_local",
            AUTO_TYPES_TABLE: "cell_type_local",
            COREGISTRATION_TABLE: "coregistration_manual_v4",
            SYNAPSE_TARGETS_TABLE: "reference_tag",
            CELL_NOTES_TABLE: "bound_tag_confidence" if version >= NOTES_CHANGE else "bound_tag",
            EMPTY_TABLE: "bound_tag",
            MYSTERY_TABLE: "mystery_schema",
        }[table]
        ref = {
            MANUAL_TYPES_TABLE: NUCLEUS_TABLE,
            AUTO_TYPES_TABLE: NUCLEUS_TABLE,
            COREGISTRATION_TABLE: NUCLEUS_TABLE,
            SYNAPSE_TARGETS_TABLE: SYNAPSE_TABLE,
        }.get(table)
        return {
            "table_name": table,
            "annotation_table": table,
            "schema": schema,
            "schema_type": schema,
            "reference_table": ref,
            "voxel_resolution_x": VOXEL_NM[0],
            "voxel_resolution_y": VOXEL_NM[1],
            "voxel_resolution_z": VOXEL_NM[2],
            "description": EXTRA_DESCRIPTIONS.get(
                table, f"Synthetic {table} of the {self.name} datastack (seed {self.seed})."
            ),
            "created": "2021-01-01T00:00:00.000000",
            "valid": True,
            "user_id": "0",
            "notice_text": None,
        }

    @functools.lru_cache(maxsize=64)  # noqa: B019 - the datastack lives as long as its caches
    def base_table(self, table: str, version: int) -> pa.Table:
        """The table as stored at a version, before any reference join (what a server holds)."""
        roots = self.roots[version]
        if table in EXTRA_TABLES:
            return self._extra_table(table, version)
        if table == SYNAPSE_TABLE:
            return self._synapses(roots)
        if table == NUCLEUS_TABLE:
            idx = np.arange(self.n_nuc)
            return pa.table(
                {
                    "id": self.nucleus_id,
                    "created": _utc(self.cell_created),
                    "superceded_id": pa.nulls(self.n_nuc, pa.int64()),
                    "valid": np.ones(self.n_nuc, bool),
                    "volume": self.nucleus_volume,
                    "pt_supervoxel_id": np.where(self.unsegmented, 0, self.nucleus_sv),
                    "pt_root_id": roots[idx],
                    **_split("pt_position", self.pos[idx]),
                }
            )
        if table == PROOFREADING_TABLE:
            return self._proofreading(version, roots)
        if table in (MANUAL_TYPES_TABLE, AUTO_TYPES_TABLE):
            manual = table == MANUAL_TYPES_TABLE
            rows = self.manual_rows if manual else self.auto_rows
            types = self.manual_type if manual else self.ctype[rows]
            klass = self.klass[rows]
            if manual:
                system = np.select(
                    [klass == "E", klass == "I"],
                    ["aibs_coarse_excitatory", "aibs_coarse_inhibitory"],
                    "aibs_coarse_nonneuronal",
                )
            else:
                system = np.select(
                    [klass == "E", klass == "I"], ["excitatory_neuron", "inhibitory_neuron"], "nonneuron"
                )
            n = len(rows)
            return pa.table(
                {
                    "id": np.arange(1, n + 1, dtype=np.int64),
                    "created": _utc(
                        np.full(
                            n,
                            np.datetime64("2023-03-15T19:01:26")
                            if not manual
                            else np.datetime64("2022-08-30T20:53:02"),
                        )
                    ),
                    "valid": np.ones(n, bool),
                    "target_id": self.nucleus_id[rows],
                    "classification_system": system.astype(str),
                    "cell_type": np.asarray(types, dtype=str),
                }
            )
        raise KeyError(table)

    @functools.cached_property
    def _extra_world(self) -> dict[str, np.ndarray]:
        """Who the tables beyond the notebook's annotate. Drawn from a generator of their own, so the
        five tables of the notebook are the same with or without them."""
        rng = np.random.default_rng([self.seed, 4_2026])
        pool_nuclei = self.pool[: int(0.6 * len(self.pool))]  # most are proofread: they join to connectivity
        others = rng.choice(self.n_nuc, max(1, int(0.01 * self.n_nuc)), replace=False)
        coreg = np.unique(np.concatenate([pool_nuclei, others]))
        n = len(coreg)
        n_syn = min(len(self.syn_id), max(10, int(20_000 * self.scale)))
        notes = rng.choice(self.pool, max(5, int(200 * self.scale)), replace=False)
        texts = np.array(
            [
                "soma, clean",
                'said "merge?" twice',
                "line one\nline two",
                "naïve µm café, 日本語",
                "",
                "trailing space ",
                "semi;colon,comma\ttab",
            ],
            dtype=object,
        )
        n_notes = len(notes)
        n_myst = max(5, int(150 * self.scale))
        return {
            "coreg_rows": coreg,
            "coreg_session": rng.integers(4, 10, n),
            "coreg_scan": rng.integers(1, 8, n),
            "coreg_field": rng.integers(1, 7, n),
            "coreg_unit": rng.integers(1, 10_000, n),
            "coreg_residual": np.round(rng.gamma(2.0, 2.5, n), 3),
            "coreg_score": np.round(rng.uniform(0, 30, n), 3),
            "syn_rows": np.sort(rng.choice(len(self.syn_id), n_syn, replace=False)),
            "syn_tag": np.array(["spine", "shaft", "soma"])[rng.choice(3, n_syn, p=[0.6, 0.3, 0.1])],
            "notes_cells": notes,
            "notes_text": texts[rng.integers(0, len(texts), n_notes)],
            "notes_null": rng.random(n_notes) < 0.1,
            "notes_confidence": np.round(rng.uniform(0, 1, n_notes), 3),
            "myst_embedding": np.round(rng.normal(0, 1, (n_myst, 4)), 5),
            "myst_label": np.array(["a", "b", "c"])[rng.integers(0, 3, n_myst)],
        }

    def _extra_table(self, table: str, version: int) -> pa.Table:
        w = self._extra_world
        roots = self.roots[version]
        if table == COREGISTRATION_TABLE:
            rows = w["coreg_rows"]
            n = len(rows)
            return pa.table(
                {
                    "id": np.arange(1, n + 1, dtype=np.int64),
                    "created": _utc(np.full(n, np.datetime64("2023-09-12T17:02:41"))),
                    "valid": np.ones(n, bool),
                    "target_id": self.nucleus_id[rows],
                    "session": w["coreg_session"],
                    "scan_idx": w["coreg_scan"],
                    "field": w["coreg_field"],
                    "unit_id": w["coreg_unit"],
                    "residual": w["coreg_residual"],
                    "score": w["coreg_score"],
                }
            )
        if table == SYNAPSE_TARGETS_TABLE:
            rows = w["syn_rows"]
            n = len(rows)
            return pa.table(
                {
                    "id": np.arange(1, n + 1, dtype=np.int64),
                    "created": _utc(np.full(n, np.datetime64("2024-02-01T08:00:00"))),
                    "valid": np.ones(n, bool),
                    "target_id": self.syn_id[rows],
                    "tag": w["syn_tag"].astype(str),
                }
            )
        if table in (CELL_NOTES_TABLE, EMPTY_TABLE):
            cells = w["notes_cells"] if table == CELL_NOTES_TABLE else w["notes_cells"][:0]
            n = len(cells)
            text = pa.array(
                [
                    None if null else str(t)
                    for t, null in zip(w["notes_text"][:n], w["notes_null"][:n], strict=True)
                ],
                pa.string(),
            )
            cols = {
                "id": np.arange(1, n + 1, dtype=np.int64),
                "created": _utc(np.datetime64("2024-03-01T12:00:00") + np.arange(n).astype("timedelta64[m]")),
                "superceded_id": pa.nulls(n, pa.int64()),
                "valid": np.ones(n, bool),
                "tag": text,
                "pt_supervoxel_id": self.nucleus_sv[cells].astype(np.int64),
                "pt_root_id": roots[cells].astype(np.int64),
                **_split("pt_position", self.pos[cells].reshape(n, 3)),
            }
            if table == CELL_NOTES_TABLE and version >= NOTES_CHANGE:
                cols["confidence"] = w["notes_confidence"][:n]
            return pa.table(cols)
        if table == MYSTERY_TABLE:
            emb = w["myst_embedding"]
            n = len(emb)
            return pa.table(
                {
                    "id": np.arange(1, n + 1, dtype=np.int64),
                    "created": _utc(np.full(n, np.datetime64("2024-05-05T05:05:05"))),
                    "superceded_id": pa.nulls(n, pa.int64()),
                    "valid": np.ones(n, bool),
                    "label": w["myst_label"].astype(str),
                    "embedding": pa.array([list(r) for r in emb], pa.list_(pa.float64())),
                }
            )
        raise KeyError(table)

    def _synapses(self, roots: np.ndarray) -> pa.Table:
        n = len(self.syn_id)
        post_root = np.where(self.syn_zero_post, 0, roots[self.syn_post])
        return pa.table(
            {
                "id": self.syn_id,
                "created": _utc(self.syn_created),
                "superceded_id": pa.nulls(n, pa.int64()),
                "valid": np.ones(n, bool),
                "pre_pt_supervoxel_id": self.syn_pre_sv,
                "pre_pt_root_id": roots[self.syn_pre],
                "post_pt_supervoxel_id": np.where(self.syn_zero_post, 0, self.syn_post_sv),
                "post_pt_root_id": post_root,
                "size": self.syn_size,
                **_split("pre_pt_position", self.syn_pre_pos),
                **_split("post_pt_position", self.syn_post_pos),
                **_split("ctr_pt_position", self.syn_ctr),
            }
        )

    def _proofreading(self, version: int, roots: np.ndarray) -> pa.Table:
        k = self.proofread_count[version]
        axon = self.pool[:k]
        dend = self.dendrite_only[: int(len(self.dendrite_only) * k / len(self.pool))]
        cells = np.concatenate([axon, dend])
        n = len(cells)
        is_axon = np.arange(n) < len(axon)
        strategy_axon = np.where(
            is_axon, np.concatenate([self.pool_strategy[:k], np.full(len(dend), "")]), "none"
        )
        # Annotation ids follow proofreading order, so they stay stable as the table grows.
        ids = np.concatenate([np.arange(1, k + 1), 5_000_000 + np.arange(1, len(dend) + 1)])
        return pa.table(
            {
                "id": ids.astype(np.int64),
                "created": _utc(
                    np.datetime64("2023-05-01T00:00:00") + (ids % 100_000).astype("timedelta64[h]")
                ),
                "valid": np.ones(n, bool),
                "pt_supervoxel_id": self.nucleus_sv[cells],
                "pt_root_id": roots[cells],
                "valid_id": roots[cells],
                "status_dendrite": np.full(n, "t"),
                "status_axon": np.where(is_axon, "t", "f"),
                "strategy_dendrite": np.where(
                    is_axon & (ids % 3 == 0), "dendrite_clean", "dendrite_extended"
                ),
                "strategy_axon": strategy_axon.astype(str),
                **_split("pt_position", self.pos[cells]),
            }
        )


EXTRA_DESCRIPTIONS = {
    COREGISTRATION_TABLE: "Manual coregistration of two-photon functional units (session, scan_idx, field, "
    "unit_id) to nuclei, with the residual (um) and separation score of each match. Synthetic.",
    SYNAPSE_TARGETS_TABLE: "Predicted postsynaptic target structure (spine, shaft, soma) of synapses. Synthetic.",
    CELL_NOTES_TABLE: "Free-text notes on cells, one point each. Synthetic.",
    EMPTY_TABLE: "An annotation table nobody has written to yet. Synthetic.",
    MYSTERY_TABLE: "Rows with a four-number embedding, a column type of a schema the warehouse has no "
    "type for. Synthetic.",
}


@functools.lru_cache(maxsize=8)
def schema_definitions(ds: SyntheticDatastack) -> dict[str, dict]:
    """JSON schemas per annotation schema type, as CAVE's schema service gives them (`types_all`),
    derived from the tables that use them: a point is `$ref` to (Bound)SpatialPoint, an array a JSON
    array of numbers, other columns `type`/`format`. The test server and the demo source serve these."""
    out: dict[str, dict] = {}
    skip = {"id", "created", "valid", "deleted", "superceded_id"}
    for version in sorted((v.version for v in ds.versions), reverse=True):
        for table in ds.table_names():
            schema = ds.table_metadata(table, version)["schema_type"]
            if schema in out:
                continue
            data = ds.base_table(table, version)
            names = data.column_names
            points = [n[: -len("_position_x")] for n in names if n.endswith("_position_x")]
            point_cols = {f"{p}_position_{a}" for p in points for a in POSITION_AXES}
            props: dict[str, dict] = {}
            for n in names:
                if n.endswith("_position_x") and n[: -len("_position_x")] in points:
                    p = n[: -len("_position_x")]
                    bound = f"{p}_root_id" in names and f"{p}_supervoxel_id" in names
                    ref = "#/definitions/BoundSpatialPoint" if bound else "#/definitions/SpatialPoint"
                    props[p] = {"$ref": ref}
                    continue
                if n in skip or n in point_cols:
                    continue
                if any(n in (f"{p}_root_id", f"{p}_supervoxel_id") for p in points):
                    continue
                typ = data.schema.field(n).type
                if pa.types.is_boolean(typ):
                    props[n] = {"type": "boolean"}
                elif pa.types.is_integer(typ):
                    props[n] = {"type": "integer"}
                elif pa.types.is_floating(typ):
                    props[n] = {"type": "number", "format": "float"}
                elif pa.types.is_timestamp(typ):
                    props[n] = {"type": "string", "format": "date-time"}
                elif pa.types.is_list(typ):
                    props[n] = {"type": "array", "items": {"type": "number"}}
                else:
                    props[n] = {"type": "string"}
            point_props = {
                "position": {"type": "array", "items": {"type": "integer"}, "minItems": 3, "maxItems": 3}
            }
            name = "".join(w.capitalize() for w in schema.split("_"))
            out[schema] = {
                "$schema": "http://json-schema.org/draft-07/schema#",
                "$ref": f"#/definitions/{name}",
                "definitions": {
                    name: {"type": "object", "properties": props, "additionalProperties": True},
                    "SpatialPoint": {"type": "object", "properties": point_props},
                    "BoundSpatialPoint": {
                        "type": "object",
                        "properties": {
                            **point_props,
                            "supervoxel_id": {"type": "integer"},
                            "root_id": {"type": "integer"},
                        },
                    },
                },
            }
    return out


def _split(name: str, xyz: np.ndarray) -> dict[str, np.ndarray]:
    return {f"{name}_{a}": np.ascontiguousarray(xyz[:, i]) for i, a in enumerate(POSITION_AXES)}


def reference_join(annotation: pa.Table, reference: pa.Table) -> pa.Table:
    """Join an annotation table to its reference table the way CAVE's query_table returns it.

    Annotation columns come first, unsuffixed; reference columns that collide get `_ref`
    (id_ref, created_ref, valid_ref); then the remaining reference columns. The target's
    superceded_id is not part of the merged answer.
    """
    if "superceded_id" in reference.column_names and "superceded_id" not in annotation.column_names:
        reference = reference.drop_columns(["superceded_id"])
    ref = reference.rename_columns(
        [c + "_ref" if c in annotation.column_names else c for c in reference.column_names]
    )
    joined = annotation.join(ref, keys="target_id", right_keys="id_ref", join_type="inner")
    joined = joined.append_column("id_ref", joined.column("target_id"))
    order = annotation.column_names + [c for c in ref.column_names if c not in annotation.column_names]
    return joined.select(order).sort_by("id")


def merged_table(ds: SyntheticDatastack, table: str, version: int) -> pa.Table:
    """The table as the notebook sees it from query_table: reference tables come joined."""
    base = ds.base_table(table, version)
    ref = ds.table_metadata(table, version)["reference_table"]
    if ref:
        return reference_join(base, ds.base_table(ref, version))
    return base
