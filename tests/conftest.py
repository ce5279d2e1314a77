"""Shared fixtures: the synthetic datastacks and a demo warehouse built once per test run.

Everything is real: a DuckDB file in a temp folder, the ingest job, the views. The run-wide demo
warehouse is the one the README's first command makes: `mwh demo` run once, as a new user would, in
an empty folder (all versions, synapses of every partner of the proofread cells, every report); tests
that change a warehouse build their own or copy this one.

The suite runs under pytest-xdist (see addopts in pyproject.toml). `mwh demo` is the most expensive
step of the run (about a minute), so it is built once for all workers, not once per worker, and it
starts in the background as soon as the first worker knows some collected test needs it; the tests
that need it are ordered last so that the build overlaps the tests that do not.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.plan import PlanOptions
from ingest.run import IngestOptions, ingest_version
from ingest.sources.demo import DemoSource
from ingest.synthetic import SyntheticDatastack

DEMO_VERSIONS = (1078, 1181, 1300)
ROOT = Path(__file__).resolve().parent.parent
# A worker that has talked to a Spark Connect server holds gRPC channels, and gRPC's fork handlers
# then run in every child it forks before exec: its poller finds its epoll fd closed and prints an
# "epoll_wait error: Bad file descriptor" line into the mwh subprocess's stderr (grpc/grpc#43055),
# which broke the one-line-error checks depending on which tests a worker ran first. Read when
# grpc loads, so set before any test imports pyspark.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")


@pytest.fixture(autouse=True, scope="session")
def _isolated_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """caveclient reads and writes under ~; keep the tests away from the real home and any token."""
    home = tmp_path_factory.mktemp("home")
    old = {k: os.environ.get(k) for k in ("HOME", "CAVE_TOKEN", "MWH_DB", "PYTHONPATH")}
    os.environ["HOME"] = str(home)
    # The `mwh` subprocesses run the code under test, as the tests themselves do (pythonpath = ["."]):
    # run from a worktree or a clone, the venv's editable install would otherwise give them another
    # checkout's code whenever their cwd is a temp folder.
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), *filter(None, (old["PYTHONPATH"] or "").split(os.pathsep))]
    )
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


DEMO_TIMEOUT_S = 300


def _run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder all xdist workers of this run share, and no other run: each worker's basetemp is a child
    of the shared parent, and the run's id keeps a reused --basetemp from serving an old demo."""
    base = tmp_path_factory.getbasetemp()
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return base  # serial: basetemp is this session's own
    return base.parent / f"run-{os.environ.get('PYTEST_XDIST_TESTRUNUID', 'default')}"


class SharedDemo:
    """One `mwh demo` per test run, shared by all workers through files in the run's temp folder.

    The first worker to create ``demo.claim`` (O_EXCL, so exactly one wins) starts the build as a
    background child; ``demo.rc`` appears, by an atomic rename, only once the child has ended and its
    output is on disk, so a worker that sees it can read ``demo.stdout``/``demo.stderr`` whole. The
    logs sit beside the demo folder, not in it: the folder stays what a new user's would be.
    """

    def __init__(self, run_dir: Path) -> None:
        self.root = run_dir / "shared-demo"
        self.folder = self.root / "newuser"
        self._proc: subprocess.Popen | None = None
        self._waiter: threading.Thread | None = None

    def start(self) -> None:
        """Start the build unless another worker (or this one) already has; returns at once."""
        if self._proc is not None:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            os.close(os.open(self.root / "demo.claim", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return
        self.folder.mkdir()
        home = self.root / "home"  # what _isolated_home gives every test: no real home, no token
        home.mkdir()
        env = {k: v for k, v in os.environ.items() if k not in ("MWH_DB", "CAVE_TOKEN")}
        env["HOME"] = str(home)
        with (
            open(self.root / "demo.stdout", "w") as out,
            open(self.root / "demo.stderr", "w") as err,
        ):
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "warehouse", "demo"], cwd=self.folder, stdout=out, stderr=err, env=env
            )
        self._waiter = threading.Thread(target=self._wait_and_publish, name="demo-build", daemon=True)
        self._waiter.start()

    def _wait_and_publish(self) -> None:
        assert self._proc is not None
        try:
            rc = self._proc.wait(timeout=DEMO_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
            rc = -9
        tmp = self.root / "demo.rc.tmp"
        tmp.write_text(str(rc))
        tmp.rename(self.root / "demo.rc")

    def result(self) -> subprocess.CompletedProcess:
        """Wait for the build (whoever started it) and return it as subprocess.run would have."""
        self.start()
        rc_file = self.root / "demo.rc"
        deadline = time.monotonic() + DEMO_TIMEOUT_S + 30
        while not rc_file.exists():
            if time.monotonic() > deadline:
                pytest.fail(f"`mwh demo` did not finish within {DEMO_TIMEOUT_S} s ({self.root})")
            time.sleep(0.1)
        rc = int(rc_file.read_text())
        return subprocess.CompletedProcess(
            [sys.executable, "-m", "warehouse", "demo"],
            rc,
            (self.root / "demo.stdout").read_text(),
            (self.root / "demo.stderr").read_text() or ("(killed after the timeout)" if rc == -9 else ""),
        )

    def finish(self) -> None:
        """Before this worker exits: let a build it started end, since other workers may still need it."""
        if self._waiter is not None:
            self._waiter.join(DEMO_TIMEOUT_S + 30)


def _needs_demo(item: pytest.Item) -> bool:
    return "demo_run" in getattr(item, "fixturenames", ())


# Modules that hold the longest tests (SIGKILL/resume, ~40 s idle; the browser journey; the full
# disk, whose tests mostly run before the demo is needed), first within their group, so that no
# worker picks one up last and the run waits on that worker alone.
LONG_FIRST = ("test_kill_resume.py", "test_demo_end_to_end.py", "test_file_safety.py")


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]):
    """Modules whose tests need the demo warehouse go last, so its background build overlaps the rest.

    xdist's default (load) scheduling hands out tests in this order, in consecutive chunks, so the
    workers start on the tests that can run while `mwh demo` builds. Whole modules move, keeping
    their own order (a stable sort on a per-module key), so a module's fixtures are built as before;
    only the order of modules changes, never what a test checks.
    """

    def module_key(item: pytest.Item) -> tuple[bool, bool]:
        module = getattr(item, "module", None)
        return module in demo_modules, item.path.name not in LONG_FIRST

    demo_modules = {item.module for item in items if _needs_demo(item) and getattr(item, "module", None)}
    items.sort(key=module_key)


@pytest.fixture(autouse=True, scope="session")
def _shared_demo(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, _isolated_home: None
) -> Iterator[SharedDemo]:
    """Starts the demo build at the start of the session when any collected test needs it."""
    demo = SharedDemo(_run_dir(tmp_path_factory))
    if any(_needs_demo(item) for item in request.session.items):
        demo.start()
    yield demo
    demo.finish()


@pytest.fixture(scope="session")
def demo_run(_shared_demo: SharedDemo) -> tuple[Path, subprocess.CompletedProcess]:
    """`mwh demo` in an empty folder (its default seed and scale are demo_ds's); the folder and the run."""
    proc = _shared_demo.result()
    assert proc.returncode == 0, proc.stderr
    return _shared_demo.folder, proc


@pytest.fixture(scope="session")
def demo_db(demo_run) -> Path:
    """A read-only-by-convention demo warehouse with all three versions; do not modify it."""
    return demo_run[0] / "warehouse.duckdb"


@pytest.fixture
def demo_wh(demo_db: Path):
    import warehouse

    with warehouse.open(demo_db) as wh:
        yield wh
