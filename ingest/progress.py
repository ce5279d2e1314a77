"""Progress bars for long ingests: chunks, rows, rate and ETA on a terminal, silent elsewhere.

Bars go to stderr so that data on stdout stays clean, and stay quiet when stderr is not a
terminal (CI logs, pipes) unless forced.
"""

from __future__ import annotations

import sys

from tqdm import tqdm


class Progress:
    def __init__(self, enabled: bool | None = None):
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.bar: tqdm | None = None
        self.rows = 0

    def start(self, table: str, version: int, total_chunks: int, done_chunks: int, done_rows: int) -> None:
        self.rows = done_rows
        self.bar = tqdm(
            total=total_chunks,
            initial=done_chunks,
            desc=f"{table} v{version}",
            unit="chunk",
            disable=not self.enabled,
            file=sys.stderr,
            dynamic_ncols=True,
            bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} chunks [{elapsed}<{remaining}{postfix}]",
        )
        self._postfix()

    def _postfix(self) -> None:
        if self.bar is not None:
            elapsed = self.bar.format_dict.get("elapsed") or 0
            rate = self.rows / elapsed if elapsed > 0.5 else 0
            self.bar.set_postfix_str(f"{self.rows:,} rows, {rate:,.0f} rows/s", refresh=False)

    def add_chunks(self, n: int) -> None:
        if self.bar is not None:
            self.bar.total += n
            self.bar.refresh()

    def chunk_done(self, rows: int) -> None:
        self.rows += rows
        if self.bar is not None:
            self._postfix()
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
