"""Benchmark: what `partners` would cost with its cell types restricted to the partner roots.

`partners` joins the `cell_types` view, whose windows run over every cell-type row of the version
before the join keeps a few hundred: at 10x the notebook that is most of a call. This prototypes,
as temporary macros on one read-only connection (nothing is written to the file), a table macro
`cell_types_of(v, roots)` that filters both type tables to `roots` before the windows, in three
forms, and `partners` with it; checks every variant gives the same rows as `partners`; then times
them alternating, on one connection, and prints medians: the figures behind docs/benchmarks.md
section 10. It is a measurement of a change not built, not the warehouse's code.

    python bench/partners_cell_types.py --db W.duckdb --version 1181 --root R [--rounds 10]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import warehouse  # noqa: E402
from bench.measure import in_turn, machine  # noqa: E402
from warehouse.sqlfiles import sql_files  # noqa: E402

# The restriction of one type table, in each form; {t} is the staging view.
RESTRICTIONS = {
    "plain IN": "SELECT version, pt_root_id, nucleus_id, classification_system, cell_type FROM {t} "
    "WHERE version = v AND pt_root_id IN (SELECT unnest(roots))",
    "two branches (NULL, NULL is the whole view)": "SELECT version, pt_root_id, nucleus_id, classification_system, "
    "cell_type FROM {t} WHERE roots IS NULL AND (v IS NULL OR version = v) UNION ALL "
    "SELECT version, pt_root_id, nucleus_id, classification_system, cell_type FROM {t} "
    "WHERE version = v AND pt_root_id IN (SELECT unnest(roots))",
    "roots IS NULL OR IN": "SELECT version, pt_root_id, nucleus_id, classification_system, cell_type FROM {t} "
    "WHERE (v IS NULL OR version = v) AND (roots IS NULL OR pt_root_id IN (SELECT unnest(roots)))",
}
MERGE = """CREATE TEMP MACRO {name}(v, roots) AS TABLE
SELECT *, CASE WHEN nucleus_id_manual IS NOT NULL THEN cell_type_manual ELSE cell_type_auto END AS cell_type,
    coalesce(nucleus_id_manual, nucleus_id_auto) AS nucleus_id
FROM (
    SELECT coalesce(a.version, m.version) AS version, coalesce(a.pt_root_id, m.pt_root_id) AS pt_root_id,
        a.nucleus_id AS nucleus_id_auto, a.classification_system AS classification_system_auto,
        coalesce(a.cell_type, 'unsure') AS cell_type_auto,
        m.nucleus_id AS nucleus_id_manual, m.classification_system AS classification_system_manual,
        coalesce(m.cell_type, 'unsure') AS cell_type_manual
    FROM (SELECT * FROM ({auto}) QUALIFY count(*) OVER (PARTITION BY version, pt_root_id) = 1) a
    FULL OUTER JOIN (SELECT * FROM ({manual}) QUALIFY count(*) OVER (PARTITION BY version, pt_root_id) = 1) m
        ON m.version = a.version AND m.pt_root_id = a.pt_root_id
) merged"""
# One neuron's synapses in a direction, as partners reads them, so the root list and the counts
# come from one definition in the prototype.
PARTNER_SYNAPSES = """CREATE TEMP MACRO partner_synapses(root_id, v, direction) AS TABLE
SELECT o.post_pt_root_id AS partner_root_id, o.size FROM stg_synapse_roots o
WHERE direction = 'output' AND o.version = v AND o.pre_pt_root_id = root_id
UNION ALL
SELECT i.pre_pt_root_id AS partner_root_id, i.size FROM stg_synapse_roots_by_post i
WHERE direction = 'input' AND i.version = v AND i.post_pt_root_id = root_id"""


def partners_body() -> str:
    text = next(f.text for f in sql_files() if f.name == "partners")
    return text[text.index("CREATE OR REPLACE MACRO") : text.index("COMMENT ON")]


def install(con) -> dict[str, str]:
    """The temporary macros; returns {label: macro name} for the partners variants."""
    body = partners_body()
    start, end = "    FROM (\n        SELECT o.post_pt_root_id", "    ) syn\n"
    join = "LEFT JOIN cell_types t ON t.version = v AND t.pt_root_id = g.partner_root_id"
    if start not in body or end not in body or join not in body:
        raise SystemExit("sql/analysis/partners.sql changed shape; update this benchmark")
    lookup = body[body.index(start) : body.index(end) + len(end)]
    con.execute(PARTNER_SYNAPSES)
    names = {"the cell_types view (now)": "partners"}
    for i, (label, form) in enumerate(RESTRICTIONS.items()):
        ct = f"cell_types_of_{i}"
        con.execute(
            MERGE.format(
                name=ct,
                auto=form.format(t="stg_cell_types_auto"),
                manual=form.format(t="stg_cell_types_manual"),
            )
        )
        variant = body.replace(lookup, "    FROM partner_synapses(root_id, v, direction) syn\n").replace(
            join,
            f"LEFT JOIN {ct}(v, (SELECT list(DISTINCT s.partner_root_id) "
            "FROM partner_synapses(root_id, v, direction) s)) t ON t.pt_root_id = g.partner_root_id",
        )
        con.execute(variant.replace("CREATE OR REPLACE MACRO partners(", f"CREATE TEMP MACRO partners_{i}("))
        names[label] = f"partners_{i}"
    return names


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", required=True)
    ap.add_argument("--version", type=int, required=True)
    ap.add_argument("--root", type=int, required=True)
    ap.add_argument("--rounds", type=int, default=10)
    a = ap.parse_args(argv)
    print(machine(), file=sys.stderr)
    with warehouse.open(a.db) as wh:
        con = wh.con
        names = install(con)
        queries = {
            (label, d): f"FROM {macro}({a.root:d}, {a.version:d}, direction := '{d}')"
            for label, macro in names.items()
            for d in ("output", "input")
        }
        for (label, d), q in queries.items():  # every variant answers as partners does
            want = con.execute(f"FROM partners({a.root:d}, {a.version:d}, direction := '{d}')").fetchall()
            if con.execute(q).fetchall() != want:
                raise SystemExit(f"{label} ({d}) answers differently from partners")
        times = in_turn(con, queries, a.rounds + 2)
    print(f"{a.db}, version {a.version}, root {a.root}; medians of {a.rounds} (after 2 warm-up rounds)")
    print("| partners' cell types | output | input |")
    print("|---|---|---|")
    for label in names:
        cells = [f"{statistics.median(times[(label, d)][2:]) * 1000:.1f} ms" for d in ("output", "input")]
        print(f"| {label} | {' | '.join(cells)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
