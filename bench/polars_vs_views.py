"""Benchmark: the notebook's steps as warehouse views against polars' lazy API on the same rows.

A user who does not want the warehouse would export the tables once and query them with polars:
`scan_parquet` over zstd Parquet in the order the rows came (id order, not clustered by root id).
This takes an existing warehouse file (e.g. bench/notebook_vs_views.py's 10x build, or
bench/partners_layout.py's 100 M-row one), exports each role's rows at the version that way, and
then, alternating A/B in one run, times each step in a fresh child process (cold: the first
query of the process, the OS page cache shared by both):

  polars   scan_parquet(...) ... .collect()
  view     Warehouse.view(step, version) / Warehouse.partners(root, version): a polars frame
  pandas   read_parquet + the notebook's pandas code (--pandas; it loads whole tables)

    python bench/polars_vs_views.py --db W.duckdb --version 1181 --data /work/bench-data/pq10x
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.measure import child_step, emit, machine, python, run_child  # noqa: E402

STEPS = (
    "proofread_neurons",
    "proofread_synapses",
    "cell_types",
    "proofread_cell_types",
    "partners",
    "partners_input",
)
ROLES = ("proofreading", "synapses", "cell_types_manual", "cell_types_auto")


# ----------------------------------------------------------------------------- polars, lazily
def pl_proofread_neurons(d: Path):
    import polars as pl

    return pl.scan_parquet(d / "proofreading.parquet").filter(pl.col("status_axon") == "t")


def pl_proofread_synapses(d: Path):
    import polars as pl

    ids = pl_proofread_neurons(d).select("pt_root_id").collect()["pt_root_id"].implode()
    return pl.scan_parquet(d / "synapses.parquet").filter(
        pl.col("pre_pt_root_id").is_in(ids)
        & pl.col("post_pt_root_id").is_in(ids)
        & (pl.col("pre_pt_root_id") != pl.col("post_pt_root_id"))
    )


def pl_cell_types(d: Path):
    import polars as pl

    cols = ["pt_root_id", "nucleus_id", "classification_system", "cell_type"]

    def one(name: str):
        return (
            pl.scan_parquet(d / f"{name}.parquet")
            .rename({"target_id": "nucleus_id"})
            .select(cols)
            .unique("pt_root_id", keep="none")
        )

    auto, manual = one("cell_types_auto"), one("cell_types_manual")
    return auto.join(manual, on="pt_root_id", how="full", coalesce=True, suffix="_manual").with_columns(
        pl.col("cell_type").fill_null("unsure"), pl.col("cell_type_manual").fill_null("unsure")
    )


def pl_proofread_cell_types(d: Path):
    return pl_proofread_neurons(d).join(pl_cell_types(d), on="pt_root_id", how="left")


def _pl_partners(d: Path, root: int, me: str, other: str):
    """One root's partners by synapse count: the rows where `me` is the root, grouped by `other`."""
    import polars as pl

    return (
        pl.scan_parquet(d / "synapses.parquet")
        .filter(pl.col(me) == root)
        .group_by(other)
        .agg(pl.len().alias("syn_count"), pl.col("size").sum().alias("size_sum"))
        .sort(["syn_count", other], descending=[True, False])
    )


def pl_partners(d: Path, root: int):
    return _pl_partners(d, root, "pre_pt_root_id", "post_pt_root_id")


def pl_partners_input(d: Path, root: int):
    return _pl_partners(d, root, "post_pt_root_id", "pre_pt_root_id")


# ------------------------------------------------------------------------------------ children
def child_polars(step: str, data: str, root: str) -> None:
    import polars  # noqa: F401 - imported before the clock, as in the view child

    d = Path(data)
    t0 = time.perf_counter()
    fn = globals()[f"pl_{step}"]
    frame = (fn(d, int(root)) if step.startswith("partners") else fn(d)).collect()
    emit({"seconds": time.perf_counter() - t0, "rows": frame.height})


def child_view(step: str, db: str, root: str, version: str) -> None:
    """The step as a user of the Python API asks for it: `Warehouse.partners` (which writes the
    checked root id into the SQL) or `Warehouse.view` (the view filtered to the version)."""
    import polars  # noqa: F401

    import warehouse

    with warehouse.open(Path(db)) as wh:
        t0 = time.perf_counter()
        if step.startswith("partners"):
            direction = "input" if step == "partners_input" else "output"
            frame = wh.partners(int(root), int(version), direction)
        else:
            frame = wh.view(step, int(version))
        emit({"seconds": time.perf_counter() - t0, "rows": frame.height})


def child_pandas(step: str, data: str, root: str) -> None:
    import pandas as pd

    from bench import notebook_vs_views as nb

    t0 = time.perf_counter()
    frames = {n: pd.read_parquet(Path(data) / f"{n}.parquet") for n in nb.INPUTS[step]}
    fn = getattr(nb, f"pd_{step}")
    rows = len(fn(frames, int(root)) if step == "partners" else fn(frames))
    emit({"seconds": time.perf_counter() - t0, "rows": rows})


def child_export(db: str, version: str, out: str) -> None:
    import warehouse
    from warehouse.registry import schema_of

    Path(out).mkdir(parents=True, exist_ok=True)
    with warehouse.open(Path(db)) as wh:
        for role in ROLES:
            layout = wh.store.layout(role)
            cols = ", ".join(f'"{c}"' for c in schema_of(role).names)
            wh.con.execute(
                f"COPY (SELECT {cols} FROM {layout.raw} WHERE version = {int(version)} ORDER BY id) "
                f"TO '{Path(out) / (role + '.parquet')}' (FORMAT parquet, COMPRESSION zstd)"
            )
        root = wh.con.execute(
            "SELECT pre_pt_root_id FROM proofread_synapses WHERE version = ? GROUP BY 1 "
            "ORDER BY count(*) DESC, 1 LIMIT 1",
            [int(version)],
        ).fetchall()[0][0]
    emit({"root": root})


# ---------------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if child_step(argv, globals()):
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", required=True)
    ap.add_argument("--version", type=int, required=True)
    ap.add_argument("--data", required=True, help="folder for the Parquet export (outside the repo)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--pandas", action="store_true", help="also time pandas (loads whole tables)")
    ap.add_argument("--steps", nargs="+", default=list(STEPS))
    a = ap.parse_args(argv)
    print(machine(), file=sys.stderr)
    if not (Path(a.data) / "synapses.parquet").exists():
        e = run_child(python(__file__, "child-export", a.db, str(a.version), a.data))
        root = e.out["root"]
        (Path(a.data) / "root.json").write_text(json.dumps(e.out))
    else:
        root = json.loads((Path(a.data) / "root.json").read_text())["root"]
    size = (Path(a.data) / "synapses.parquet").stat().st_size
    res: dict[str, dict[str, list]] = {}
    for _ in range(a.rounds):
        for step in a.steps:
            runs = {
                "polars": python(__file__, "child-polars", step, a.data, str(root)),
                "view": python(__file__, "child-view", step, a.db, str(root), str(a.version)),
            }
            if a.pandas and step != "partners_input":  # the notebook lists outputs only
                runs["pandas"] = python(__file__, "child-pandas", step, a.data, str(root))
            for kind, cmd in runs.items():
                c = run_child(cmd)
                r = res.setdefault(step, {}).setdefault(kind, [])
                r.append((c.out["seconds"], c.peak_mb, c.out["rows"]))
            print(step, {k: v[-1] for k, v in res[step].items()}, file=sys.stderr)
    print(f"load at end {os.getloadavg()[0]:.1f}; synapses.parquet {size / 1e6:,.0f} MB; root {root}")
    kinds = ["polars", "view"] + (["pandas"] if a.pandas else [])
    print("| step | " + " | ".join(f"{k} (median s, peak RSS)" for k in kinds) + " | polars / view | rows |")
    print("|---" * (len(kinds) + 3) + "|")
    for step, r in res.items():
        med = {k: statistics.median(x[0] for x in r[k]) for k in kinds if k in r}
        peak = {k: max(x[1] for x in r[k]) for k in kinds if k in r}
        rows = "/".join(str(r[k][0][2]) for k in kinds if k in r)
        cells = " | ".join(f"{med[k]:.3f} s, {peak[k]:,.0f} MB" if k in r else "not run" for k in kinds)
        print(f"| {step} | {cells} | {med['polars'] / med['view']:.2f}x | {rows} |")
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
