"""The CAVE test server, driven by the real caveclient over real HTTP on 127.0.0.1.

Nothing in caveclient is mocked or patched: every check goes through its own request building,
retries, error handling and Arrow decoding. Expected rows come from `SyntheticDatastack` directly
(pandas filters and merges written here), so the server's query engine is checked independently.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests
from caveclient import CAVEclient

from ingest.synthetic import (
    AUTO_TYPES_TABLE,
    MANUAL_TYPES_TABLE,
    NUCLEUS_TABLE,
    PROOFREADING_TABLE,
    SYNAPSE_TABLE,
    SyntheticDatastack,
    merged_table,
)
from tests.cave_server import CaveTestServer

REPO = Path(__file__).resolve().parents[1]
TOKEN = "test-token"
V = 1181
JOINED_COLUMNS = [
    "id",
    "created",
    "valid",
    "target_id",
    "classification_system",
    "cell_type",
    "id_ref",
    "created_ref",
    "valid_ref",
    "volume",
    "pt_supervoxel_id",
    "pt_root_id",
    "pt_position_x",
    "pt_position_y",
    "pt_position_z",
]


@pytest.fixture(scope="module")
def ds() -> SyntheticDatastack:
    return SyntheticDatastack(name="demo", seed=1181, scale=0.1)


@pytest.fixture(scope="module")
def server(ds):
    with CaveTestServer(ds, token=TOKEN, seed=7) as srv:
        yield srv


@pytest.fixture
def srv(server, tmp_path, monkeypatch):
    """The shared server with default knobs and zeroed counters; HOME in a temp dir."""
    monkeypatch.setenv("HOME", str(tmp_path))
    server.reset_stats()
    yield server
    server.restore()


@pytest.fixture
def client(srv, ds) -> CAVEclient:
    return CAVEclient(ds.name, server_address=srv.url, auth_token=TOKEN, write_server_cache=False)


def _base(ds, table: str, version: int = V) -> pd.DataFrame:
    return ds.base_table(table, version).to_pandas()


def _same(got: pd.DataFrame, want: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(got.reset_index(drop=True), want.reset_index(drop=True))


# ----------------------------------------------------------------------------- versions, tables
def test_versions_hide_expired_unless_asked(client, ds):
    expired = {v.version for v in ds.versions if v.expired}
    assert expired == {943}
    assert client.materialize.get_versions() == [1078, 1181, 1300]
    assert client.materialize.get_versions(expired=True) == [943, 1078, 1181, 1300]
    assert client.materialize.version == 1300
    meta = client.materialize.get_versions_metadata()
    assert [m["version"] for m in meta] == [1078, 1181, 1300]


def test_version_metadata_and_timestamp(client, ds):
    vi = ds.version_info(V)
    ts = client.materialize.get_timestamp(V)
    assert ts == vi.time_stamp.replace(tzinfo=ts.tzinfo) and ts.utcoffset().total_seconds() == 0
    md = client.materialize.get_version_metadata(V)
    assert md["version"] == V and md["valid"] is True and md["expires_on"].year == vi.expires_on.year
    # An expired version still has metadata (the real service keeps the row), marked invalid.
    assert client.materialize.get_version_metadata(943)["valid"] is False


def test_tables_metadata_and_counts(client, ds):
    assert client.materialize.get_tables(version=V) == ds.table_names()
    md = client.materialize.get_table_metadata(AUTO_TYPES_TABLE)
    assert md["reference_table"] == NUCLEUS_TABLE and md["voxel_resolution"] == [4.0, 4.0, 40.0]
    assert client.materialize.get_table_metadata(SYNAPSE_TABLE)["reference_table"] is None
    assert len(client.materialize.get_tables_metadata()) == len(ds.table_names())
    for t in (SYNAPSE_TABLE, PROOFREADING_TABLE):
        assert client.materialize.get_annotation_count(t, version=V) == ds.base_table(t, V).num_rows


# -------------------------------------------------------------------------------------- queries
def test_proofreading_filter_equal(client, ds):
    want = _base(ds, PROOFREADING_TABLE)
    want = want[want.status_axon == "t"]
    got = client.materialize.query_table(
        PROOFREADING_TABLE,
        filter_equal_dict={"status_axon": "t"},
        materialization_version=V,
        split_positions=True,
    )
    assert 0 < len(got) < len(_base(ds, PROOFREADING_TABLE))
    _same(got, want)
    # Without split_positions caveclient folds the x/y/z columns back into one array column.
    folded = client.materialize.query_table(
        PROOFREADING_TABLE, filter_equal_dict={"status_axon": "t"}, materialization_version=V
    )
    assert folded.columns[-1] == "pt_position"
    np.testing.assert_array_equal(
        np.stack(folded.pt_position.to_numpy()), want[["pt_position_x", "pt_position_y", "pt_position_z"]]
    )


def test_synapse_filter_in_pre_and_post(client, ds):
    syn = _base(ds, SYNAPSE_TABLE)
    pre = syn.pre_pt_root_id.iloc[:40].unique().tolist()
    post = syn.post_pt_root_id.iloc[:3000].unique().tolist()
    want = syn[syn.pre_pt_root_id.isin(pre) & syn.post_pt_root_id.isin(post)]
    got = client.materialize.query_table(
        SYNAPSE_TABLE,
        filter_in_dict={"pre_pt_root_id": pre, "post_pt_root_id": post},
        materialization_version=V,
        split_positions=True,
    )
    assert len(want) >= 40
    _same(got, want)


@pytest.mark.parametrize(
    ("kwarg", "op"),
    [
        ("filter_out_dict", lambda s, v: ~s.isin(v)),
        ("filter_greater_dict", lambda s, v: s > v),
        ("filter_less_dict", lambda s, v: s < v),
        ("filter_greater_equal_dict", lambda s, v: s >= v),
        ("filter_less_equal_dict", lambda s, v: s <= v),
    ],
)
def test_other_filters_on_nucleus_table(client, ds, kwarg, op):
    nuc = _base(ds, NUCLEUS_TABLE)
    if kwarg == "filter_out_dict":
        col, value = "id", nuc.id.iloc[::3].tolist()
    else:
        col, value = "volume", float(nuc.volume.median())
    got = client.materialize.query_table(
        NUCLEUS_TABLE, materialization_version=V, split_positions=True, **{kwarg: {col: value}}
    )
    want = nuc[op(nuc[col], value)]
    assert 0 < len(want) < len(nuc)
    _same(got, want)


@pytest.mark.parametrize("table", [AUTO_TYPES_TABLE, MANUAL_TYPES_TABLE])
def test_reference_table_is_joined(client, ds, table):
    got = client.materialize.query_table(table, materialization_version=V, split_positions=True)
    assert list(got.columns) == JOINED_COLUMNS
    # Independent pandas merge: annotation columns, then nucleus columns, colliding ones with _ref.
    anno, ref = _base(ds, table), _base(ds, NUCLEUS_TABLE)
    ref = ref.rename(columns={c: f"{c}_ref" for c in ref.columns if c in anno.columns})
    want = anno.merge(ref, left_on="target_id", right_on="id_ref", how="inner").sort_values("id")
    _same(got, want[JOINED_COLUMNS])
    # ...and the synthetic module's own join agrees (two implementations checking each other).
    _same(got, merged_table(ds, table, V).to_pandas())


def test_reference_join_with_filter_and_table_manager_suffixes(client, ds):
    got = client.materialize.query_table(
        MANUAL_TYPES_TABLE,
        filter_equal_dict={"cell_type": "BC"},
        materialization_version=V,
        split_positions=True,
    )
    want = merged_table(ds, MANUAL_TYPES_TABLE, V).to_pandas()
    _same(got, want[want.cell_type == "BC"])
    # The table manager sends the opposite suffix_map: the annotation table gets the _ref.
    df = client.materialize.tables[AUTO_TYPES_TABLE](cell_type="BC").query(limit=5, materialization_version=V)
    assert list(df.columns[:7]) == [
        "id_ref",
        "created_ref",
        "valid_ref",
        "target_id",
        "classification_system",
        "cell_type",
        "id",
    ]
    assert (df.id == df.target_id).all() and (df.cell_type == "BC").all() and len(df) == 5


def test_limit_offset_and_counts(client, ds):
    syn = _base(ds, SYNAPSE_TABLE)
    got = client.materialize.query_table(
        SYNAPSE_TABLE, limit=50, offset=100, materialization_version=V, split_positions=True
    )
    _same(got, syn.iloc[100:150])
    counts = client.materialize.query_table(SYNAPSE_TABLE, get_counts=True, materialization_version=V)
    assert list(counts.columns) == ["count"] and int(counts["count"].iloc[0]) == len(syn)
    sub = client.materialize.query_table(
        PROOFREADING_TABLE, filter_equal_dict={"status_axon": "t"}, get_counts=True, materialization_version=V
    )
    prf = _base(ds, PROOFREADING_TABLE)
    assert int(sub["count"].iloc[0]) == int((prf.status_axon == "t").sum())


def test_row_cap_truncates_and_caveclient_logs_the_warning(client, srv, caplog):
    srv.row_cap = 1000
    with caplog.at_level(logging.WARNING, logger="caveclient.base"):
        df = client.materialize.query_table(SYNAPSE_TABLE, materialization_version=V)
    assert len(df) == 1000
    assert [r.getMessage() for r in caplog.records if r.name == "caveclient.base"] == [
        '201 - "Limited query to 1000 rows'
    ]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="caveclient.base"):
        assert len(client.materialize.query_table(SYNAPSE_TABLE, limit=10, materialization_version=V)) == 10
        # A result below the effective limit carries no warning.
        assert len(client.materialize.query_table(PROOFREADING_TABLE, materialization_version=V)) < 1000
    assert [r.getMessage() for r in caplog.records] == ['201 - "Limited query to 10 rows']
    assert srv.stats["truncated_responses"] == 2


def test_raw_query_response_headers(srv):
    url = f"{srv.url}/materialize/api/v3/datastack/demo/version/{V}/table/{SYNAPSE_TABLE}/query"
    r = requests.post(
        url,
        params={"return_pyarrow": "True", "arrow_format": "True", "split_positions": "True"},
        data=json.dumps({"limit": 7}),
        headers={
            "Authorization": f"Bearer {TOKEN}",
            "Content-Type": "application/json",
            "Accept-Encoding": "zstd",
        },
        timeout=10,
    )
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "data.arrow"
    assert r.headers["dataframe_resolution"] == "4.0, 4.0, 40.0"
    assert r.headers["Warning"] == '201 - "Limited query to 7 rows'
    assert "Content-Encoding" not in r.headers


def test_bad_requests_are_400(srv):
    url = f"{srv.url}/materialize/api/v3/datastack/demo/version/{V}/table/{SYNAPSE_TABLE}/query"
    auth = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    for body in [
        "{not json",
        "[1, 2]",
        json.dumps({"limit": "ten"}),
        json.dumps({"filter_in_dict": {SYNAPSE_TABLE: {"pre_pt_root_id": 5}}}),
        json.dumps({"filter_equal_dict": {SYNAPSE_TABLE: {"no_such_column": 5}}}),
        json.dumps({"filter_equal_dict": {"other_table": {"id": 5}}}),
        json.dumps({"no_such_key": 1}),
    ]:
        r = requests.post(url, data=body, headers=auth, timeout=10)
        assert r.status_code == 400, body
        assert "message" in r.json()


# ---------------------------------------------------------------------------------------- auth
def test_bad_token_is_401(srv, ds):
    with pytest.raises(requests.HTTPError) as err:
        CAVEclient(ds.name, server_address=srv.url, auth_token="wrong", write_server_cache=False)
    assert err.value.response.status_code == 401
    r = requests.get(f"{srv.url}/info/api/v2/datastack/full/demo", timeout=10)
    assert r.status_code == 401 and set(r.json()) == {"error", "message"}
    for path in ("/info/version", "/materialize/api/versions", "/materialize/version"):
        assert requests.get(srv.url + path, timeout=10).status_code == 200
    cookie = requests.get(
        f"{srv.url}/info/api/v2/datastack/full/demo", cookies={"middle_auth_token": TOKEN}, timeout=10
    )
    assert cookie.status_code == 200 and not cookie.history


def test_token_revoked_at_runtime(client, srv):
    assert client.materialize.get_tables(version=V)
    srv.token = "rotated"
    with pytest.raises(requests.HTTPError) as err:
        client.materialize.query_table(SYNAPSE_TABLE, limit=1, materialization_version=V)
    assert err.value.response.status_code == 401


# --------------------------------------------------------------------------------------- 404s
def test_unknown_table_404(client):
    with pytest.raises(requests.HTTPError) as err:
        client.materialize.query_table("no_such_table", materialization_version=V)
    assert err.value.response.status_code == 404
    assert err.value.response.url.endswith("/table/no_such_table/metadata")  # before any query


def test_expired_and_unknown_versions_404(client):
    for version in (943, 5):
        with pytest.raises(requests.HTTPError) as err:
            client.materialize.query_table(SYNAPSE_TABLE, materialization_version=version)
        assert err.value.response.status_code == 404
        assert f"version {version} is not available" in err.value.response.json()["message"]


def test_unknown_datastack_404(srv):
    with pytest.raises(requests.HTTPError) as err:
        CAVEclient("nope", server_address=srv.url, auth_token=TOKEN, write_server_cache=False)
    assert err.value.response.status_code == 404
    assert "nope" in err.value.response.json()["message"]


# ------------------------------------------------------------------------------------- faults
def test_injected_503_is_retried_then_raised(client, srv):
    client.materialize.get_table_metadata(SYNAPSE_TABLE, version=V)  # cached; only queries below
    srv.error_rate, srv.error_statuses = 1.0, (503,)
    srv.reset_stats()
    with pytest.raises(requests.HTTPError) as err:
        client.materialize.query_table(SYNAPSE_TABLE, limit=5, materialization_version=V)
    assert err.value.response.status_code == 503
    assert srv.stats["queries"] == 4 == srv.stats["errors_injected"]  # 1 try + 3 urllib3 retries
    srv.error_statuses = (500,)  # not in caveclient's retry list
    srv.reset_stats()
    with pytest.raises(requests.HTTPError) as err:
        client.materialize.query_table(SYNAPSE_TABLE, limit=5, materialization_version=V)
    assert err.value.response.status_code == 500 and srv.stats["queries"] == 1


def test_dropped_connection_raises_chunked_encoding_error(client, srv):
    client.materialize.get_table_metadata(SYNAPSE_TABLE, version=V)
    srv.drop_rate = 1.0
    srv.reset_stats()
    with pytest.raises(requests.exceptions.ChunkedEncodingError, match="IncompleteRead"):
        client.materialize.query_table(SYNAPSE_TABLE, limit=2000, materialization_version=V)
    assert srv.stats["drops_injected"] == 1 == srv.stats["queries"]  # body errors are not retried
    srv.drop_rate = 0.0
    assert len(client.materialize.query_table(SYNAPSE_TABLE, limit=3, materialization_version=V)) == 3


def test_latency_and_max_concurrency(srv):
    srv.latency, srv.max_concurrency = 0.2, 2
    url = f"{srv.url}/materialize/api/v3/datastack/demo/version/{V}/table/{PROOFREADING_TABLE}/query"
    statuses: list[int] = []

    def one() -> None:
        r = requests.post(url, json={"limit": 1}, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
        statuses.append(r.status_code)

    threads = [threading.Thread(target=one) for _ in range(4)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    assert statuses == [200] * 4
    assert srv.stats["max_in_flight"] == 2
    assert 0.4 <= elapsed < 0.8  # two waves of two


# --------------------------------------------------------------------------------- standalone
def test_standalone_prints_url_and_serves(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.cave_server", "--port", "0", "--scale", "0.05", "--row-cap", "100"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        assert requests.get(f"{url}/materialize/version", timeout=10).json() == "5.14.0"
        client = CAVEclient("demo", server_address=url, auth_token=TOKEN, write_server_cache=False)
        assert len(client.materialize.query_table(SYNAPSE_TABLE)) == 100
    finally:
        proc.terminate()
        proc.wait(timeout=10)
