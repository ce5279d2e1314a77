"""No silent partial or empty answers: a neuron's partners are complete or refused, unknown ids are
errors, and a later, narrower snapshot never shrinks what a version answers.

The expected partners come from the notebook's own steps: caveclient's synapse_query over real
HTTP on an uncapped loopback server (or the generator's rows), grouped by partner in pandas.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from caveclient import CAVEclient

import warehouse
from ingest.plan import PlanOptions
from ingest.retry import RetryPolicy
from ingest.run import IngestOptions, ingest_version
from ingest.sources.cave import CaveSource
from ingest.sources.demo import DemoSource
from ingest.synthetic import EXAMPLE_ROOT, PROOFREADING_TABLE, SYNAPSE_TABLE, SyntheticDatastack
from tests.cave_server import CaveTestServer
from tests.test_cli import assert_one_line_error, mwh
from warehouse.config import datastack_config
from warehouse.errors import WarehouseError

V = 1181
TOKEN = "complete-answers-token-93ab"


@pytest.fixture(scope="module")
def ds() -> SyntheticDatastack:
    return SyntheticDatastack("demo", seed=1181, scale=0.1)


def _ingest(path: Path, source, **plan) -> list:
    with warehouse.open_for_datastack(path, "demo") as wh:
        return ingest_version(wh, source, V, IngestOptions(workers=2, plan=PlanOptions(**plan)))


@pytest.fixture(scope="module")
def proofread_only(ds, tmp_path_factory) -> Path:
    """The notebook's default ingest: synapses between proofread cells only."""
    path = tmp_path_factory.mktemp("proofread") / "w.duckdb"
    _ingest(path, DemoSource(ds))
    return path


def _notebook_partners(ds: SyntheticDatastack, root: int, direction: str = "output") -> pd.DataFrame:
    syn = ds.base_table(SYNAPSE_TABLE, V).to_pandas()
    mine, other = (
        ("pre_pt_root_id", "post_pt_root_id")
        if direction == "output"
        else ("post_pt_root_id", "pre_pt_root_id")
    )
    got = syn[syn[mine] == root].groupby(other).size().rename("syn_count").reset_index()
    return got.rename(columns={other: "partner_root_id"}).sort_values(
        ["syn_count", "partner_root_id"], ascending=[False, True]
    )


def _busiest_proofread(ds) -> int:
    prf = ds.base_table(PROOFREADING_TABLE, V).to_pandas()
    syn = ds.base_table(SYNAPSE_TABLE, V).to_pandas()
    cells = set(prf.loc[prf.status_axon == "t", "pt_root_id"])
    return int(syn[syn.pre_pt_root_id.isin(cells)].pre_pt_root_id.value_counts().index[0])


# ------------------------------------------------------------------------- partial is refused
def test_partners_after_the_default_ingest_names_the_command_that_takes_them(ds, proofread_only):
    root = _busiest_proofread(ds)
    with warehouse.open(proofread_only) as wh:
        with pytest.raises(
            WarehouseError, match=rf"only part of the synapses of root id {root}.*--root-ids {root}"
        ):
            wh.partners(root, V)
        with pytest.raises(WarehouseError, match="only part of the synapses"):
            wh.neuron(root, V)
    assert_one_line_error(
        mwh("sql", "--db", str(proofread_only), f"FROM partners({root}, {V})"),
        "only part of the synapses",
        f"mwh ingest --datastack demo --version {V} --root-ids {root}",
    )
    assert_one_line_error(
        mwh("neuron", str(root), "-v", str(V), "--db", str(proofread_only), "--no-report"), "--root-ids"
    )


def test_root_ids_ingest_answers_completely_like_the_notebook(ds, proofread_only, tmp_path):
    """The notebook's example, through the real caveclient: its synapse_query(pre_ids=root) on an
    uncapped server, grouped by partner, equals partners() after `--root-ids` through a capped one."""
    with CaveTestServer(ds, token=TOKEN, row_cap=None) as clean:
        client = CAVEclient(ds.name, server_address=clean.url, auth_token=TOKEN, write_server_cache=False)
        out = client.materialize.synapse_query(pre_ids=EXAMPLE_ROOT, materialization_version=V)
        inp = client.materialize.synapse_query(post_ids=EXAMPLE_ROOT, materialization_version=V)
    assert len(out) == 1_498 and out.post_pt_root_id.nunique() == 1_035  # the notebook's figures
    path = tmp_path / "w.duckdb"
    import shutil

    shutil.copy(proofread_only, path)
    with CaveTestServer(ds, token=TOKEN, row_cap=400, error_rate=0.1, seed=3) as srv:
        source = CaveSource(
            datastack_config("demo"), server=srv.url, token=TOKEN, retry=RetryPolicy(base_delay=0.01)
        )
        with warehouse.open_for_datastack(path, "demo") as wh:
            outcomes = ingest_version(
                wh,
                source,
                V,
                IngestOptions(
                    roles=("synapses",),
                    workers=3,
                    plan=PlanOptions(synapses="roots", root_ids=(EXAMPLE_ROOT,)),
                ),
            )
    assert outcomes[0].rows == len(out) + len(inp) and outcomes[0].splits > 0
    with warehouse.open(path) as wh:
        for direction, rows, col in (("output", out, "post_pt_root_id"), ("input", inp, "pre_pt_root_id")):
            want = (
                rows.groupby(col)
                .size()
                .rename("syn_count")
                .reset_index()
                .rename(columns={col: "partner_root_id"})
            )
            want = want.sort_values(["syn_count", "partner_root_id"], ascending=[False, True]).reset_index(
                drop=True
            )
            got = wh.partners(EXAMPLE_ROOT, V, direction).to_pandas()[["partner_root_id", "syn_count"]]
            pd.testing.assert_frame_equal(got, want, check_dtype=False)
        card = wh.neuron(EXAMPLE_ROOT, V)
        assert card.summary["syn_out"] == 1_498 and card.summary["output_partners"] == 1_035
        assert not card.summary["proofread"]
    proc = mwh("status", "--db", str(path))
    assert "every synapse of 1 root id(s)" in proc.stdout and "between proofread cells" in proc.stdout, (
        proc.stdout
    )


def test_a_narrower_snapshot_never_shrinks_a_version(ds, tmp_path):
    """Partners first (every synapse of the proofread cells), then the notebook's narrower default:
    the version answers exactly as before, row for row."""
    path = tmp_path / "w.duckdb"
    _ingest(path, DemoSource(ds), synapses="partners")
    root = _busiest_proofread(ds)
    with warehouse.open(path) as wh:
        before = wh.sql("SELECT * FROM stg_synapses WHERE version = $v ORDER BY id", {"v": V})
        card = wh.neuron(root, V).summary
    outcomes = _ingest(path, DemoSource(ds))  # proofread-only, later
    assert outcomes[-1].action == "created" and 0 < outcomes[-1].rows < before.height
    with warehouse.open(path) as wh:
        assert wh.sql("SELECT * FROM stg_synapses WHERE version = $v ORDER BY id", {"v": V}).equals(before)
        assert wh.neuron(root, V).summary == card
        got = wh.partners(root, V).to_pandas()[["partner_root_id", "syn_count"]].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, _notebook_partners(ds, root).reset_index(drop=True), check_dtype=False)


# ------------------------------------------------------------------------------ unknown ids
def test_unknown_root_ids_are_errors_everywhere(proofread_only, tmp_path):
    unknown = 864691135000000001
    with warehouse.open(proofread_only) as wh:
        for call in (
            lambda: wh.partners(unknown, V),
            lambda: wh.partners(unknown, V, "input"),
            lambda: wh.neuron(unknown, V),
        ):
            with pytest.raises(
                WarehouseError, match=rf"root id {unknown} is (not in version {V}|in no version)"
            ):
                call()
    db = str(proofread_only)
    for args in (
        ("sql", "--db", db, f"FROM partners({unknown}, {V})"),
        ("sql", "--db", db, f"FROM neuron_summary({unknown}, {V})"),
        ("sql", "--db", db, f"FROM root_history({unknown})"),
        ("neuron", str(unknown), "-v", str(V), "--db", db, "--no-report"),
        (
            "report",
            "partners",
            "-v",
            str(V),
            "--root-id",
            str(unknown),
            "--db",
            db,
            "--out",
            str(tmp_path / "r"),
        ),
    ):
        assert_one_line_error(mwh(*args), str(unknown))
    assert not list((tmp_path / "r").glob("partners_*")) if (tmp_path / "r").exists() else True


def test_reports_after_the_default_ingest_skip_the_neuron_reports_and_say_why(proofread_only, tmp_path):
    """Every report but the two that need one neuron's every synapse; those are named, not drawn
    with part of a neuron's partners."""
    proc = mwh("report", "--version", str(V), "--db", str(proofread_only), "--out", str(tmp_path / "r"))
    assert proc.returncode == 0, proc.stderr
    assert "skipped partners: version 1181 holds every synapse of no neuron" in proc.stderr
    assert "skipped neuron:" in proc.stderr and "--synapses partners" in proc.stderr
    drawn = {p.name for p in (tmp_path / "r").glob("*.png")}
    assert f"strategy_v{V}.png" in drawn and not any(n.startswith(("partners_", "neuron_")) for n in drawn)
    assert_one_line_error(
        mwh(
            "report",
            "partners",
            "--version",
            str(V),
            "--db",
            str(proofread_only),
            "--out",
            str(tmp_path / "r"),
        ),
        "holds every synapse of no neuron",
    )
