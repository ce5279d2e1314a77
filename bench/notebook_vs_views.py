"""Benchmark: the seed notebook's pandas steps against the warehouse views, on the same rows.

For the synthetic datastack at the notebook's size (scale 1, like minnie65_public v1181) and at
10x, one version is snapshotted (from dump files, so the synapse table is the whole table), its
raw rows are exported to Parquet for pandas, and then each step runs in its own child process,
once as pandas and once as a view read into a pandas DataFrame, reporting time and peak RSS:

  proofread_neurons     proofreading table, status_axon == 't'
  proofread_synapses    synapses with pre and post proofread, autapses dropped
  connectivity_matrix   binary pre x post pivot of the proofread cells
  cell_types            manual + auto types, duplicated root ids dropped, outer merge, 'unsure'
  proofread_cell_types  proofread cells left-merged with the cell types
  partners              one neuron's outputs grouped by partner, largest first

pandas is timed twice: from Parquet files to result (load + compute) and the compute alone,
with the frames already in memory (the notebook's best case; the notebook itself waits for
CAVE first). The view is timed from query to DataFrame on a read-only open file.

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

from bench.measure import REPO, emit, fmt_mb, machine, python, run_child  # noqa: E402

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
def child_pandas(step: str, data: str, root: str) -> None:
    import pandas as pd

    t0 = time.perf_counter()
    frames = {name: pd.read_parquet(Path(data) / f"{name}.parquet") for name in INPUTS[step]}
    t1 = time.perf_counter()
    fn = globals()[f"pd_{step}"]
    out = fn(frames, int(root)) if step == "partners" else fn(frames)
    t2 = time.perf_counter()
    emit({"load_s": t1 - t0, "compute_s": t2 - t1, "rows": len(out)})


def child_view(step: str, db: str, root: str) -> None:
    import pandas  # noqa: F401 - imported before the clock starts, as in the pandas child

    import warehouse

    t0 = time.perf_counter()
    with warehouse.open(Path(db)) as wh:
        t1 = time.perf_counter()
        sql = VIEW_SQL[step]
        params = {"v": VERSION} if "$v" in sql else {}
        if "$root" in sql:
            params["root"] = int(root)
        df = wh.con.sql(sql, params=params or None).df()
        t2 = time.perf_counter()
    emit({"open_s": t1 - t0, "query_s": t2 - t1, "rows": len(df)})


# ----------------------------------------------------------------------------------------- setup
def build(scale: float, folder: Path) -> tuple[Path, Path, int]:
    """A warehouse of one version from dump files, and the same raw rows as Parquet for pandas."""
    import warehouse
    from ingest.dump import ingest_dump
    from ingest.dump_writer import write_datastack_version
    from ingest.synthetic import SyntheticDatastack
    from warehouse.schema import layouts
    from warehouse.tables import SCHEMAS

    ds = SyntheticDatastack("demo", seed=1181, scale=scale)
    write_datastack_version(ds, VERSION, folder / "dump")
    db = folder / "warehouse.duckdb"
    with warehouse.open_for_datastack(db, "demo") as wh:
        ingest_dump(wh, folder / "dump", VERSION)
        wh.con.execute("CHECKPOINT")
        data = folder / "parquet"
        data.mkdir()
        for role, layout in layouts(wh.config).items():
            cols = ", ".join(f'"{c}"' for c in SCHEMAS[role].names)
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
        for step in STEPS:
            if step == "connectivity_matrix" and scale > 2:
                # A dense n x n matrix of the proofread cells (14,360^2 at 10x): DuckDB's PIVOT passed
                # 14 GB of RSS within two minutes and was stopped; at that size use connectivity_pairs.
                continue
            p = run_child(python(__file__, "child-pandas", step, str(data), str(root)))
            v = run_child(python(__file__, "child-view", step, str(db), str(root)))
            steps[step] = {"pandas": {**p.out, "peak_mb": p.peak_mb}, "view": {**v.out, "peak_mb": v.peak_mb}}
            print(f"[scale {scale}] {step}: {steps[step]}", file=sys.stderr)
        return {"scale": scale, "root": root, "parquet_bytes": sizes, "steps": steps}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def report(results: list[dict], started: str, command: str) -> str:
    lines = [f"Run {started} on {machine()}", f"Command: `{command}`", ""]
    for r in results:
        lines.append(
            f"Scale {r['scale']:g} (synapse table {r['parquet_bytes'].get('synapses', 0) / 1e6:.0f} MB as Parquet):"
        )
        lines.append("")
        lines.append(
            "| step | pandas load+compute | pandas compute only | view (query to DataFrame) | ratio (load+compute / view) "
            "| ratio (compute / view) | peak RSS pandas | peak RSS view | rows pandas / view |"
        )
        lines.append("|---|---|---|---|---|---|---|---|---|")
        for step, s in r["steps"].items():
            p, v = s["pandas"], s["view"]
            total = p["load_s"] + p["compute_s"]
            lines.append(
                f"| {step} | {total * 1000:.0f} ms | {p['compute_s'] * 1000:.0f} ms | {v['query_s'] * 1000:.0f} ms "
                f"| {total / v['query_s']:.1f}x | {p['compute_s'] / v['query_s']:.1f}x | {fmt_mb(p['peak_mb'])} "
                f"| {fmt_mb(v['peak_mb'])} | {p['rows']:,} / {v['rows']:,} |"
            )
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0].startswith("child-"):
        globals()[argv[0].replace("-", "_")](*argv[1:])
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
