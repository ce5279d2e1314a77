"""The README's examples run verbatim on the demo warehouse, ids included, so the docs cannot rot.

Every `mwh` line of the README's bash blocks runs in the folder `mwh demo` made (the session
fixture), through bash, exactly as written; every python block runs there too. Left out, because
they need what a test machine cannot have: lines naming the real service's datastack
(`minnie65_public`: a CAVE token and the internet), `mwh demo` itself (the fixture is that run),
lines that are not `mwh` commands (pip, the interactive duckdb shell, caveclient's token set-up),
and lines that write to the lab's folders (`/lab/...`) or read a CAVE export there.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
_BLOCK = re.compile(r"```(bash|python)\n(.*?)```", re.S)


def _blocks(kind: str) -> list[str]:
    """The README's blocks of one language; a python block that needs a Spark server is left out
    (tests/test_lake_store.py runs the same calls against Sail)."""
    found = [body for lang, body in _BLOCK.findall(README.read_text()) if lang == kind]
    return [b for b in found if "pyspark" not in b]


def _mwh_lines() -> list[str]:
    lines = []
    for body in _blocks("bash"):
        for line in body.splitlines():
            text = line.strip()
            if (
                not text.startswith("mwh ")
                or "minnie65_public" in text
                or "/lab/" in text
                or text.split()[:2] == ["mwh", "demo"]
            ):
                continue
            lines.append(text)
    return lines


def test_the_readme_has_examples_to_run() -> None:
    assert len(_mwh_lines()) >= 8 and len(_blocks("python")) >= 1


@pytest.mark.parametrize("line", _mwh_lines())
def test_readme_mwh_line_runs_on_the_demo(line: str, demo_run, tmp_path: Path) -> None:
    folder, _ = demo_run
    env = {k: v for k, v in os.environ.items() if k != "MWH_DB"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    # Outputs the line writes (parquet, csv, reports) go to a copy of the folder's layout, not the
    # shared demo folder: the line runs with the demo file linked into a fresh folder.
    work = tmp_path / "work"
    work.mkdir()
    (work / "warehouse.duckdb").symlink_to(folder / "warehouse.duckdb")
    proc = subprocess.run(
        ["bash", "-c", line], cwd=work, capture_output=True, text=True, env=env, timeout=240
    )
    assert proc.returncode == 0, f"{line}\n{proc.stderr}"
    assert proc.stdout.strip() or proc.stderr.strip(), line
    assert "0 partners" not in proc.stdout + proc.stderr


@pytest.mark.parametrize("index", range(len(_blocks("python"))))
def test_readme_python_block_runs_on_the_demo(index: int, demo_run, tmp_path: Path) -> None:
    folder, _ = demo_run
    code = _blocks("python")[index]
    env = {k: v for k, v in os.environ.items() if k != "MWH_DB"}
    # In a folder holding only the warehouse: the demo folder's reports/ would shadow the editable
    # install's `reports` package for `python -c` (a namespace portion on sys.path[0]).
    work = tmp_path / "work"
    work.mkdir()
    (work / "warehouse.duckdb").symlink_to(folder / "warehouse.duckdb")
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=work, capture_output=True, text=True, env=env, timeout=240
    )
    assert proc.returncode == 0, f"{code}\n{proc.stderr}"
