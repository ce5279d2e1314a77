"""Writing a lake warehouse's catalog without waiting for its readers.

DuckDB lets a file have one writer or any number of readers, never both: a notebook holding the
file read-only would keep every ingest out. A lake warehouse's rows are in the lake, so its DuckDB
file is only a catalog, small enough to copy: a writer works in a copy beside it
(`<file>.ingest`) and, when it closes, renames the copy over the file. A reader that holds the old
file keeps reading the version it opened (its inode stays until it closes), and sees the new
catalog when it opens the file again, never a partial one: a rename is atomic.

Writers take an exclusive lock (`<file>.writer.lock`) so two of them cannot race. A writer killed
midway leaves its copy; the next writer takes the lock and carries on in that copy, which holds
the killed run's finished chunks (so an ingest resumes, as in a single file).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from pathlib import Path

import duckdb

from .errors import WarehouseLocked


class WorkingCopy:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.work = self.path.with_name(self.path.name + ".ingest")
        self.lock_path = self.path.with_name(self.path.name + ".writer.lock")
        self._fd: int | None = None

    def acquire(self) -> Path:
        """Take the writer lock and return the copy to write (made now, or left by a killed run)."""
        fd = os.open(self.lock_path, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise WarehouseLocked(
                f"{self.path} is being written by another process (an ingest holds {self.lock_path.name}); "
                "wait for it to finish: readers are never kept out, only a second writer"
            ) from None
        self._fd = fd
        if not self.work.exists() and self.path.exists():
            tmp = self.work.with_name(self.work.name + ".tmp")
            shutil.copyfile(self.path, tmp)
            os.replace(tmp, self.work)
        return self.work

    def publish(self, con: duckdb.DuckDBPyConnection) -> None:
        """Checkpoint and close the copy, then rename it over the file; release the lock."""
        try:
            con.execute("CHECKPOINT")
            con.close()
            Path(str(self.work) + ".wal").unlink(missing_ok=True)  # nothing left in it after a checkpoint
            with open(self.work, "rb+") as f:
                os.fsync(f.fileno())
            os.replace(self.work, self.path)
            dir_fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        finally:
            self.release()

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._fd, fcntl.LOCK_UN)
                os.close(self._fd)
            self._fd = None
