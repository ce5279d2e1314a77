"""`mwh demo`: the whole job on the embedded datastack, from nothing to reports, offline.

The demo file is rebuilt from scratch each time (written beside the target and renamed over it),
so a demo never mixes seeds or scales, and it refuses to overwrite a warehouse of real data.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from .api import open as open_warehouse
from .api import open_for_datastack
from .config import DEMO
from .connection import connect
from .errors import WarehouseError
from .schema import file_datastack


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
    db: Path, out: Path, *, seed: int = 1181, scale: float = 1.0, workers: int = 2, progress=None
) -> DemoResult:
    from ingest.plan import PlanOptions
    from ingest.run import IngestOptions, ingest_version
    from ingest.sources.demo import DemoSource
    from ingest.synthetic import SyntheticDatastack
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
    wh = open_for_datastack(tmp, DEMO)
    rows: dict = {}
    try:
        options = IngestOptions(workers=workers, plan=PlanOptions(synapses="partners"), progress=progress)
        for v in versions:
            for outcome in ingest_version(wh, source, v, options):
                rows[(outcome.table, v)] = outcome.rows
        wh.con.execute("CHECKPOINT")
    finally:
        wh.close()
    Path(str(db) + ".wal").unlink(missing_ok=True)  # an old WAL must never be replayed onto the new file
    os.replace(tmp, db)
    with open_warehouse(db) as ro:
        report_version = versions[-2] if len(versions) > 1 else versions[-1]  # the notebook's 1181
        rendered, index = publish(ro, report_version, out)
    return DemoResult(db, versions, report_version, index, rendered, time.monotonic() - t0, rows)
