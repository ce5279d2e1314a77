"""CAVE through the real caveclient: the notebook's path, made safe for long unattended runs.

caveclient returns pandas frames and reports the server's row cap only as a log line
(`Warning: 201 - "Limited query to N rows`), never as an error. This source listens for that line
in the fetching thread and reports the answer as possibly truncated, so the job splits the chunk
instead of storing a partial answer. Transient failures (5xx, timeouts, dropped connections) are
classified as retryable; a bad token, an unknown table or an expired version are not.

The token is caveclient's own (its secrets file) or $CAVE_TOKEN; it is passed to caveclient and
never printed, logged or stored.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from datetime import UTC, datetime

import pyarrow as pa
import requests

from warehouse.config import DatastackConfig
from warehouse.errors import AuthError, RetryableSourceError, SourceError
from warehouse.tables import conform

from ..chunks import Spec
from .base import Answer, VersionInfo

_CAP_RE = re.compile(r"Limited query to (\d+) rows")
_local = threading.local()


class _CapListener(logging.Filter):
    """Records the row-cap warning in the thread that made the request, and keeps it off the console."""

    def filter(self, record: logging.LogRecord) -> bool:
        m = _CAP_RE.search(record.getMessage())
        if m:
            _local.cap_hit = int(m.group(1))
            return False
        return True


_LISTENER = _CapListener()
logging.getLogger("caveclient.base").addFilter(_LISTENER)


def _status(exc: requests.HTTPError) -> int | None:
    if exc.response is not None:
        return exc.response.status_code
    m = re.match(r"(\d{3}) ", str(exc))
    return int(m.group(1)) if m else None


class CaveSource:
    label = "caveclient"

    def __init__(
        self,
        cfg: DatastackConfig,
        server: str | None = None,
        token: str | None = None,
        row_cap: int | None = None,
    ):
        import caveclient

        self.cfg = cfg
        self.datastack = cfg.name
        self.server = server or cfg.server_address
        self.token = token if token is not None else os.environ.get("CAVE_TOKEN") or None
        self.row_cap = row_cap or cfg.row_cap
        self.client_version = caveclient.__version__
        self.label = f"caveclient {caveclient.__version__} @ {self.server}"
        self._clients = threading.local()
        self.client()  # fail early, in one line, on a bad server, datastack or token

    # ------------------------------------------------------------------------------ the client
    def client(self):
        client = getattr(self._clients, "client", None)
        if client is None:
            client = self._clients.client = self._make_client()
        return client

    def _make_client(self):
        from caveclient import CAVEclient

        try:
            client = CAVEclient(
                self.datastack, server_address=self.server, auth_token=self.token, write_server_cache=False
            )
        except Exception as exc:  # noqa: BLE001 - caveclient raises many kinds; each becomes one line
            raise self._explain(exc, "connecting") from None
        if not client.auth.token:
            raise AuthError(_no_token(self.server))
        return client

    def _explain(self, exc: Exception, doing: str) -> Exception:
        name = type(exc).__name__
        if name == "AuthException":
            return AuthError(_no_token(self.server))
        if isinstance(exc, requests.HTTPError):
            code = _status(exc)
            if code in (401, 403):
                return AuthError(
                    f"the CAVE server refused the token ({code}) while {doing}; get a new one "
                    f"({self.server}/auth/api/v1/create_token) and set CAVE_TOKEN"
                )
            if code == 404:
                return SourceError(f"not found on {self.server} while {doing}: {_server_message(exc)}")
            if code is not None and code >= 500:
                return RetryableSourceError(f"server error {code} while {doing}")
            return SourceError(f"the CAVE server answered {code} while {doing}: {_server_message(exc)}")
        if isinstance(
            exc, requests.ConnectionError | requests.Timeout | requests.exceptions.ChunkedEncodingError
        ):
            if doing == "connecting":
                return SourceError(
                    f"cannot reach the CAVE server {self.server} ({name}); check --server and the network"
                )
            return RetryableSourceError(f"{name} while {doing}")
        if "ProtocolError" in name or "IncompleteRead" in name or isinstance(exc, pa.ArrowInvalid | EOFError):
            return RetryableSourceError(f"{name} while {doing} (connection dropped mid-answer)")
        if isinstance(exc, ValueError) and "does not exist" in str(exc).lower():
            return SourceError(str(exc).splitlines()[0])
        return SourceError(f"{name} while {doing}: {str(exc).splitlines()[0] if str(exc) else ''}")

    # ------------------------------------------------------------------------------ the protocol
    def versions(self, include_expired: bool = True) -> list[VersionInfo]:
        mat = self.client().materialize
        try:
            available = set(mat.get_versions(expired=False))
            metadata = mat.get_versions_metadata(expired=True)
        except Exception as exc:  # noqa: BLE001
            raise self._explain(exc, "listing versions") from None
        out = []
        for m in metadata:
            v = int(m["version"])
            info = VersionInfo(
                v, _naive_utc(m.get("time_stamp")), _naive_utc(m.get("expires_on")), v not in available
            )
            if include_expired or not info.expired:
                out.append(info)
        return sorted(out, key=lambda i: i.version)

    def fetch(self, table: str, role: str, version: int, spec: Spec) -> Answer:
        kwargs: dict = {}
        if spec["in"]:
            kwargs["filter_in_dict"] = {col: list(ids) for col, ids in spec["in"].items()}
        lo, hi = spec["id_range"]
        if lo is not None:
            kwargs["filter_greater_equal_dict"] = {"id": lo}
        if hi is not None:
            kwargs["filter_less_dict"] = {"id": hi}
        _local.cap_hit = None
        try:
            df = self.client().materialize.query_table(
                table, materialization_version=version, split_positions=True, log_warning=True, **kwargs
            )
        except Exception as exc:  # noqa: BLE001
            raise self._explain(exc, f"querying {table} v{version}") from None
        cap_hit = _local.cap_hit
        data = pa.Table.from_pandas(df, preserve_index=False)
        truncated = cap_hit is not None or data.num_rows >= self.row_cap
        if cap_hit is not None and cap_hit < self.row_cap:
            self.row_cap = cap_hit  # the server's real cap is lower than configured: trust the server
        return Answer(conform(data, role, f"the CAVE server ({table})"), truncated)

    def count(self, table: str, version: int) -> int | None:
        try:
            return int(self.client().materialize.get_annotation_count(table, version=version))
        except Exception as exc:  # noqa: BLE001
            raise self._explain(exc, f"counting {table} v{version}") from None


def _no_token(server: str) -> str:
    return (
        "no CAVE token found; set CAVE_TOKEN, or save one the caveclient way: "
        "python -c \"import caveclient; caveclient.CAVEclient().auth.save_token(token='...')\" "
        f"(get a token at {server}/auth/api/v1/create_token)"
    )


def _server_message(exc: requests.HTTPError) -> str:
    resp = exc.response
    if resp is not None:
        try:
            body = resp.json()
            if isinstance(body, dict):
                return str(body.get("message") or body.get("error") or body)[:200]
        except ValueError:
            pass
        return (resp.text or resp.reason or "")[:200]
    return str(exc).split(" for url")[0]


def _naive_utc(value) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value
