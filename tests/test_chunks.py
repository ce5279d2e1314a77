"""Property: for any rows, id lists and caps, planning and splitting cover the query exactly once, and
every stored chunk stays under the cap.

The loop below is the job's own rule (ingest/job.py): a chunk whose answer reaches the cap is
never stored but split with `chunks.split` on the ids it returned; the server answers in id order
and truncates at the cap, as CAVE does.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest import chunks


@st.composite
def problems(draw):
    n_rows = draw(st.integers(0, 400))
    n_roots = draw(st.integers(1, 30))
    roots = draw(st.lists(st.integers(1, 10**18), min_size=n_roots, max_size=n_roots, unique=True))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    ids = (
        rng.choice(10**12, size=n_rows, replace=False).astype(np.int64) if n_rows else np.array([], np.int64)
    )
    # skewed: some roots get most rows, so single-id chunks overflow and need the id-range split
    weights = rng.dirichlet(np.full(n_roots, draw(st.sampled_from([0.1, 1.0, 10.0]))))
    pre = np.asarray(roots, np.int64)[rng.choice(n_roots, size=n_rows, p=weights)]
    post = np.asarray(roots, np.int64)[rng.choice(n_roots, size=n_rows)]
    table = pa.table({"id": ids, "pre_pt_root_id": pre, "post_pt_root_id": post})
    wanted = draw(st.lists(st.sampled_from(roots), min_size=1, unique=True))
    cap = draw(st.integers(2, 60))
    per_chunk = draw(st.integers(1, 12))
    mode = draw(st.sampled_from(["both", "partners", "whole"]))
    return table, wanted, cap, per_chunk, mode


def answer(table: pa.Table, spec: dict, cap: int) -> tuple[pa.Table, bool]:
    rows = table.filter(chunks.matches(table, spec)).sort_by("id")
    return rows.slice(0, cap), rows.num_rows >= cap


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_chunks_cover_the_query_exactly_once_and_stay_under_the_cap(problem):
    table, wanted, cap, per_chunk, mode = problem
    sets = {"proofread": wanted}
    if mode == "both":
        roots = chunks.by_id_lists(
            "pre_pt_root_id", wanted, per_chunk, "both", {"post_pt_root_id": "$proofread"}
        )
        query = pc.and_(
            pc.is_in(table["pre_pt_root_id"], pa.array(wanted)),
            pc.is_in(table["post_pt_root_id"], pa.array(wanted)),
        )
    elif mode == "partners":
        roots = chunks.by_id_lists("pre_pt_root_id", wanted, per_chunk, "outputs") + chunks.by_id_lists(
            "post_pt_root_id", wanted, per_chunk, "inputs"
        )
        query = pc.or_(
            pc.is_in(table["pre_pt_root_id"], pa.array(wanted)),
            pc.is_in(table["post_pt_root_id"], pa.array(wanted)),
        )
    else:
        roots = [chunks.whole_table()]
        query = pa.array(np.ones(table.num_rows, bool))
    expected = set(table.filter(query)["id"].to_pylist())

    stored: dict[str, list[int]] = {}
    pending = list(roots)
    requests = 0
    while pending:
        spec = pending.pop()
        requests += 1
        assert requests < 10_000, "splitting must terminate"
        rows, truncated = answer(table, chunks.resolve(spec, sets), cap)
        if truncated:
            pending.extend(chunks.split(spec, rows["id"].to_numpy()))
            continue
        assert rows.num_rows < cap
        stored.setdefault(spec["family"], []).extend(rows["id"].to_pylist())

    for family, ids in stored.items():
        assert len(ids) == len(set(ids)), f"a row was stored twice within family {family}"
    assert set().union(*stored.values()) == expected if stored else not expected


def test_split_halves_the_id_list_before_splitting_by_row_id():
    spec = chunks.by_id_lists("pre_pt_root_id", [5, 1, 3], 10, "both")[0]
    left, right = chunks.split(spec, np.array([10, 20, 30]))
    assert left["in"]["pre_pt_root_id"] == [1] and right["in"]["pre_pt_root_id"] == [3, 5]
    lo, hi = chunks.split(left, np.array([30, 10, 20, 40]))
    assert lo["id_range"] == [None, 30] and hi["id_range"] == [30, None]
