"""A CAVE-compatible HTTP server on 127.0.0.1, for tests and benchmarks.

It serves a `SyntheticDatastack` over the same wire format as CAVE's info, materialization and
schema services (see /work/shared/docs/cave-wire.md), so the *unmodified* caveclient can talk to
it over real HTTP:

    with CaveTestServer(SyntheticDatastack(scale=0.1)) as srv:
        client = CAVEclient("demo", server_address=srv.url, auth_token=srv.token,
                            write_server_cache=False)
        df = client.materialize.query_table("synapses_pni_2", limit=10)

It can misbehave on purpose: per-query latency, injected 500/503 answers, connections dropped
in the middle of the body, a row cap like the public server's, a cap on concurrent queries, an
outage after N more queries, tables missing at a version, slow metadata routes, answers that
silently lose rows, and a datastack whose terms of service the user has not accepted. All of
those are plain attributes that may be changed while it runs.

Standalone: ``python -m tests.cave_server --port 0 --row-cap 1000 --error-rate 0.2`` prints its
URL on one line and serves until killed.

Semantics follow caveclient 8.2.1 and the MaterializationEngine source: filters are nested
``{table: {column: value}}``; a plain-table query returns the table's own columns in id order;
a join query returns the first table's columns, then the second's, a column present in both
(among the selected ones) getting its table's suffix from ``suffix_map``; offset/limit apply
after filtering; the effective limit is ``min(limit, row_cap)`` and a result that reaches it
carries ``Warning: 201 - "Limited query to N rows``; ``count=True`` answers a one-row Arrow
table with an int64 ``count`` column.

The live query (caveclient's ``live_live_query``: POST ``.../datastack/{ds}/query`` with
``table``, ``timestamp``, ``join_tables`` and table-keyed filters) answers with the datastack's
state at the newest available version whose time_stamp is at or before the timestamp: the
generator has no state between versions, so that is the honest answer for a test server (the real
service replays the edits made since). As MaterializationEngine's LiveTableQuery does, it always
splits positions, leaves out ``valid``/``superceded_id`` unless they are selected, refuses root ids
in a filter that are not valid at the timestamp (400, unless ``allow_invalid_root_ids``), and
words its row-cap warning ``result has N entries, which is equal or more than limit of N ...``.
"""

from __future__ import annotations

import argparse
import contextlib
import http.cookies
import http.server
import json
import random
import re
import signal
import socket
import sys
import threading
import time
import traceback
from collections import deque
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

INFO_VERSION = "4.6.0"
MATERIALIZE_VERSION = "5.14.0"  # caveclient 8 needs >= 5.13.0 for query_table
MATERIALIZE_API_VERSIONS = [2, 3]
SCHEMA_API_VERSIONS = [1, 2]
SYNAPSE_TABLE = "synapses_pni_2"
SOMA_TABLE = "nucleus_detection_v0"
SEGMENTATION_TABLE = "minnie3_v1"
ALIGNED_VOLUME = "minnie65_phase3"
AXES = ("x", "y", "z")
# MaterializationEngine's suffixes for a join table that has none in suffix_map.
DEFAULT_SUFFIX_LIST = ["x", "y", "z", "xx", "yy", "zz", "xxx", "yyy", "zzz"]
FILTER_KINDS = {
    "filter_in_dict": "in",
    "filter_notin_dict": "notin",
    "filter_out_dict": "notin",  # the name the server code itself reads; accepted as an alias
    "filter_equal_dict": "eq",
    "filter_greater_dict": "gt",
    "filter_less_dict": "lt",
    "filter_greater_equal_dict": "ge",
    "filter_less_equal_dict": "le",
    "filter_spatial_dict": "spatial",
    "filter_regex_dict": "regex",
}
_COMMON_BODY_KEYS = set(FILTER_KINDS) | {"select_columns", "offset", "limit", "desired_resolution"}
SIMPLE_BODY_KEYS = frozenset(_COMMON_BODY_KEYS)
JOIN_BODY_KEYS = frozenset(_COMMON_BODY_KEYS | {"tables", "select_column_map", "suffixes", "suffix_map"})
# The live query's body (MaterializationEngine's V2QuerySchema; select_columns is {table: [columns]}).
LIVE_BODY_KEYS = frozenset(_COMMON_BODY_KEYS | {"table", "timestamp", "join_tables", "suffixes"})
CRUD_COLUMNS = ("deleted", "superceded_id")
LIVE_SKIPPED = ("valid", "superceded_id", "deleted")  # what a live query leaves out unless selected
STAT_KEYS = (
    "requests",
    "queries",
    "rows_sent",
    "errors_injected",
    "drops_injected",
    "truncated_responses",
    "auth_failures",
    "client_errors",
    "max_in_flight",
)


class HttpError(Exception):
    """An error answer: status code plus a JSON body with at least a `message`."""

    def __init__(self, status: int, message: str, error: str | None = None, data: dict | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error = error
        self.data = data

    def body(self) -> dict:
        out = {"message": self.message}
        if self.error:
            out = {"error": self.error, **out}
        if self.data is not None:
            out["data"] = self.data
        return out


@dataclass
class _Reply:
    status: int
    body: bytes
    content_type: str
    headers: dict[str, str]
    rows: int = 0
    drop: bool = False  # send the headers and half the body, then close the connection


@dataclass(frozen=True)
class _Column:
    """A column as the user names it: a scalar column, or a point stored as <name>_x/_y/_z."""

    name: str
    physical: tuple[str, ...]

    @property
    def is_point(self) -> bool:
        return len(self.physical) == 3


@dataclass
class _Source:
    """One table at one version: valid rows only, sorted by id."""

    table: str
    data: pa.Table
    columns: dict[str, _Column]  # logical name -> column, in table order
    resolution: tuple[float, float, float]

    def column(self, name: str) -> _Column:
        col = self.columns.get(name)
        if col is None:
            for c in self.columns.values():  # a split name such as pt_position_x
                if c.is_point and name in c.physical:
                    return _Column(name, (name,))
            raise HttpError(400, f"column {name} not found in {self.table}")
        return col


def _logical_columns(names: list[str]) -> dict[str, _Column]:
    out: dict[str, _Column] = {}
    i = 0
    while i < len(names):
        n = names[i]
        if n.endswith("_x") and i + 2 < len(names):
            base = n[:-2]
            if names[i + 1] == base + "_y" and names[i + 2] == base + "_z":
                out[base] = _Column(base, (n, names[i + 1], names[i + 2]))
                i += 3
                continue
        out[n] = _Column(n, (n,))
        i += 1
    return out


def _parse_bool(value: str, name: str) -> bool:
    v = value.strip().lower()
    if v in ("true", "1", "yes", "on"):
        return True
    if v in ("false", "0", "no", "off"):
        return False
    raise HttpError(400, f"{name}: '{value}' is not a valid boolean")


def _json_default(obj: Any) -> Any:
    if isinstance(obj, datetime | date):
        return obj.isoformat()
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)


def _to_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, str):
        dt = datetime.fromisoformat(value)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz=UTC)
    else:
        raise ValueError(f"cannot read {value!r} as a timestamp")
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _typed_array(values: list, typ: pa.DataType) -> pa.Array:
    if pa.types.is_timestamp(typ):
        values = [None if v is None else _to_datetime(v) for v in values]
    if pa.types.is_integer(typ) and any(isinstance(v, float) and not float(v).is_integer() for v in values):
        raise ValueError("non-integer value for an integer column")
    return pa.array(values, type=typ)


def _typed_scalar(value: Any, typ: pa.DataType) -> pa.Scalar:
    if isinstance(value, list | dict):
        raise ValueError(f"expected a single value, got {type(value).__name__}")
    return _typed_array([value], typ)[0]


def _join_indices(left: pa.ChunkedArray, right: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """Inner-join row indices (left order kept, right rows in their order within one key)."""
    if not (left.type == right.type or (pa.types.is_integer(left.type) and pa.types.is_integer(right.type))):
        raise HttpError(400, f"cannot join a {left.type} column to a {right.type} column")
    rvalid = np.asarray(pc.is_valid(right).to_numpy(zero_copy_only=False), dtype=bool)
    lvalid = np.asarray(pc.is_valid(left).to_numpy(zero_copy_only=False), dtype=bool)
    rk = right.to_numpy(zero_copy_only=False)[rvalid] if len(right) else np.empty(0)
    lk = left.to_numpy(zero_copy_only=False)
    ridx = np.flatnonzero(rvalid)
    if len(lk) == 0 or len(rk) == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    lk = np.where(lvalid, lk, rk[0])  # placeholders; their matches are zeroed below
    order = np.argsort(rk, kind="stable")
    sorted_rk = rk[order]
    lo = np.searchsorted(sorted_rk, lk, side="left")
    hi = np.searchsorted(sorted_rk, lk, side="right")
    counts = np.where(lvalid, hi - lo, 0)
    total = int(counts.sum())
    li = np.repeat(np.arange(len(lk), dtype=np.int64), counts)
    starts = np.repeat(lo, counts)
    within = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    ri = ridx[order[starts + within]]
    return li, ri.astype(np.int64)


def _camel(name: str) -> str:
    return "".join(p[:1].upper() + p[1:] for p in re.split(r"[_\W]+", name) if p)


class CaveTestServer:
    """A CAVE info + materialization + schema service for one synthetic datastack.

    Runtime-adjustable attributes: token (None disables auth), row_cap (None: no cap), latency,
    error_rate, drop_rate, error_statuses, max_concurrency, expired_versions, ipc_compress, and:

    - outage_after: None, or how many more queries succeed before every query answers 503 (an
      outage in the middle of an ingest); counts down, set it back to None to end the outage.
    - missing_tables: table names this deployment does not have (404, as an unknown table).
    - json_latency: seconds added to every non-query route (info, versions, metadata), like a
      server that hangs before a client is even built.
    - short_answers: rows silently dropped from the end of every data answer, with no Warning
      header (a server or proxy that loses rows); count queries still count them all.
    - tos_url: None, or the address of a terms-of-service form the user has not accepted: every
      authenticated route then answers 403 ``{"error": "missing_tos", "data": {"tos_form_url": ...}}``
      as CAVE's auth service does (caveclient opens that address with ``webbrowser``).
    """

    def __init__(
        self,
        datastack: Any,
        *,
        token: str | None = "test-token",
        row_cap: int | None = 500_000,
        latency: float = 0.0,
        error_rate: float = 0.0,
        drop_rate: float = 0.0,
        max_concurrency: int | None = None,
        seed: int = 0,
        host: str = "127.0.0.1",
        port: int = 0,
        error_statuses: tuple[int, ...] = (500, 503),
        verbose: bool = False,
    ) -> None:
        self.datastack = datastack
        self.seed = seed
        self.verbose = verbose
        # The knobs a test may turn, as constructed; restore() puts every one of them back.
        self._knobs = {
            "token": token,
            "row_cap": row_cap,
            "latency": latency,
            "error_rate": error_rate,
            "drop_rate": drop_rate,
            "error_statuses": tuple(error_statuses),
            "max_concurrency": max_concurrency,
            "ipc_compress": True,
            "outage_after": None,
            "missing_tables": frozenset(),
            "json_latency": 0.0,
            "short_answers": 0,
            "tos_url": None,
            "expired_versions": frozenset(v.version for v in datastack.versions if v.expired),
        }
        self.query_log: deque[dict] = deque(maxlen=1000)
        self._host = host
        self._port = port
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._stats = dict.fromkeys(STAT_KEYS, 0)
        self._in_flight = 0
        self._sem: threading.BoundedSemaphore | None = None
        self._max_concurrency: int | None = None
        self.restore()
        self._sources: dict[tuple[str, int], _Source] = {}
        self._schemas: dict[str, dict] | None = None
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()

    # ------------------------------------------------------------------------------ lifecycle
    def start(self) -> CaveTestServer:
        if self._httpd is not None:
            return self
        httpd = _HTTPServer((self._host, self._port), _Handler)
        httpd.app = self
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, name="cave-test-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        with self._lock:
            conns = list(self._connections)
        for conn in conns:  # idle keep-alive connections would otherwise linger
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> CaveTestServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def serve_forever(self) -> None:
        """Serve in the calling thread (for the command line)."""
        self.start()
        assert self._thread is not None
        while self._thread.is_alive():
            self._thread.join(0.5)

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("server not started")
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    def __repr__(self) -> str:
        where = self.url if self._httpd else "stopped"
        return f"CaveTestServer({self.datastack.name!r}, {where})"

    # ---------------------------------------------------------------------------------- state
    @property
    def max_concurrency(self) -> int | None:
        return self._max_concurrency

    @max_concurrency.setter
    def max_concurrency(self, n: int | None) -> None:
        if n is not None and n < 1:
            raise ValueError("max_concurrency must be >= 1 or None")
        self._max_concurrency = n
        self._sem = threading.BoundedSemaphore(n) if n else None

    @property
    def stats(self) -> dict[str, int]:
        with self._lock:
            return dict(self._stats)

    def restore(self) -> None:
        """Every knob back to its constructed value, so one test's faults never leak into the next."""
        for name, value in self._knobs.items():
            setattr(self, name, set(value) if isinstance(value, frozenset) else value)

    def reset_stats(self) -> None:
        with self._lock:
            self._stats = dict.fromkeys(STAT_KEYS, 0)
        self.query_log.clear()

    def _count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self._stats[key] += n

    def warm(self) -> None:
        """Build every (table, version) source now rather than on first query."""
        for vi in self.datastack.versions:
            for t in self.datastack.table_names():
                self._source(t, vi.version)

    # ------------------------------------------------------------------------------- lookups
    def _check_datastack(self, ds: str) -> None:
        if ds != self.datastack.name:
            raise HttpError(404, f"datastack {ds} not found")

    def _version_info(self, version: int) -> Any:
        for vi in self.datastack.versions:
            if vi.version == version:
                return vi
        raise HttpError(
            404, f"version {version} is not available for datastack {self.datastack.name}: no such version"
        )

    def _check_version(self, version: int) -> Any:
        vi = self._version_info(version)
        if version in self.expired_versions:
            raise HttpError(
                404,
                f"version {version} is not available for datastack {self.datastack.name}: "
                f"it expired on {vi.as_json()['expires_on']}",
            )
        return vi

    def _check_table(self, table: str, version: int) -> None:
        if table not in self.datastack.table_names() or table in self.missing_tables:
            raise HttpError(
                404,
                f"No table named '{table}' found for version '{version}' "
                f"in datastack '{self.datastack.name}'",
            )

    def _version_json(self, vi: Any) -> dict:
        d = dict(vi.as_json())
        d["datastack"] = self.datastack.name
        d["valid"] = vi.version not in self.expired_versions
        d["status"] = "AVAILABLE" if d["valid"] else "EXPIRED"
        d.setdefault("is_merged", True)
        d.setdefault("parent_version", None)
        return d

    def _source(self, table: str, version: int) -> _Source:
        key = (table, version)
        src = self._sources.get(key)
        if src is not None:
            return src
        data = self.datastack.base_table(table, version)
        if "valid" in data.column_names:
            data = data.filter(pc.fill_null(data.column("valid"), False))
        if "id" in data.column_names:
            data = data.sort_by("id")
        md = self.datastack.table_metadata(table, version)
        res = tuple(float(md.get(f"voxel_resolution_{a}", 1.0)) for a in AXES)
        src = _Source(table, data, _logical_columns(data.column_names), res)  # type: ignore[arg-type]
        self._sources[key] = src
        return src

    # ---------------------------------------------------------------------------- JSON routes
    def datastack_info(self) -> dict:
        url = self.url
        return {
            "datastack": self.datastack.name,
            "description": f"Synthetic datastack {self.datastack.name} served by CaveTestServer",
            "local_server": url,
            "segmentation_source": f"graphene://{url}/segmentation/table/{SEGMENTATION_TABLE}",
            "synapse_table": SYNAPSE_TABLE,
            "soma_table": SOMA_TABLE,
            "analysis_database": None,
            "viewer_site": "https://spelunker.cave-explorer.org",
            "viewer_resolution_x": 4.0,
            "viewer_resolution_y": 4.0,
            "viewer_resolution_z": 40.0,
            "skeleton_source": None,
            "base_link_id": None,
            "proofreading_status_table": None,
            "proofreading_review_table": None,
            "cell_identification_table": None,
            "aligned_volume": self.aligned_volume(),
        }

    def aligned_volume(self) -> dict:
        return {
            "id": 1,
            "name": ALIGNED_VOLUME,
            "display_name": ALIGNED_VOLUME,
            "description": "Synthetic stand-in for the minnie65 aligned volume",
            "image_source": "precomputed://https://bossdb-open-data.s3.amazonaws.com/iarpa_microns/minnie/minnie65/em",
        }

    def schema_definitions(self) -> dict[str, dict]:
        """JSON schemas per annotation schema type, derived from the tables that use them at any
        version (ingest.synthetic.schema_definitions, which the demo source serves too)."""
        if self._schemas is None:
            from ingest.synthetic import schema_definitions

            self._schemas = schema_definitions(self.datastack)
        return self._schemas

    # ---------------------------------------------------------------------------------- query
    def version_at(self, at: datetime) -> Any:
        """The newest available version at or before `at`: this server's state at that time."""
        before = [
            v
            for v in self.datastack.versions
            if v.version not in self.expired_versions and v.time_stamp <= at.astimezone(UTC)
        ]
        if not before:
            raise HttpError(
                400,
                f"no valid materialization at or before {at.isoformat()}; this server has no earlier state",
            )
        return max(before, key=lambda v: v.time_stamp)

    def run_live_query(self, params: dict[str, str], body: dict, accept_encoding: str = "") -> _Reply:
        """Answer a live query (see the module docstring); raises HttpError."""
        unknown = sorted(set(body) - LIVE_BODY_KEYS)
        if unknown:
            raise HttpError(
                400, f"unknown fields in query body: {unknown}; allowed: {sorted(LIVE_BODY_KEYS)}"
            )
        table = body.get("table")
        if not isinstance(table, str):
            raise HttpError(400, "table: a table name is required")
        if "timestamp" not in body:
            raise HttpError(400, "timestamp: a timestamp is required")
        try:
            at = _to_datetime(body["timestamp"])
        except (ValueError, TypeError) as e:
            raise HttpError(400, f"timestamp: {e}") from None
        version = self.version_at(at).version
        self._check_table(table, version)
        tables = None
        joins = body.get("join_tables")
        if joins:
            if not (
                isinstance(joins, list)
                and len(joins) == 1
                and isinstance(joins[0], list)
                and len(joins[0]) == 4
                and all(isinstance(x, str) for x in joins[0])
                and joins[0][0] == table
            ):
                raise HttpError(400, "join_tables: this server joins the queried table to one other table")
            tables = [joins[0][:2], joins[0][2:]]
        if not _parse_bool(params.get("allow_invalid_root_ids", "false"), "allow_invalid_root_ids"):
            self._check_live_root_ids(body, version)
        inner = {k: v for k, v in body.items() if k in _COMMON_BODY_KEYS and k != "select_columns"}
        select, suffixes = body.get("select_columns"), body.get("suffixes")
        if select is not None:
            if not isinstance(select, dict):
                raise HttpError(400, "select_columns must be an object {table: [columns]}")
            inner["select_column_map"] = select
        if suffixes is not None:
            if not isinstance(suffixes, dict):
                raise HttpError(400, "suffixes must be an object {table: suffix}")
            inner["suffix_map"] = suffixes
        live_params = {**params, "split_positions": "true", "count": "false"}
        return self.run_query(
            tables, None if tables else table, version, live_params, inner, accept_encoding, live=True
        )

    def _check_live_root_ids(self, body: dict, version: int) -> None:
        """Root ids in a live query's filters must exist at its timestamp, as the chunkedgraph says."""
        ids: list = []
        for key in ("filter_in_dict", "filter_notin_dict", "filter_out_dict", "filter_equal_dict"):
            for cols in (body.get(key) or {}).values():
                for col, value in (cols or {}).items():
                    if col.endswith("root_id"):
                        ids.extend(value if isinstance(value, list) else [value])
        if not ids:
            return
        try:
            wanted = np.unique(np.asarray(ids, dtype=np.int64))
        except (ValueError, TypeError, OverflowError):
            raise HttpError(400, "root id filters must be integers") from None
        bad = wanted[~np.isin(wanted, self.datastack.roots[version]) | (wanted == 0)]
        if len(bad):
            raise HttpError(400, f"Some root_ids passed are not valid at the query timestamp: {bad}")

    def run_query(
        self,
        tables: list[list[str]] | None,
        table: str | None,
        version: int,
        params: dict[str, str],
        body: dict,
        accept_encoding: str = "",
        live: bool = False,
    ) -> _Reply:
        """Answer a simple (``table``) or join (``tables``) query, or a live one; raises HttpError."""
        split = _parse_bool(params.get("split_positions", "false"), "split_positions")
        get_count = _parse_bool(params.get("count", "false"), "count")
        arrow = _parse_bool(params.get("return_pyarrow", "true"), "return_pyarrow")
        compress = _parse_bool(params.get("ipc_compress", "true"), "ipc_compress") and self.ipc_compress
        random_sample = params.get("random_sample")

        allowed = SIMPLE_BODY_KEYS if tables is None and not live else JOIN_BODY_KEYS
        unknown = sorted(set(body) - allowed)
        if unknown:
            raise HttpError(400, f"unknown fields in query body: {unknown}; allowed: {sorted(allowed)}")

        # Which tables, joined on what.
        if tables is None:
            assert table is not None
            names = [table]
            join_on = None
        else:
            if not (
                isinstance(tables, list)
                and len(tables) == 2
                and all(
                    isinstance(t, list) and len(t) == 2 and all(isinstance(x, str) for x in t) for t in tables
                )
            ):
                raise HttpError(400, "tables must be [[table, column], [table, column]]")
            names = [tables[0][0], tables[1][0]]
            if names[0] == names[1]:
                raise HttpError(400, "a table cannot be joined to itself")
            join_on = (tables[0][1], tables[1][1])
        for t in names:
            self._check_table(t, version)
        sources = [self._source(t, version) for t in names]

        # Filters, per table, before the (inner) join.
        datas = [s.data for s in sources]
        for key, kind in FILTER_KINDS.items():
            spec = body.get(key)
            if spec is None:
                continue
            if not isinstance(spec, dict):
                raise HttpError(400, f"{key} must be an object {{table: {{column: value}}}}")
            for t, cols in spec.items():
                if t not in names:
                    raise HttpError(400, f"{key}: table {t} is not part of this query")
                if cols is None:
                    continue
                if not isinstance(cols, dict):
                    raise HttpError(400, f"{key}[{t}] must be an object {{column: value}}")
                i = names.index(t)
                for col, value in cols.items():
                    datas[i] = self._apply_filter(sources[i], datas[i], kind, col, value, key)

        if join_on is None:
            frames = [datas[0]]
        else:
            for i, c in enumerate(join_on):
                col = sources[i].columns.get(c)
                if col is None or col.is_point:
                    raise HttpError(400, f"join column {c} not found in {names[i]}")
            li, ri = _join_indices(datas[0].column(join_on[0]), datas[1].column(join_on[1]))
            frames = [datas[0].take(li), datas[1].take(ri)]
        n = frames[0].num_rows

        if random_sample is not None:
            try:
                k = int(random_sample)
            except ValueError:
                raise HttpError(400, "random_sample must be a positive integer") from None
            if k <= 0:
                raise HttpError(400, "random_sample must be a positive integer")
            if k < n:
                keep = np.sort(np.random.default_rng(self.seed).choice(n, k, replace=False))
                frames = [f.take(keep) for f in frames]
                n = k

        # Offset and limit (the cap), in id order.
        offset = body.get("offset", 0)
        if offset is None:
            offset = 0
        if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
            raise HttpError(400, "offset must be a non-negative integer")
        cap = self.row_cap
        limit = body.get("limit", cap)
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 0):
            raise HttpError(400, "limit must be a non-negative integer")
        if cap is not None and (limit is None or limit > cap):
            limit = cap
        if get_count:
            limit = None

        desired = body.get("desired_resolution")
        if desired is not None and (
            not isinstance(desired, list)
            or len(desired) != 3
            or not all(isinstance(x, int | float) and not isinstance(x, bool) and x > 0 for x in desired)
        ):
            raise HttpError(400, "desired_resolution must be three positive numbers")
        resolution = tuple(float(x) for x in desired) if desired else sources[-1].resolution
        headers = {"dataframe_resolution": ", ".join(str(float(x)) for x in resolution)}

        if get_count:
            count = max(0, n - offset)
            out = pa.table({"count": pa.array([count], pa.int64())})
        else:
            stop = n if limit is None else min(n, offset + limit)
            start = min(offset, n)
            frames = [f.slice(start, stop - start) for f in frames]
            out = self._assemble(names, sources, frames, body, split, desired, live)
            if limit is not None and out.num_rows == limit:
                headers["Warning"] = (
                    # MaterializationEngine's words, with the indentation its line continuation leaves
                    f"result has {out.num_rows} entries, which is equal or more         than limit of {limit} "
                    "there may be more results which are not shown"
                    if live
                    else f'201 - "Limited query to {limit} rows'
                )
            if self.short_answers > 0:  # lose rows silently: no Warning, whatever the cap did
                out = out.slice(0, max(0, out.num_rows - self.short_answers))
                headers.pop("Warning", None)
        if arrow:
            body_bytes = self._arrow_bytes(out, accept_encoding if compress else "")
            ctype = "data.arrow"
        else:
            body_bytes = json.dumps(out.to_pylist(), default=_json_default).encode()
            ctype = "application/json"
        return _Reply(200, body_bytes, ctype, headers, rows=0 if get_count else out.num_rows)

    def _apply_filter(
        self, src: _Source, data: pa.Table, kind: str, col: str, value: Any, key: str
    ) -> pa.Table:
        column = src.column(col)
        try:
            if kind == "spatial":
                if not column.is_point:
                    raise HttpError(400, f"{key}: {col} is not a point column")
                lo, hi = value
                if len(lo) != 3 or len(hi) != 3:
                    raise ValueError("bounding box must be [[x, y, z], [x, y, z]]")
                mask = None
                for phys, a, b in zip(column.physical, lo, hi, strict=True):
                    arr = data.column(phys)
                    m = pc.and_(pc.greater_equal(arr, a), pc.less_equal(arr, b))
                    mask = m if mask is None else pc.and_(mask, m)
                return data.filter(mask)
            if column.is_point:
                raise HttpError(400, f"{key}: {col} is a point column; use filter_spatial_dict")
            arr = data.column(column.physical[0])
            typ = arr.type
            if kind in ("in", "notin"):
                if not isinstance(value, list):
                    raise ValueError(f"expected a list of values, got {type(value).__name__}")
                values = _typed_array(value, typ)
                mask = pc.is_in(arr, value_set=values)
                if kind == "notin":
                    mask = pc.and_(pc.invert(mask), pc.is_valid(arr))
            elif kind == "regex":
                if not isinstance(value, str):
                    raise ValueError("regex must be a string")
                mask = pc.match_substring_regex(arr, value)
            else:
                scalar = _typed_scalar(value, typ)
                op = {
                    "eq": pc.equal,
                    "gt": pc.greater,
                    "lt": pc.less,
                    "ge": pc.greater_equal,
                    "le": pc.less_equal,
                }[kind]
                mask = op(arr, scalar)
        except HttpError:
            raise
        except (ValueError, TypeError, pa.ArrowException, OverflowError) as e:
            raise HttpError(400, f"{key}: bad value for {src.table}.{col}: {e}") from None
        return data.filter(mask)

    def _assemble(
        self,
        names: list[str],
        sources: list[_Source],
        frames: list[pa.Table],
        body: dict,
        split: bool,
        desired: list | None,
        live: bool = False,
    ) -> pa.Table:
        # The selected logical columns of each table.
        selected: list[list[_Column]] = [[] for _ in names]
        select_columns = body.get("select_columns")
        select_map = body.get("select_column_map")
        if select_columns is not None and not (
            isinstance(select_columns, list) and all(isinstance(c, str) for c in select_columns)
        ):
            raise HttpError(400, "select_columns must be a list of column names")
        if select_columns:
            for c in select_columns:
                for i, s in enumerate(sources):
                    try:
                        selected[i].append(s.column(c))
                        break
                    except HttpError:
                        continue
                else:
                    raise HttpError(400, f"column {c} not found in any table referenced")
        elif select_map:
            if not isinstance(select_map, dict):
                raise HttpError(400, "select_column_map must be an object {table: [columns]}")
            for t, cols in select_map.items():
                if t not in names or not isinstance(cols, list):
                    raise HttpError(400, f"select_column_map: bad entry for table {t}")
                i = names.index(t)
                for c in cols:
                    selected[i].append(sources[i].column(c))
        else:
            for i, s in enumerate(sources):
                drop = (
                    LIVE_SKIPPED if live else CRUD_COLUMNS if len(sources) > 1 else ("deleted", "superceded")
                )
                selected[i] = [c for c in s.columns.values() if c.name not in drop]

        # Suffixes for names selected from more than one table.
        suffixes: list[str] = []
        suffix_map = body.get("suffix_map")
        suffix_list = body.get("suffixes")
        if suffix_map is not None and not isinstance(suffix_map, dict):
            raise HttpError(400, "suffix_map must be an object {table: suffix}")
        if suffix_list is not None and not isinstance(suffix_list, list):
            raise HttpError(400, "suffixes must be a list")
        for i, t in enumerate(names):
            s = None
            if suffix_list is not None and i < len(suffix_list):
                s = suffix_list[i]
            elif suffix_map is not None:
                s = suffix_map.get(t)
            suffixes.append(DEFAULT_SUFFIX_LIST[i] if s is None else str(s))
        if len(sources) > 1 and len(set(suffixes)) != len(suffixes):
            raise HttpError(400, f"Duplicate suffixes set in {dict(zip(names, suffixes, strict=True))}")
        seen: dict[str, int] = {}
        for cols in selected:
            for c in {c.name for c in cols}:
                seen[c] = seen.get(c, 0) + 1
        dups = {c for c, k in seen.items() if k > 1}

        out_names: list[str] = []
        out_arrays: list[pa.ChunkedArray | pa.Array] = []
        for i, cols in enumerate(selected):
            frame, src = frames[i], sources[i]
            for c in cols:
                name = c.name + (suffixes[i] if c.name in dups else "")
                if not c.is_point:
                    out_names.append(name)
                    out_arrays.append(frame.column(c.physical[0]))
                    continue
                comps = []
                for axis, phys in enumerate(c.physical):
                    arr = frame.column(phys)
                    if desired is not None:
                        factor = src.resolution[axis] / float(desired[axis])
                        if factor != 1.0:
                            arr = pc.multiply(pc.cast(arr, pa.float64()), factor)
                    comps.append(arr)
                if split:
                    for a, arr in zip(AXES, comps, strict=True):
                        out_names.append(f"{name}_{a}")
                        out_arrays.append(arr)
                else:
                    flat = np.column_stack([np.asarray(a.to_numpy()) for a in comps]).ravel()
                    out_names.append(name)
                    out_arrays.append(pa.FixedSizeListArray.from_arrays(pa.array(flat), 3))
        if len(set(out_names)) != len(out_names):
            raise HttpError(400, f"duplicate output column names: {out_names}")
        return pa.table(out_arrays, names=out_names)

    @staticmethod
    def _arrow_bytes(table: pa.Table, accept_encoding: str) -> bytes:
        enc = accept_encoding.lower()
        compression = "lz4" if "lz4" in enc else "zstd" if "zstd" in enc else None
        sink = pa.BufferOutputStream()
        opts = pa.ipc.IpcWriteOptions(compression=compression)
        with pa.ipc.new_stream(sink, table.schema, options=opts) as writer:
            writer.write_table(table)
        return sink.getvalue().to_pybytes()

    # --------------------------------------------------------------------------- dispatching
    def handle(self, method: str, raw_path: str, headers: Any, body: bytes) -> _Reply:
        """Route one request to its reply (never raises HttpError)."""
        self._count("requests")
        parts = urlsplit(raw_path)
        path = unquote(parts.path).rstrip("/") or "/"
        params = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        try:
            for route_method, pattern, func, needs_auth, is_query in _ROUTES:
                m = pattern.match(path)
                if m is None:
                    continue
                if method != route_method:
                    raise HttpError(405, f"method {method} not allowed on {path}")
                if needs_auth:
                    self._check_auth(headers)
                if "ds" in m.groupdict():
                    self._check_datastack(m["ds"])
                if not is_query:
                    if self.json_latency > 0:
                        time.sleep(self.json_latency)
                    return self._json(200, func(self, m, params))
                return self._query(func, m, params, headers, body)
            raise HttpError(404, f"no such endpoint: {method} {path}")
        except HttpError as e:
            if e.status == 401:
                self._count("auth_failures")
            else:
                self._count("client_errors")
            return self._json(e.status, e.body())

    def _check_auth(self, headers: Any) -> None:
        self._check_token(headers)
        if self.tos_url:
            raise HttpError(
                403,
                f"You must accept the terms of service of datastack {self.datastack.name} to use it",
                "missing_tos",
                {"tos_form_url": self.tos_url},
            )

    def _check_token(self, headers: Any) -> None:
        token = self.token
        if token is None:
            return
        auth = headers.get("Authorization")
        cookie_token = None
        raw_cookie = headers.get("Cookie")
        if raw_cookie:
            jar = http.cookies.SimpleCookie()
            try:
                jar.load(raw_cookie)
            except http.cookies.CookieError:
                jar = http.cookies.SimpleCookie()
            if "middle_auth_token" in jar:
                cookie_token = jar["middle_auth_token"].value
        if auth == f"Bearer {token}" or cookie_token == token:
            return
        if auth is None and cookie_token is None:
            raise HttpError(401, "You need to provide a token (Authorization: Bearer <token>)", "no_token")
        raise HttpError(401, "The token is invalid or expired", "invalid_token")

    def _query(self, func: Any, m: re.Match, params: dict, headers: Any, body: bytes) -> _Reply:
        self._count("queries")
        sem = self._sem
        if sem is not None:
            sem.acquire()
        try:
            with self._lock:
                self._in_flight += 1
                self._stats["max_in_flight"] = max(self._stats["max_in_flight"], self._in_flight)
            try:
                if self.latency > 0:
                    time.sleep(self.latency)
                with self._lock:
                    outage = self.outage_after is not None and self.outage_after <= 0
                    if self.outage_after is not None and not outage:
                        self.outage_after -= 1
                if outage:
                    self._count("errors_injected")
                    return self._json(503, {"message": "service unavailable (outage)"})
                with self._lock:
                    err = self._rng.random() < self.error_rate
                    status = self._rng.choice(self.error_statuses) if err else 0
                    drop = (not err) and self._rng.random() < self.drop_rate
                if err:
                    self._count("errors_injected")
                    label = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}
                    return self._json(status, {"message": f"injected fault: {label.get(status, 'error')}"})
                try:
                    data = json.loads(body.decode("utf-8")) if body.strip() else {}
                except (UnicodeDecodeError, json.JSONDecodeError) as e:
                    raise HttpError(400, f"request body is not valid JSON: {e}") from None
                if not isinstance(data, dict):
                    raise HttpError(400, "request body must be a JSON object")
                self.query_log.append({"path": m.string, "params": dict(params), "body": data})
                reply = func(self, m, params, data, headers.get("Accept-Encoding", ""))
                if drop:
                    self._count("drops_injected")
                    reply.drop = True
                    return reply
                if "Warning" in reply.headers:
                    self._count("truncated_responses")
                self._count("rows_sent", reply.rows)
                return reply
            finally:
                with self._lock:
                    self._in_flight -= 1
        finally:
            if sem is not None:
                sem.release()

    def _json(self, status: int, payload: Any) -> _Reply:
        return _Reply(status, json.dumps(payload, default=_json_default).encode(), "application/json", {})


# ------------------------------------------------------------------------------------ routes
def _v(m: re.Match) -> int:
    return int(m["v"])


def _r_info_version(app: CaveTestServer, m: re.Match, p: dict) -> Any:
    return INFO_VERSION


def _r_datastacks(app: CaveTestServer, m: re.Match, p: dict) -> Any:
    return [app.datastack.name]


def _r_datastack_info(app: CaveTestServer, m: re.Match, p: dict) -> Any:
    return app.datastack_info()


def _r_aligned_volume(app: CaveTestServer, m: re.Match, p: dict) -> Any:
    if m["name"] != ALIGNED_VOLUME:
        raise HttpError(404, f"aligned volume {m['name']} not found")
    return app.aligned_volume()


def _r_mat_api_versions(app: CaveTestServer, m: re.Match, p: dict) -> Any:
    return MATERIALIZE_API_VERSIONS


def _r_mat_version(app: CaveTestServer, m: re.Match, p: dict) -> Any:
    return MATERIALIZE_VERSION


def _expired_param(p: dict) -> bool:
    return _parse_bool(p.get("expired", "false"), "expired")


def _r_versions(app: CaveTestServer, m: re.Match, p: dict) -> Any:
    expired = _expired_param(p)
    return sorted(
        v.version for v in app.datastack.versions if expired or v.version not in app.expired_versions
    )


def _r_versions_metadata(app: CaveTestServer, m: re.Match, p: dict) -> Any:
    expired = _expired_param(p)
    out = [
        app._version_json(v)
        for v in sorted(app.datastack.versions, key=lambda v: v.version)
        if expired or v.version not in app.expired_versions
    ]
    if not out:
        raise HttpError(404, "No valid versions found")
    return out


def _r_version_metadata(app: CaveTestServer, m: re.Match, p: dict) -> Any:
    # Like the real service, an expired version still has its metadata (valid: false).
    return app._version_json(app._version_info(_v(m)))


def _r_tables(app: CaveTestServer, m: re.Match, p: dict) -> Any:
    app._check_version(_v(m))
    return [t for t in app.datastack.table_names() if t not in app.missing_tables]


def _r_tables_metadata(app: CaveTestServer, m: re.Match, p: dict) -> Any:
    v = _v(m)
    app._check_version(v)
    return [
        # MaterializationEngine's metadata of a materialized table carries its row count.
        {
            **app.datastack.table_metadata(t, v),
            "version": v,
            "row_count": app.datastack.base_table(t, v).num_rows,
        }
        for t in app.datastack.table_names()
        if t not in app.missing_tables
    ]


def _r_table_metadata(app: CaveTestServer, m: re.Match, p: dict) -> Any:
    v = _v(m)
    app._check_version(v)
    app._check_table(m["t"], v)
    return {**app.datastack.table_metadata(m["t"], v), "version": v}


def _r_table_count(app: CaveTestServer, m: re.Match, p: dict) -> Any:
    v = _v(m)
    app._check_version(v)
    app._check_table(m["t"], v)
    return app.datastack.base_table(m["t"], v).num_rows


def _r_empty_dict(app: CaveTestServer, m: re.Match, p: dict) -> Any:
    app._check_version(_v(m))
    return {}


def _r_schema_versions(app: CaveTestServer, m: re.Match, p: dict) -> Any:
    return SCHEMA_API_VERSIONS


def _r_schema_types(app: CaveTestServer, m: re.Match, p: dict) -> Any:
    return sorted(app.schema_definitions())


def _r_schema_type(app: CaveTestServer, m: re.Match, p: dict) -> Any:
    defs = app.schema_definitions()
    if m["schema"] not in defs:
        raise HttpError(404, f"schema type {m['schema']} not found")
    return defs[m["schema"]]


def _r_schema_all(app: CaveTestServer, m: re.Match, p: dict) -> Any:
    return app.schema_definitions()


def _q_simple(app: CaveTestServer, m: re.Match, p: dict, body: dict, enc: str) -> _Reply:
    v = _v(m)
    app._check_version(v)
    app._check_table(m["t"], v)
    return app.run_query(None, m["t"], v, p, body, enc)


def _q_live(app: CaveTestServer, m: re.Match, p: dict, body: dict, enc: str) -> _Reply:
    return app.run_live_query(p, body, enc)


def _q_join(app: CaveTestServer, m: re.Match, p: dict, body: dict, enc: str) -> _Reply:
    v = _v(m)
    app._check_version(v)
    if "tables" not in body:
        raise HttpError(400, "a join query needs 'tables': [[table, column], [table, column]]")
    return app.run_query(body["tables"], None, v, p, body, enc)


_M = r"^/materialize/api/v[23]/datastack/(?P<ds>[^/]+)"
_VER = _M + r"/version/(?P<v>-?\d+)"
_ROUTES: list[tuple[str, re.Pattern, Any, bool, bool]] = [
    (method, re.compile(pattern), func, auth, query)
    for method, pattern, func, auth, query in [
        ("GET", r"^/info/version$", _r_info_version, False, False),
        ("GET", r"^/info/api/v2/datastacks$", _r_datastacks, True, False),
        ("GET", r"^/info/api/v2/datastack/full/(?P<ds>[^/]+)$", _r_datastack_info, True, False),
        ("GET", r"^/info/api/v2/aligned_volume/(?P<name>[^/]+)$", _r_aligned_volume, True, False),
        ("GET", r"^/materialize/api/versions$", _r_mat_api_versions, False, False),
        ("GET", r"^/materialize/version$", _r_mat_version, False, False),
        ("GET", _M + r"/versions$", _r_versions, True, False),
        ("GET", _M + r"/metadata$", _r_versions_metadata, True, False),
        ("GET", _VER + r"$", _r_version_metadata, True, False),
        ("GET", _VER + r"/tables$", _r_tables, True, False),
        ("GET", _VER + r"/tables/metadata$", _r_tables_metadata, True, False),
        ("GET", _VER + r"/table/(?P<t>[^/]+)/metadata$", _r_table_metadata, True, False),
        ("GET", _VER + r"/table/(?P<t>[^/]+)/count$", _r_table_count, True, False),
        ("POST", _VER + r"/table/(?P<t>[^/]+)/query$", _q_simple, True, True),
        ("POST", _VER + r"/query$", _q_join, True, True),
        ("POST", _M + r"/query$", _q_live, True, True),
        ("GET", _VER + r"/views$", _r_empty_dict, True, False),
        ("GET", _VER + r"/views/schemas$", _r_empty_dict, True, False),
        ("GET", r"^/schema/versions$", _r_schema_versions, True, False),
        ("GET", r"^/schema/api/v2/type$", _r_schema_types, True, False),
        ("GET", r"^/schema/api/v2/type/(?P<schema>[^/]+)$", _r_schema_type, True, False),
        ("GET", r"^/schema/api/v2/types_all$", _r_schema_all, True, False),
    ]
]


# -------------------------------------------------------------------------------- HTTP layer
class _HTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # the default backlog of 5 stalls many parallel clients on SYN retries
    app: CaveTestServer


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as caveclient's pooled sessions expect
    server_version = "CaveTestServer/1.0"
    timeout = 120  # idle keep-alive connections give up eventually
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        with self.server.app._lock:
            self.server.app._connections.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.server.app._lock:
                self.server.app._connections.discard(self.connection)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        if self.server.app.verbose:
            sys.stderr.write(f"[cave-test-server] {self.address_string()} {format % args}\n")

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        app = self.server.app
        try:
            reply = app.handle(method, self.path, self.headers, body)
        except Exception as e:  # a bug in the server: answer 500 rather than hang the client
            traceback.print_exc()
            reply = app._json(500, {"message": f"test server error: {type(e).__name__}: {e}"})
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            for k, v in reply.headers.items():
                self.send_header(k, v)
            self.end_headers()
            if reply.drop:
                self.wfile.write(reply.body[: len(reply.body) // 2])
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                return
            self.wfile.write(reply.body)
        except (BrokenPipeError, ConnectionResetError):  # the client went away mid-answer
            self.close_connection = True

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._serve("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._serve("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._serve("PUT")

    def do_DELETE(self) -> None:  # noqa: N802
        self._serve("DELETE")


# ------------------------------------------------------------------------------ command line
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.cave_server",
        description="Serve a synthetic datastack over CAVE's HTTP API; prints the URL on one line.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--datastack", default="demo", help="datastack name (default demo)")
    parser.add_argument("--data-seed", type=int, default=1181, help="SyntheticDatastack seed")
    parser.add_argument("--scale", type=float, default=1.0, help="SyntheticDatastack scale")
    parser.add_argument("--token", default="test-token", help="required token; '' disables auth")
    parser.add_argument("--row-cap", type=int, default=500_000, help="0 means no cap")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per query request")
    parser.add_argument("--error-rate", type=float, default=0.0)
    parser.add_argument("--drop-rate", type=float, default=0.0)
    parser.add_argument("--max-concurrency", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0, help="fault RNG seed")
    parser.add_argument("--warm", action="store_true", help="build all tables before printing the URL")
    parser.add_argument("--verbose", action="store_true", help="log requests to stderr")
    args = parser.parse_args(argv)

    from ingest.synthetic import SyntheticDatastack

    ds = SyntheticDatastack(name=args.datastack, seed=args.data_seed, scale=args.scale)
    server = CaveTestServer(
        ds,
        token=args.token or None,
        row_cap=args.row_cap or None,
        latency=args.latency,
        error_rate=args.error_rate,
        drop_rate=args.drop_rate,
        max_concurrency=args.max_concurrency,
        seed=args.seed,
        host=args.host,
        port=args.port,
        verbose=args.verbose,
    )
    if args.warm:
        server.warm()

    def _term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _term)
    server.start()
    print(server.url, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
