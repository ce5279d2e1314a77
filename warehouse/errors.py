"""The warehouse's own errors.

Library code raises these; only the CLI turns them into one-line messages and exit codes, so a
notebook user gets a normal exception and a shell user never sees a traceback.
"""

from __future__ import annotations


class WarehouseError(Exception):
    """Something the user can act on; the message says what went wrong and what to type next."""


class WarehouseLocked(WarehouseError):
    """Another process holds DuckDB's write lock on the file."""


class NotAWarehouse(WarehouseError):
    """The path is missing, a directory, unreadable or not a DuckDB file."""


class SchemaMismatch(WarehouseError):
    """The file was written by a newer warehouse, or for another datastack."""


class VersionNotSnapshotted(WarehouseError):
    """A view was asked for a version whose snapshot is not in the file."""


class NoCompleteNeuron(WarehouseError):
    """A report needs one neuron's every synapse, and the version holds no neuron's."""


class SourceError(WarehouseError):
    """The data source refused or failed a request in a way retrying will not fix."""


class RetryableSourceError(SourceError):
    """A transient failure (5xx, timeout, dropped connection) worth retrying with backoff."""


class AuthError(SourceError):
    """No CAVE token, or the server refused it."""


class IngestInterrupted(WarehouseError):
    """A snapshot stopped before completion; its finished chunks are kept for a re-run."""
