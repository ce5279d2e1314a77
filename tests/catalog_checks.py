"""The catalog tables the writers keep (`meta.current_snapshots`, `meta.version_facts`) against
their definitions, worked out here from `meta.snapshots` and `meta.versions` without the SQL that
writes them. A live number's arguments are what `format_timestamp` gives, the form `--timestamp`
accepts and the Python messages print."""

from __future__ import annotations

import json

from warehouse.timestamps import format_timestamp


def assert_current_is_the_newest_complete(wh) -> None:
    """meta.current_snapshots: the newest complete snapshot per (role, version), every complete one
    for the synapse table; whole rows, so no column of it is stale either. Then meta.version_facts:
    per version, the roles held, the kinds of its synapse snapshots, a live number's arguments."""
    expected = wh.con.execute(
        "SELECT * FROM meta.snapshots WHERE status = 'complete' AND (role = 'synapses' OR snapshot_id IN "
        "(SELECT arg_max(snapshot_id, (finished_at, snapshot_id)) FROM meta.snapshots WHERE status = 'complete' "
        "GROUP BY role, version)) ORDER BY snapshot_id"
    ).fetchall()
    assert wh.con.execute("SELECT * FROM meta.current_snapshots ORDER BY snapshot_id").fetchall() == expected

    cols = [d[0] for d in wh.con.execute("SELECT * FROM meta.snapshots LIMIT 0").description]
    facts: dict[int, dict] = {}
    for row in expected:
        r = dict(zip(cols, row, strict=True))
        f = facts.setdefault(r["version"], {"roles": set(), "kinds": set(), "live": None})
        f["roles"].add(r["role"])
        if r["role"] == "synapses":
            f["kinds"].add(json.loads(r["query"])["kind"])
    for version, ts in wh.con.execute(
        "SELECT version, time_stamp FROM meta.versions WHERE kind = 'live'"
    ).fetchall():
        facts.setdefault(version, {"roles": set(), "kinds": set(), "live": None})["live"] = (
            " --timestamp " + format_timestamp(ts)
        )
    want = [
        (v, sorted(f["roles"]), ", ".join(sorted(f["kinds"])) or None, f["live"])
        for v, f in sorted(facts.items())
    ]
    got = wh.con.execute("SELECT version, roles, synapse_kinds, live_args FROM meta.version_facts ORDER BY 1")
    assert got.fetchall() == want
