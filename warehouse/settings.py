"""Every setting a user can change from the environment, with its default, read in one place.

| variable          | what it sets                                             | default            |
|-------------------|----------------------------------------------------------|--------------------|
| MWH_DB            | the warehouse file when no --db is given                 | warehouse.duckdb   |
| MWH_DATASTACKS    | a TOML file of more datastacks (see datastacks.toml)     | none               |
| MWH_MEMORY_LIMIT  | DuckDB's memory limit ('8GB'; 'duckdb' for its own 80 %) | 2GB                |
| MWH_CAVE_TIMEOUT  | seconds caveclient waits for one answer                  | 300                |
| MWH_DEBUG         | any value: errors show their traceback                   | off                |
| CAVE_TOKEN        | the CAVE token, instead of caveclient's secrets file     | caveclient's file  |

The CAVE token is a secret: `cave_token()` hands it to the one caller that sends it and it is
never printed, logged or stored.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from .errors import WarehouseError

DEFAULT_DB = "warehouse.duckdb"
# DuckDB's own default is 80% of RAM, and a full scan of a version's synapses joins __rows to
# __fixed in a hash table that grows with the table (2.1 GB at 50 M rows, 5.1 GB at 100 M).
# With a limit DuckDB spills the join to <file>.tmp instead, at about the same speed (50 M rows:
# 5.0 s unlimited, 3.5 s at 2 GB, 5.0 s at 1 GB), so memory stays flat as the table grows.
DEFAULT_MEMORY_LIMIT = "2GB"
# DuckDB's buffer pool during a dump ingest; the reader adds a few ~1 M-row batches on top.
DUMP_MEMORY_LIMIT = "512MB"
# The public CAVE service answers at most this many rows a query; a datastack may say otherwise.
DEFAULT_ROW_CAP = 500_000
DEFAULT_CAVE_TIMEOUT = 300.0
CAVE_TIMEOUT_ENV = "MWH_CAVE_TIMEOUT"


def db_path() -> Path:
    return Path(os.environ.get("MWH_DB", DEFAULT_DB))


def datastacks_file() -> Path | None:
    extra = os.environ.get("MWH_DATASTACKS")
    return Path(extra) if extra else None


def memory_limit() -> str | None:
    """The memory limit for DuckDB: MWH_MEMORY_LIMIT, or 2 GB; None for DuckDB's own default."""
    value = os.environ.get("MWH_MEMORY_LIMIT", "").strip() or DEFAULT_MEMORY_LIMIT
    if value.lower() == "duckdb":
        return None
    if not re.fullmatch(r"\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)", value, re.IGNORECASE):
        raise WarehouseError(
            f"MWH_MEMORY_LIMIT={value!r} is not a size; give one like '2GB' or '512MB', or 'duckdb' for DuckDB's default"
        )
    return value


def cave_timeout() -> float:
    raw = os.environ.get(CAVE_TIMEOUT_ENV)
    if not raw:
        return DEFAULT_CAVE_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        raise WarehouseError(f"${CAVE_TIMEOUT_ENV} must be a number of seconds, not '{raw}'") from None
    if value <= 0:
        raise WarehouseError(f"${CAVE_TIMEOUT_ENV} must be positive, not {raw}")
    return value


def cave_token() -> str | None:
    """$CAVE_TOKEN when set (else caveclient's own secrets file is read by the source)."""
    return (os.environ.get("CAVE_TOKEN") or "").strip() or None


def debug() -> bool:
    return bool(os.environ.get("MWH_DEBUG"))
