"""Everything that matters lives in the file, documented: each `.sql` file creates the object it is
named after, says which question it answers, and leaves a comment the duckdb shell can show. The
files ship in the wheel, so a plain `pip install .` works."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from warehouse.sqlfiles import sql_files

REPO = Path(__file__).resolve().parents[1]
FILES = sql_files()


@pytest.mark.parametrize("f", FILES, ids=[f"{f.layer}/{f.name}" for f in FILES])
def test_each_file_says_what_it_answers(f):
    assert len(f.header) > 40, "a header comment saying which question the object answers"
    assert re.search(rf"CREATE OR REPLACE (VIEW|MACRO) {f.name}\b", f.text), "named after its file"
    if f.layer == "staging":
        assert f.name.startswith("stg_")
        code = "\n".join(line for line in f.text.splitlines() if not line.lstrip().startswith("--"))
        assert " JOIN " not in code.upper(), "staging only renames, casts and filters"
    if f.layer == "analysis":
        assert "{{raw." not in f.text, "analysis reads staging and analysis views, never raw tables"


def test_every_object_exists_and_has_a_comment(demo_wh):
    con = demo_wh.con
    views = dict(
        con.execute(
            "SELECT view_name, comment FROM duckdb_views() WHERE NOT internal AND schema_name = 'main'"
        ).fetchall()
    )
    macros = dict(
        con.execute(
            "SELECT function_name, comment FROM duckdb_functions() WHERE function_type IN ('macro', 'table_macro') "
            "AND schema_name = 'main'"
        ).fetchall()
    )
    for f in FILES:
        kind = "VIEW" if re.search(rf"CREATE OR REPLACE VIEW {f.name}\b", f.text) else "MACRO"
        found = views if kind == "VIEW" else macros
        assert f.name in found, f"{f.name} was not created"
        assert found[f.name], f"{f.name} has no COMMENT ON {kind}"


def test_every_view_has_a_version_column(demo_wh):
    con = demo_wh.con
    names = [f.name for f in FILES if re.search(rf"CREATE OR REPLACE VIEW {f.name}\b", f.text)]
    for name in names:
        cols = [r[0] for r in con.execute(f"DESCRIBE {name}").fetchall()]
        assert "version" in cols, name


def test_the_wheel_ships_the_sql_and_the_configuration(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "-q", "-w", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    [wheel] = tmp_path.glob("microns_warehouse-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for f in FILES:
        assert f"sql/{f.layer}/{f.name}.sql" in names
    assert "warehouse/datastacks.toml" in names
    assert not any(n.startswith("tests/") for n in names)


def test_require_synapses_of_knows_the_same_whole_table_kinds_as_python():
    """The macro and warehouse.snapshots decide alike which snapshots cover every root."""
    import re

    from warehouse.snapshots import WHOLE_TABLE_KINDS
    from warehouse.sqlfiles import sql_files

    text = next(f.text for f in sql_files() if f.name == "require_synapses_of")
    listed = re.search(r"json_extract_string\(s\.query, '\$\.kind'\) IN \(([^)]*)\)", text).group(1)
    assert tuple(k.strip().strip("'") for k in listed.split(",")) == WHOLE_TABLE_KINDS
