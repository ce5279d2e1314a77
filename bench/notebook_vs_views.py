"""Benchmark: the seed notebook's pandas steps against the warehouse views, on the same rows.

For the synthetic datastack at the notebook's size (scale 1, like minnie65_public v1181) and at
10x, one version is snapshotted (from dump files, so the synapse table is the whole table), its
raw rows are exported to Parquet for pandas, and then each step runs in child processes of its
own, once as pandas and once as the view, reporting time and peak RSS:

  proofread_neurons     proofreading table, status_axon == 't'
  proofread_synapses    synapses with pre and post proofread, autapses dropped
  connectivity_matrix   binary pre x post pivot of the proofread cells
  cell_types            manual + auto types, duplicated root ids dropped, outer merge, 'unsure'
  proofread_cell_types  proofread cells left-merged with the cell types
  partners              one neuron's outputs grouped by partner, largest first

and then all six in one process each way ("the whole notebook": pandas loads each input once).
pandas is timed from Parquet files to result (load + compute) and for the compute alone, with the
frames already in memory (the notebook's best case; the notebook itself waits for CAVE first).
The view is timed from query to DataFrame on a read-only open file: to polars (what
Warehouse.view and Warehouse.sql return) and to pandas.

    python bench/notebook_vs_views.py --scales 1 10
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.measure import REPO, child_step, emit, fmt_mb, machine, python, rss_mb, run_child  # noqa: E402

VERSION = 1181
STEPS = (
    "proofread_neurons",
    "proofread_synapses",
    "connectivity_matrix",
    "cell_types",
    "proofread_cell_types",
    "partners",
)
INPUTS = {
    "proofread_neurons": ("proofreading",),
    "proofread_synapses": ("proofreading", "synapses"),
    "connectivity_matrix": ("proofreading", "synapses"),
    "cell_types": ("cell_types_manual", "cell_types_auto"),
    "proofread_cell_types": ("proofreading", "cell_types_manual", "cell_types_auto"),
    "partners": ("synapses",),
}


# ------------------------------------------------------------------------- the notebook in pandas
def pd_proofread_neurons(f):
    pr = f["proofreading"]
    return pr[pr["status_axon"] == "t"]


def pd_proofread_synapses(f):
    ids = pd_proofread_neurons(f)["pt_root_id"]
    syn = f["synapses"]
    syn = syn[syn["pre_pt_root_id"].isin(ids) & syn["post_pt_root_id"].isin(ids)]
    return syn[syn["pre_pt_root_id"] != syn["post_pt_root_id"]]


def pd_connectivity_matrix(f):
    ids = sorted(pd_proofread_neurons(f)["pt_root_id"].unique())
    syn = pd_proofread_synapses(f)
    m = syn.pivot_table(index="pre_pt_root_id", columns="post_pt_root_id", values="id", aggfunc="count")
    return (m.reindex(index=ids, columns=ids).fillna(0) > 0).astype(int)


def pd_cell_types(f):
    manual = f["cell_types_manual"].rename(columns={"target_id": "nucleus_id"})
    auto = f["cell_types_auto"].rename(columns={"target_id": "nucleus_id"})
    cols = ["pt_root_id", "nucleus_id", "classification_system", "cell_type"]
    manual = manual[cols].drop_duplicates("pt_root_id", keep=False)
    auto = auto[cols].drop_duplicates("pt_root_id", keep=False)
    merged = auto.merge(manual, on="pt_root_id", how="outer", suffixes=("_auto", "_manual"))
    merged[["cell_type_auto", "cell_type_manual"]] = merged[["cell_type_auto", "cell_type_manual"]].fillna(
        "unsure"
    )
    return merged


def pd_proofread_cell_types(f):
    return pd_proofread_neurons(f).merge(pd_cell_types(f), on="pt_root_id", how="left")


def pd_partners(f, root):
    syn = f["synapses"]
    out = syn[syn["pre_pt_root_id"] == root]
    return (
        out.groupby("post_pt_root_id")
        .size()
        .rename("syn_count")
        .reset_index()
        .sort_values("syn_count", ascending=False)
    )


VIEW_SQL = {
    "proofread_neurons": "SELECT * FROM proofread_neurons WHERE version = $v",
    "proofread_synapses": "SELECT * FROM proofread_synapses WHERE version = $v",
    "connectivity_matrix": f"FROM connectivity_matrix_{VERSION}()",
    "cell_types": "SELECT * FROM cell_types WHERE version = $v",
    "proofread_cell_types": "SELECT * FROM proofread_cell_types WHERE version = $v",
    "partners": "FROM partners($root, $v)",
}


# ------------------------------------------------------------------------------------- children
def _pandas_steps(steps: tuple[str, ...], data: str, root: str) -> dict:
    import pandas as pd

    t0 = time.perf_counter()
    names = sorted({name for step in steps for name in INPUTS[step]})
    frames = {name: pd.read_parquet(Path(data) / f"{name}.parquet") for name in names}
    t1 = time.perf_counter()
    rows = {}
    for step in steps:
        fn = globals()[f"pd_{step}"]
        rows[step] = len(fn(frames, int(root)) if step == "partners" else fn(frames))
    t2 = time.perf_counter()
    return {"load_s": t1 - t0, "compute_s": t2 - t1, "rows": rows}


def _view_steps(steps: tuple[str, ...], db: str, root: str) -> dict:
    import warehouse

    t0 = time.perf_counter()
    with warehouse.open(Path(db)) as wh:
        t1 = time.perf_counter()
        times: dict[str, float] = {"polars": 0.0, "pandas": 0.0, "warm": 0.0}
        rows = {}
        # polars first: Warehouse.view() and .sql() return polars DataFrames; then the same query
        # read into pandas, for a like-for-like frame with the notebook's; then polars again, warm
        # (the file's blocks already in DuckDB's buffer pool, as in a notebook session's later cells).
        for kind in ("polars", "pandas", "warm"):
            for step in steps:
                sql = VIEW_SQL[step]
                params = {"v": VERSION} if "$v" in sql else {}
                if "$root" in sql:
                    params["root"] = int(root)
                t = time.perf_counter()
                rel = wh.con.sql(sql, params=params or None)
                frame = rel.df() if kind == "pandas" else rel.pl()
                times[kind] += time.perf_counter() - t
                rows[step] = len(frame)
    return {
        "open_s": t1 - t0,
        "polars_s": times["polars"],
        "pandas_s": times["pandas"],
        "warm_s": times["warm"],
        "rows": rows,
    }


def child_pandas(step: str, data: str, root: str) -> None:
    import pandas  # noqa: F401 - imported before the clock starts, as in the view child
    import pyarrow.parquet  # noqa: F401 - what read_parquet loads, before the clock and the memory baseline

    steps = STEPS if step == "notebook" else (step,)
    base = rss_mb()
    emit({**_pandas_steps(steps, data, root), "rss_after_imports_mb": base})


def child_view(step: str, db: str, root: str) -> None:
    import pandas  # noqa: F401 - imported before the clock starts, as in the pandas child
    import polars  # noqa: F401

    import warehouse  # noqa: F401

    steps = STEPS if step == "notebook" else (step,)
    base = rss_mb()
    emit({**_view_steps(steps, db, root), "rss_after_imports_mb": base})


# ----------------------------------------------------------------------------------------- setup
def build(scale: float, folder: Path) -> tuple[Path, Path, int]:
    """A warehouse of one version from dump files, and the same raw rows as Parquet for pandas."""
    import warehouse
    from ingest.dump_ingest import ingest_dump
    from ingest.synthetic import SyntheticDatastack
    from ingest.synthetic_dumps import write_datastack_version
    from warehouse.registry import schema_of

    ds = SyntheticDatastack("demo", seed=1181, scale=scale)
    write_datastack_version(ds, VERSION, folder / "dump")
    db = folder / "warehouse.duckdb"
    with warehouse.open_for_datastack(db, "demo") as wh:
        ingest_dump(wh, folder / "dump", VERSION)
        wh.con.execute("CHECKPOINT")
        data = folder / "parquet"
        data.mkdir()
        for role, layout in wh.store.layouts.items():
            cols = ", ".join(f'"{c}"' for c in schema_of(role).names)
            wh.con.execute(
                f"COPY (SELECT {cols} FROM {layout.raw} WHERE version = {VERSION} ORDER BY id) "
                f"TO '{data / (role + '.parquet')}' (FORMAT parquet)"
            )
        root = wh.con.execute(
            "SELECT pre_pt_root_id FROM proofread_synapses WHERE version = ? GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1",
            [VERSION],
        ).fetchall()[0][0]
    shutil.rmtree(folder / "dump")
    return db, data, root


def child_build(scale: str, folder: str) -> None:
    db, data, root = build(float(scale), Path(folder))
    emit({"db": str(db), "data": str(data), "root": root})


def run_scale(scale: float) -> dict:
    folder = Path(tempfile.mkdtemp(prefix=f"mwh-bench-s{scale}-"))
    try:
        t0 = time.perf_counter()
        b = run_child(python(__file__, "child-build", str(scale), str(folder)))
        db, data, root = Path(b.out["db"]), Path(b.out["data"]), b.out["root"]
        print(f"[scale {scale}] built in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        sizes = {p.stem: p.stat().st_size for p in data.glob("*.parquet")}
        steps = {}
        for step in (*STEPS, "notebook"):
            if step == "connectivity_matrix" and scale > 2:
                # A dense n x n matrix of the proofread cells (14,360^2 at 10x) is not what anyone
                # reads at that size; connectivity_pairs is the long form.
                continue
            if step == "notebook" and scale > 2:
                continue  # the whole notebook includes the matrix
            p = run_child(python(__file__, "child-pandas", step, str(data), str(root)))
            v = run_child(python(__file__, "child-view", step, str(db), str(root)))
            steps[step] = {"pandas": {**p.out, "peak_mb": p.peak_mb}, "view": {**v.out, "peak_mb": v.peak_mb}}
            print(f"[scale {scale}] {step}: {steps[step]}", file=sys.stderr)
        return {"scale": scale, "root": root, "parquet_bytes": sizes, "steps": steps}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds >= 0.0095 else f"{seconds * 1000:.1f} ms"


def report(results: list[dict], started: str, command: str) -> str:
    lines = [f"Run {started} on {machine()}", f"Command: `{command}`", ""]
    for r in results:
        lines.append(
            f"Scale {r['scale']:g} (synapse table {r['parquet_bytes'].get('synapses', 0) / 1e6:.0f} MB as Parquet):"
        )
        lines.append("")
        lines.append(
            "| step | pandas: load + compute | pandas: compute only | view to polars | view to pandas "
            "| view to polars, warm | ratio load+compute / view (polars) | ratio load+compute / view (pandas) "
            "| ratio compute only / view warm | peak RSS pandas / view | above imports: pandas / view "
            "| rows pandas / view |"
        )
        lines.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for step, s in r["steps"].items():
            p, v = s["pandas"], s["view"]
            total = p["load_s"] + p["compute_s"]
            rows_p = sum(p["rows"].values()) if step == "notebook" else p["rows"][step]
            rows_v = sum(v["rows"].values()) if step == "notebook" else v["rows"][step]
            label = "**the whole notebook** (all six, one process)" if step == "notebook" else step
            lines.append(
                f"| {label} | {ms(total)} | {ms(p['compute_s'])} | {ms(v['polars_s'])} | {ms(v['pandas_s'])} "
                f"| {ms(v['warm_s'])} | {total / v['polars_s']:.1f}x | {total / v['pandas_s']:.1f}x "
                f"| {p['compute_s'] / v['warm_s']:.1f}x "
                f"| {fmt_mb(p['peak_mb'])} / {fmt_mb(v['peak_mb'])} "
                f"| {fmt_mb(p['peak_mb'] - p['rss_after_imports_mb'])} / {fmt_mb(v['peak_mb'] - v['rss_after_imports_mb'])} "
                f"| {rows_p:,} / {rows_v:,} |"
            )
        lines.append(f"(opening the file read-only: {ms(r['steps']['proofread_neurons']['view']['open_s'])})")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if child_step(argv, globals()):
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scales", type=float, nargs="+", default=[1.0, 10.0])
    ap.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "notebook_vs_views.json")
    args = ap.parse_args(argv)
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    results = [run_scale(s) for s in args.scales]
    print(report(results, started, "python bench/notebook_vs_views.py " + " ".join(argv)))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"started": started, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
