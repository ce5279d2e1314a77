"""CAVE through the real caveclient: the notebook's path, made safe for long unattended runs.

caveclient is used as it is, never patched. What this module adds around it, and why:

- The row cap. CAVE truncates an answer at its cap and says so only in a response header
  (`Warning: 201 - "Limited query to N rows`), which caveclient merely logs. A response hook on the
  client's requests session reads that header for every answer, so an answer is reported as
  possibly truncated (header seen, or as many rows as the cap) whatever the logging setup is, and
  the job splits the chunk instead of storing part of it.
- Errors. caveclient raises requests' exceptions; they are sorted into retryable ones (5xx, 429,
  timeouts, dropped connections: `RetryableSourceError`, retried by the job with backoff) and final
  ones (bad token, unknown datastack, table or version: one line saying what to do).
- Timeouts. caveclient sets no request timeout, so a stuck server would hang a worker forever.
  Each client's sessions get an HTTP adapter with caveclient's own retry and pool settings plus a
  default timeout, and building a client (a few small GETs made before any session can be
  configured) has a deadline of its own.
- Threads. A requests session is not meant to be shared between threads, so each worker borrows a
  client from a small pool (one client per concurrent worker, reused across snapshots).
- Live snapshots (`at=`) go through caveclient's `live_live_query` (POST .../datastack/{ds}/query
  with a timestamp). Its filters are keyed by table, a reference table is joined explicitly
  (`join_tables` on target_id, the reference's colliding columns suffixed `_ref` as query_table
  does), and its row-cap warning has another wording ("... equal or more than limit of N"), which
  the response hook reads too. The endpoint leaves out `valid`/`superceded_id` (it answers only
  valid, current rows), so those are filled as true/null; it cannot count, so a live snapshot is
  checked by the cap and the chunk arithmetic, not against a server count. caveclient logs a
  "Deprecation" line through the root logger on every call; a filter drops that one message, so
  a long ingest does not print it once per chunk.
- Terms of service. A datastack whose terms the user has not accepted answers 403 `missing_tos`;
  caveclient then opens the form in a browser, and the error names the form's address.

The token is $CAVE_TOKEN or caveclient's own token file (found by caveclient's `AuthClient`:
``~/.cloudvolume/secrets/<server host>-cave-secret.json``, then ``cave-secret.json``). It is handed
to caveclient and never printed, logged or stored; error messages never quote it.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.compute as pc
import requests
from requests.adapters import HTTPAdapter

from warehouse import extra_tables, settings
from warehouse.config import DatastackConfig
from warehouse.errors import AuthError, RetryableSourceError, SourceError
from warehouse.registry import schema_of
from warehouse.tables import conform
from warehouse.timestamps import as_utc, format_timestamp

from ..chunks import Spec
from ..retry import RetryPolicy
from .base import Answer, VersionInfo

# The cap warning of a version query, and of a live query (MaterializationEngine words them apart).
_CAP_RES = (re.compile(r"Limited query to (\d+) rows"), re.compile(r"equal or more\s+than limit of (\d+)"))
# What a live answer leaves out, and what it is for the valid, current rows the endpoint returns.
_LIVE_DEFAULTS = {"valid": True, "valid_ref": True, "superceded_id": None}
_LIVE_NOTICE = "Deprecation: this method is to facilitate beta testing"
_notice_lock = threading.Lock()
# Status codes worth another try: request timeout, rate limited, and every server-side error.
_RETRYABLE_4XX = (408, 429)
_EXACT_FLOAT_INT = 2**53  # caveclient reads Arrow through pandas: an int column with nulls turns float
T = TypeVar("T")


class _TimeoutAdapter(HTTPAdapter):
    """caveclient's retry policy and pool size, plus the default timeout caveclient never sets."""

    def __init__(self, timeout: tuple[float, float], like: HTTPAdapter, pool_maxsize: int, pool_block: bool):
        super().__init__(pool_maxsize=pool_maxsize, pool_block=pool_block, max_retries=like.max_retries)
        self.timeout = timeout

    def send(self, request, stream=False, timeout=None, **kwargs):
        timeout = self.timeout if timeout is None else timeout
        return super().send(request, stream=stream, timeout=timeout, **kwargs)


@dataclass
class _Conn:
    """One caveclient client, used by one thread at a time, and what its last answer said of the cap."""

    client: Any
    cap: int | None = None

    def on_response(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        warning = response.headers.get("Warning", "")
        for pattern in _CAP_RES:
            m = pattern.search(warning)
            if m:
                self.cap = int(m.group(1))


class CaveSource:
    """A CAVE materialization service, read through caveclient (see the module docstring)."""

    label = "caveclient"
    supports_live = True

    def __init__(
        self,
        cfg: DatastackConfig,
        server: str | None = None,
        token: str | None = None,
        row_cap: int | None = None,
        *,
        timeout: float | None = None,
        retry: RetryPolicy | None = None,
    ):
        import caveclient

        self.cfg = cfg
        self.datastack = cfg.name
        self.server = (server or cfg.server_address).rstrip("/")
        self.row_cap = row_cap or cfg.row_cap
        self.timeout = float(timeout if timeout is not None else settings.cave_timeout())
        self.retry = retry or RetryPolicy()  # for the source's own calls (versions, counts)
        self.client_version = caveclient.__version__
        self.label = f"caveclient {caveclient.__version__} @ {self.server}"
        self._token = self._find_token(token)
        self._idle: queue.SimpleQueue[_Conn] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._references: dict[str, str | None] = {}  # table -> its reference table, for live joins
        self._described: dict[tuple[str, int], extra_tables.TableSchema] = {}  # tables of no role
        # Fail now, in one line, on a bad server, datastack or token, before the file is touched.
        self._idle.put(self._connect(at_start=True))

    def __repr__(self) -> str:  # never shows the token
        return f"CaveSource({self.datastack!r}, {self.server!r})"

    # ------------------------------------------------------------------------------ the token
    def _find_token(self, token: str | None) -> str:
        """$CAVE_TOKEN, else the file caveclient itself would read for this server."""
        token = (token or "").strip() or settings.cave_token()
        if token is None:
            from caveclient.auth import AuthClient

            try:
                token = AuthClient(server_address=self.server).token
            except (OSError, ValueError):  # an unreadable or malformed token file; never quote it
                raise AuthError(
                    "cannot read caveclient's token file under ~/.cloudvolume/secrets; "
                    + _how_to_set_token(self.server)
                ) from None
        if not isinstance(token, str) or not token.strip():
            raise AuthError(f"no CAVE token found for {self.server}; " + _how_to_set_token(self.server))
        return token.strip()

    # ------------------------------------------------------------------------------ clients
    def _connect(self, at_start: bool = False) -> _Conn:
        """A new client, built within the timeout: its first requests go out before any session
        can be given a timeout, so the whole construction runs in a helper thread with a deadline."""
        box: queue.SimpleQueue = queue.SimpleQueue()

        def build() -> None:
            try:
                box.put((True, self._build_client()))
            except BaseException as exc:  # handed to the waiting thread, which explains it
                box.put((False, exc))

        threading.Thread(target=build, name="mwh-cave-connect", daemon=True).start()
        deadline = 2 * self.timeout  # a handful of small GETs; a healthy server answers them at once
        try:
            ok, value = box.get(timeout=deadline)
        except queue.Empty:
            cls = SourceError if at_start else RetryableSourceError
            raise cls(
                f"the CAVE server {self.server} did not answer within {deadline:.0f} s while connecting; "
                f"try again later (or raise ${settings.CAVE_TIMEOUT_ENV})"
            ) from None
        if not ok:
            raise self._explain(value, "connecting", at_start=at_start) from None
        conn = _Conn(value)
        value.materialize.session.hooks["response"].append(conn.on_response)
        return conn

    def _build_client(self) -> Any:
        import caveclient
        from caveclient import CAVEclient

        client = CAVEclient(
            self.datastack, server_address=self.server, auth_token=self._token, write_server_cache=False
        )
        mat = client.materialize  # built now, so that every later request goes through a timeout
        defaults = caveclient.get_session_defaults()
        timeout = (min(30.0, self.timeout), self.timeout)
        for session in (client.info.session, mat.session):
            old = {prefix: session.get_adapter(prefix) for prefix in ("http://", "https://")}
            for prefix, adapter in old.items():
                session.mount(
                    prefix,
                    _TimeoutAdapter(timeout, adapter, defaults["pool_maxsize"], defaults["pool_block"]),
                )
            for adapter in set(old.values()):
                adapter.close()  # its pooled connections would otherwise linger until collected
        return client

    @contextmanager
    def _borrow(self) -> Iterator[_Conn]:
        try:
            conn = self._idle.get_nowait()
        except queue.Empty:
            conn = self._connect()
        try:
            yield conn
        finally:
            self._idle.put(conn)

    def _call(self, doing: str, fn: Callable[[Any], T]) -> T:
        """A request of the source's own (not a chunk), retried like chunks are."""
        attempt = 1
        while True:
            try:
                with self._borrow() as conn:
                    return fn(conn.client)
            except Exception as exc:  # noqa: BLE001 - caveclient raises many kinds; _explain sorts them
                error = self._explain(exc, doing)
            if attempt >= self.retry.attempts or not isinstance(error, RetryableSourceError):
                raise error
            time.sleep(self.retry.delay(attempt))
            attempt += 1

    # ------------------------------------------------------------------------------ errors
    def _explain(self, exc: BaseException, doing: str, at_start: bool = False) -> SourceError:
        """One line for a caveclient failure, retryable or not. Never quotes the token."""
        if isinstance(exc, SourceError):
            return exc
        name = type(exc).__name__
        if name == "AuthException":  # caveclient: the server redirected to a login page
            return AuthError(
                f"the CAVE server {self.server} asked for a login while {doing}; "
                + _how_to_set_token(self.server)
            )
        if isinstance(exc, requests.HTTPError):
            code = _status(exc)
            detail = _server_message(exc)
            tos = _terms_of_service_url(exc) if code == 403 else None
            if tos:
                return AuthError(
                    f"datastack '{self.datastack}' is served only to users who accepted its terms of service: "
                    f"open {tos} (caveclient may have opened it in a browser), accept, then run the same command again"
                )
            if code in (401, 403):
                return AuthError(
                    f"the CAVE server refused the token ({code}: {detail}) while {doing}; "
                    + _how_to_set_token(self.server)
                )
            if code == 404 and doing == "connecting":
                return SourceError(
                    f"the CAVE server {self.server} does not know datastack '{self.datastack}' ({detail}); "
                    "check --datastack and --server"
                )
            if code == 404:
                return SourceError(
                    f"not found on the CAVE server while {doing}: {detail}; "
                    "check the version ('mwh versions') and the table names in datastacks.toml"
                )
            if code is not None and (code >= 500 or code in _RETRYABLE_4XX):
                return RetryableSourceError(f"server error {code} while {doing}: {detail}")
            return SourceError(f"the CAVE server answered {code} while {doing}: {detail}")
        transient = (
            requests.ConnectionError,
            requests.Timeout,
            requests.exceptions.ChunkedEncodingError,
            requests.exceptions.ContentDecodingError,
            pa.ArrowInvalid,
            EOFError,
        )
        if isinstance(exc, transient) or "ProtocolError" in name or "IncompleteRead" in name:
            kind = "timed out" if _is_timeout(exc) else "connection failed or dropped"
            if at_start:
                return SourceError(
                    f"cannot reach the CAVE server {self.server} ({name}, {kind}); "
                    "check --server and the network"
                )
            return RetryableSourceError(f"{name} while {doing} ({kind})")
        text = str(exc).strip().splitlines()
        return SourceError(f"{name} while {doing}: {text[0][:200] if text else ''}")

    # ------------------------------------------------------------------------------ the protocol
    def versions(self, include_expired: bool = True) -> list[VersionInfo]:
        def ask(client: Any) -> tuple[set[int], list[dict]]:
            mat = client.materialize
            return set(mat.get_versions(expired=False)), mat.get_versions_metadata(expired=True)

        available, metadata = self._call(f"listing the versions of {self.datastack}", ask)
        out = []
        for m in metadata:
            v = int(m["version"])
            info = VersionInfo(
                v, as_utc(m.get("time_stamp")), as_utc(m.get("expires_on")), v not in available
            )
            if include_expired or not info.expired:
                out.append(info)
        return sorted(out, key=lambda i: i.version)

    def list_tables(self, version: int) -> list[dict]:
        """Every table's metadata at a version, as the server lists it (one request)."""

        def ask(client: Any) -> list[dict]:
            return list(client.materialize.get_tables_metadata(version=version, log_warning=False))

        return self._call(f"listing the tables of {self.datastack} v{version}", ask)

    def describe(self, table: str, version: int) -> extra_tables.TableSchema:
        """A table's stored columns from its metadata and the schema service's definition (and its
        reference target's): what a table that plays no role is typed by, before any row arrives."""
        key = (table, version)
        with self._lock:
            if key in self._described:
                return self._described[key]
        doing = f"describing {table} v{version}"

        def ask(client: Any) -> tuple:
            mat = client.materialize
            md = mat.get_table_metadata(table, version=version, log_warning=False)
            ref = md.get("reference_table") or None
            ref_md = mat.get_table_metadata(ref, version=version, log_warning=False) if ref else None
            return md, self._schema_json(client, md, table), ref_md, self._schema_json(client, ref_md, ref)

        md, schema, ref_md, ref_schema = self._call(doing, ask)
        described = extra_tables.describe(md, schema, ref_md, ref_schema)
        with self._lock:
            self._described[key] = described
        return described

    @staticmethod
    def _schema_json(client: Any, md: dict | None, table: str | None) -> dict | None:
        if md is None:
            return None
        name = md.get("schema_type") or md.get("schema")
        try:
            return client.schema.schema_definition(name)
        except requests.HTTPError as exc:
            if _status(exc) == 404:
                raise SourceError(
                    f"the CAVE schema service does not know schema type '{name}' of table {table}"
                ) from None
            raise

    def fetch(self, table: str, role: str, version: int, spec: Spec, *, at: datetime | None = None) -> Answer:
        if at is not None:
            return self._fetch_live(table, role, spec, at)
        doing = f"querying {table} v{version}"
        with self._borrow() as conn:
            conn.cap = None
            try:
                df = conn.client.materialize.query_table(
                    table,
                    materialization_version=version,
                    split_positions=True,
                    log_warning=False,  # the cap header is read by the hook, not printed per chunk
                    **_filters(spec),
                )
            except Exception as exc:  # noqa: BLE001 - sorted into retryable or final by _explain
                raise self._explain(exc, doing) from None
            cap = conn.cap
        return self._answer(pa.Table.from_pandas(df, preserve_index=False), role, table, doing, cap, version)

    def _fetch_live(self, table: str, role: str, spec: Spec, at: datetime) -> Answer:
        """One chunk of the table as it was at `at`, through caveclient's live query."""
        doing = f"querying {table} live at {format_timestamp(at)}"
        _drop_live_query_notice()
        with self._borrow() as conn:
            conn.cap = None
            try:
                kwargs = {k: {table: v} for k, v in _filters(spec).items()}  # live filters name their table
                ref = self._reference_table(conn.client, table)
                if ref:  # query_table joins a reference table by itself; the live query must be told
                    kwargs["joins"] = [[table, "target_id", ref, "id"]]
                    kwargs["suffixes"] = {table: "", ref: "_ref"}
                with self._lock:
                    limit = self.row_cap  # an answer this long is cut, whether or not a warning says so
                df = conn.client.materialize.live_live_query(
                    table, at, limit=limit, split_positions=True, metadata=False, log_warning=False, **kwargs
                )
            except Exception as exc:  # noqa: BLE001 - sorted into retryable or final by _explain
                raise self._explain(exc, doing) from None
            cap = conn.cap
        data = pa.Table.from_pandas(df, preserve_index=False)
        schema = schema_of(role)
        for name, value in _LIVE_DEFAULTS.items():
            if name in schema.names and name not in data.column_names:
                typ = schema.field(name).type
                data = data.append_column(name, pa.array([value] * data.num_rows, typ))
        return self._answer(data, role, table, doing, cap)

    def _reference_table(self, client: Any, table: str) -> str | None:
        with self._lock:
            if table in self._references:
                return self._references[table]
        ref = client.materialize.get_table_metadata(table, log_warning=False).get("reference_table") or None
        with self._lock:
            self._references[table] = ref
        return ref

    def _answer(
        self, data: pa.Table, role: str, table: str, doing: str, cap: int | None, version: int | None = None
    ) -> Answer:
        extra = self.describe(table, version) if extra_tables.is_extra_role(role) else None
        _refuse_rounded_ids(data, extra.arrow if extra else schema_of(role), doing)
        with self._lock:
            if cap is not None and cap < self.row_cap:
                self.row_cap = cap  # the server's cap is lower than configured: trust the server
            truncated = cap is not None or data.num_rows >= self.row_cap
        if extra is not None:
            return Answer(extra_tables.conform(data, extra, f"the CAVE server ({table})"), truncated)
        return Answer(conform(data, role, f"the CAVE server ({table})"), truncated)

    def count(
        self, table: str, version: int, spec: Spec | None = None, *, at: datetime | None = None
    ) -> int | None:
        """Rows a query returns, counted by the server with the very same query and filters (for a
        reference table that is the joined rows, which the table's own row count may not be).

        None at a timestamp: the live query has no count, so a live snapshot cannot be checked
        against one (the row cap and the chunk arithmetic still are)."""
        if at is not None:
            return None
        filters = _filters(spec) if spec is not None else {}

        def ask(client: Any) -> int:
            df = client.materialize.query_table(
                table, materialization_version=version, get_counts=True, log_warning=False, **filters
            )
            return int(df["count"].iloc[0])

        return self._call(f"counting {table} v{version}", ask)


# ---------------------------------------------------------------------------------- helpers
def _filters(spec: Spec) -> dict:
    """A chunk spec as query_table's filter arguments (its semantics are chunks.matches)."""
    kwargs: dict = {}
    if spec["in"]:
        kwargs["filter_in_dict"] = {col: [_plain(i) for i in ids] for col, ids in spec["in"].items()}
    lo, hi = spec["id_range"]
    if lo is not None:
        kwargs["filter_greater_equal_dict"] = {"id": int(lo)}
    if hi is not None:
        kwargs["filter_less_dict"] = {"id": int(hi)}
    return kwargs


def _plain(value: Any) -> Any:
    """A filter value as JSON takes it: ids as int (numpy ints are not JSON), strings and floats as they are."""
    if isinstance(value, str | float | bool):
        return value
    return int(value)


class _DropLiveQueryNotice(logging.Filter):
    """caveclient's live_live_query logs a beta notice through the root logger on every call."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(_LIVE_NOTICE)


def _drop_live_query_notice() -> None:
    root = logging.getLogger()
    with _notice_lock:
        if not any(isinstance(f, _DropLiveQueryNotice) for f in root.filters):
            root.addFilter(_DropLiveQueryNotice())


def _refuse_rounded_ids(data: pa.Table, schema: pa.Schema, doing: str) -> None:
    """An int64 column that came back as float (caveclient goes through pandas, where an integer
    column with a null turns float) is exact only below 2**53; root ids are not, so refuse."""
    for f in schema:
        if f.name not in data.column_names or not pa.types.is_integer(f.type):
            continue
        col = data.column(f.name)
        if pa.types.is_floating(col.type) and col.null_count < len(col):
            biggest = pc.max(pc.abs(col)).as_py()
            if biggest is not None and biggest >= _EXACT_FLOAT_INT:
                raise SourceError(
                    f"{doing}: column {f.name} arrived as floating point with values above 2^53, "
                    "so ids may have been rounded; nothing from this answer was stored"
                )


def _how_to_set_token(server: str) -> str:
    return (
        "set CAVE_TOKEN, or save a token the caveclient way: "
        f"python -c \"from caveclient import CAVEclient; CAVEclient.setup_token('{server}')\" "
        f"(new tokens: {server}/auth/api/v1/create_token)"
    )


def _status(exc: requests.HTTPError) -> int | None:
    if exc.response is not None:
        return exc.response.status_code
    m = re.match(r"(\d{3}) ", str(exc))
    return int(m.group(1)) if m else None


def _is_timeout(exc: BaseException) -> bool:
    text = str(exc).lower()
    return isinstance(exc, requests.Timeout) or "timed out" in text or "timeout" in text


def _terms_of_service_url(exc: requests.HTTPError) -> str | None:
    """The form's address when CAVE refuses a user who has not accepted the datastack's terms."""
    resp = exc.response
    if resp is None:
        return None
    try:
        body = resp.json()
    except ValueError:
        return None
    if not isinstance(body, dict) or body.get("error") != "missing_tos":
        return None
    data = body.get("data")
    url = data.get("tos_form_url") if isinstance(data, dict) else None
    return str(url) if url else "the datastack's terms-of-service page"


def _server_message(exc: requests.HTTPError) -> str:
    resp = exc.response
    if resp is not None:
        try:
            body = resp.json()
            if isinstance(body, dict):
                return str(body.get("message") or body.get("error") or body)[:200]
        except ValueError:
            pass
        return (resp.reason or resp.text or "")[:200].replace("\n", " ")
    return str(exc).split(" for url")[0][:200]
