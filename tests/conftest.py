"""Shared fixtures: the synthetic datastacks and a demo warehouse built once per test session.

Everything is real: a DuckDB file in a temp folder, the ingest job, the views. The session-wide
demo warehouse is the one the README's first command makes: `mwh demo` run once, as a new user
would, in an empty folder (all versions, synapses of every partner of the proofread cells, every
report); tests that change a warehouse build their own.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ingest.plan import PlanOptions
from ingest.run import IngestOptions, ingest_version
from ingest.sources.demo import DemoSource
from ingest.synthetic import SyntheticDatastack

DEMO_VERSIONS = (1078, 1181, 1300)


@pytest.fixture(autouse=True, scope="session")
def _isolated_home(tmp_path_factory: pytest.TempPathFactory):
    """caveclient reads and writes under ~; keep the tests away from the real home and any token."""
    home = tmp_path_factory.mktemp("home")
    old = {k: os.environ.get(k) for k in ("HOME", "CAVE_TOKEN", "MWH_DB")}
    os.environ["HOME"] = str(home)
    os.environ.pop("CAVE_TOKEN", None)
    os.environ.pop("MWH_DB", None)
    yield
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="session")
def demo_ds() -> SyntheticDatastack:
    """The default demo datastack (scale 1, like minnie65_public v1181)."""
    return SyntheticDatastack("demo", seed=1181, scale=1.0)


@pytest.fixture(scope="session")
def small_ds() -> SyntheticDatastack:
    """A tenth of the demo: for tests that ingest many times."""
    return SyntheticDatastack("demo", seed=7, scale=0.1)


def build_warehouse(
    path: Path,
    ds: SyntheticDatastack,
    versions=DEMO_VERSIONS,
    *,
    row_cap: int = 500_000,
    synapses: str = "partners",
    workers: int = 2,
    ids_per_chunk: int = 100,
):
    """A demo warehouse file at `path`, built through the real ingest job."""
    import warehouse

    source = DemoSource(ds, row_cap=row_cap)
    with warehouse.open_for_datastack(path, "demo") as wh:
        for v in versions:
            ingest_version(
                wh,
                source,
                v,
                IngestOptions(
                    workers=workers, plan=PlanOptions(synapses=synapses, ids_per_chunk=ids_per_chunk)
                ),
            )
        wh.con.execute("CHECKPOINT")
    return path


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    """`mwh demo` in an empty folder (its default seed and scale are demo_ds's); the folder and the run."""
    folder = tmp_path_factory.mktemp("newuser")
    env = {k: v for k, v in os.environ.items() if k != "MWH_DB"}
    proc = subprocess.run(
        [sys.executable, "-m", "warehouse", "demo"],
        cwd=folder,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return folder, proc


@pytest.fixture(scope="session")
def demo_db(demo_run) -> Path:
    """A read-only-by-convention demo warehouse with all three versions; do not modify it."""
    return demo_run[0] / "warehouse.duckdb"


@pytest.fixture
def demo_wh(demo_db: Path):
    import warehouse

    with warehouse.open(demo_db) as wh:
        yield wh
