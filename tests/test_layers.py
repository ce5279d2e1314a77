"""The layers' arrows run one way: the import-linter contracts in pyproject.toml, run as a test.

A back-edge (the core importing the CLI, ingest or reports) fails the suite, not only a linter
someone may forget to run. The core contract lists its modules by name, so a new core module must
be added there: this test fails when one is missing.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_are_kept() -> None:
    # In a process of its own: import-linter reconfigures logging, which other tests' caplog reads.
    tool = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    proc = subprocess.run(
        [tool, "--config", str(ROOT / "pyproject.toml")], capture_output=True, text=True, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_core_module_is_under_the_core_contract() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    core = next(c for c in config["contracts"] if c["name"].startswith("The core imports"))
    on_disk = {
        f"warehouse.{p.stem}"
        for p in (ROOT / "warehouse").glob("*.py")
        if p.stem not in ("__init__", "__main__")
    }
    assert on_disk - set(core["source_modules"]) == set(), "add new core modules to the contract"
    assert set(core["source_modules"]) - on_disk == set(), "the contract names a module that is gone"


def test_mwh_starts_without_the_heavy_libraries() -> None:
    """Every `mwh` command pays for what `warehouse.cli` imports: altair (the reports) and polars
    (frames) are imported only by the commands that use them, about 0.2-0.3 s each."""
    code = "import sys, warehouse.cli; print(sorted(m for m in ('altair', 'polars', 'ingest', 'reports') if m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert proc.stdout.strip() == "[]"
