"""`mwh demo`: the whole job on the embedded datastack, from nothing to reports, offline.

The demo file is rebuilt from scratch each time (written beside the target and renamed over it),
so a demo never mixes seeds or scales, and it refuses to overwrite a warehouse of real data. It
drives `ingest` and `reports` together, so it lives here in the CLI layer, above both.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import click

from ..api import open as open_warehouse
from ..api import open_for_datastack
from ..config import DEMO
from ..connection import connect
from ..errors import WarehouseError
from ..schema import file_datastack
from .common import DEFAULT_REPORTS, cli, db_option, db_path


@cli.command()
@db_option
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=DEFAULT_REPORTS,
    show_default=True,
    help="Folder for the HTML and PNG reports.",
)
@click.option(
    "--scale",
    type=click.FloatRange(min=0.05, max=100),
    default=1.0,
    show_default=True,
    help="Size of the synthetic datastack; 1 is like minnie65_public v1181 (~1,436 proofread cells).",
)
@click.option("--seed", type=int, default=1181, show_default=True, help="Seed of the synthetic datastack.")
@click.option(
    "--lake",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Keep the demo's raw layer as Delta tables in this folder (it must hold no demo lake yet).",
)
@click.option(
    "--workers", type=click.IntRange(1, 64), default=2, show_default=True, help="Parallel fetch workers."
)
def demo(db: Path | None, out: Path, scale: float, seed: int, lake: Path | None, workers: int) -> None:
    """Build a warehouse of the embedded demo datastack and render every report, offline.

    The demo datastack is synthetic but shaped like minnie65_public: the same tables and columns,
    three materialization versions whose root ids change while nucleus ids stay, and cortex-like
    connectivity. It goes through the same ingest job as real CAVE data.

    \b
    Example:
        mwh demo
        mwh demo --db demo.duckdb --out demo-reports --scale 2
    """
    from ingest.progress import Progress

    db = db_path(db)
    click.echo(f"Building the demo warehouse {db} ...", err=True)
    result = run_demo(db, out, seed=seed, scale=scale, workers=workers, progress=Progress(), lake=lake)
    v = result.report_version
    size = db.stat().st_size / 1e6
    click.echo(
        f"Snapshotted versions {', '.join(map(str, result.versions))} of the demo datastack "
        f"in {result.seconds:.1f} s ({size:.0f} MB).",
        err=True,
    )
    click.echo(f"warehouse: {db.resolve()}")
    click.echo(f"reports:   {result.index.resolve()}  (version {v}, {len(result.reports)} charts)")
    click.echo(
        f'Next: mwh sql --db {db} "SELECT strategy_axon, count(*) FROM proofread_neurons WHERE version = {v} GROUP BY ALL"',
        err=True,
    )


@dataclass
class DemoResult:
    db: Path
    versions: list[int]
    report_version: int
    index: Path
    reports: list
    seconds: float
    rows: dict


def _refuse_real_data(db: Path) -> None:
    if not db.exists():
        return
    con = connect(db, read_only=True)
    try:
        held = file_datastack(con)
    except Exception:  # noqa: BLE001 - any file we cannot read as a warehouse is not ours to replace
        held = None
    finally:
        con.close()
    if held != DEMO:
        raise WarehouseError(
            f"{db} is not a demo warehouse ({held or 'unknown contents'}); choose another --db for the demo"
        )


def run_demo(
    db: Path,
    out: Path,
    *,
    seed: int = 1181,
    scale: float = 1.0,
    workers: int = 2,
    progress=None,
    lake: Path | None = None,
) -> DemoResult:
    """Build the demo file beside `db`, rename it over `db`, then render every report into `out`."""
    # Imported here, not at the top: every `mwh` command imports this module to register `demo`,
    # and altair (through reports) alone took half of `mwh neuron`'s start-up.
    from ingest.plan import PlanOptions
    from ingest.run import IngestOptions, ingest_version
    from ingest.sources.demo import DemoSource
    from ingest.synthetic import EXAMPLE_ROOT, SyntheticDatastack
    from reports.publish import check_out_dir, publish

    t0 = time.monotonic()
    db = Path(db)
    if db.is_dir():
        raise WarehouseError(f"{db} is a directory; give a file path with --db")
    _refuse_real_data(db)
    check_out_dir(out)
    tmp = db.with_name(db.name + ".building")
    for leftover in (tmp, Path(str(tmp) + ".wal")):
        leftover.unlink(missing_ok=True)
    ds = SyntheticDatastack(DEMO, seed=seed, scale=scale)
    source = DemoSource(ds)
    versions = [v.version for v in ds.versions if not v.expired]
    if lake is not None and (Path(lake) / DEMO).exists():
        raise WarehouseError(
            f"{lake} already holds a demo lake ({Path(lake) / DEMO}); give an empty --lake for the demo"
        )
    wh = open_for_datastack(tmp, DEMO, lake=lake)
    rows: dict = {}
    try:
        options = IngestOptions(workers=workers, plan=PlanOptions(synapses="partners"), progress=progress)
        # and the notebook's example neuron, not proofread: every synapse of it where it exists
        example = IngestOptions(
            roles=("synapses",),
            workers=workers,
            plan=PlanOptions(synapses="roots", root_ids=(EXAMPLE_ROOT,)),
            progress=progress,
        )
        for v in versions:
            for outcome in ingest_version(wh, source, v, options):
                rows[(outcome.table, v)] = outcome.rows
            if (ds.roots[v] == EXAMPLE_ROOT).any():
                ingest_version(wh, source, v, example)
        wh.con.execute("CHECKPOINT")
    finally:
        wh.close()
    Path(str(db) + ".wal").unlink(missing_ok=True)  # an old WAL must never be replayed onto the new file
    os.replace(tmp, db)
    with open_warehouse(db) as ro:
        report_version = versions[-2] if len(versions) > 1 else versions[-1]  # the notebook's 1181
        rendered, index = publish(ro, report_version, out)
    return DemoResult(db, versions, report_version, index, rendered, time.monotonic() - t0, rows)
