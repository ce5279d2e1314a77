"""Reading a few batches ahead of the caller in a thread of its own, for the file readers.

Parsing a dump or scanning a Delta export overlaps the caller's DuckDB appends on two cores; the
queue bounds how many batches are alive at once, so memory stays flat however big the file is. A
failure in the reader is raised in the caller's thread, through `explain` (one line naming the
file and the column), and a caller that stops early stops the reader too.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

T = TypeVar("T")
_END = object()


def read_ahead(
    items: Iterator[T],
    explain: Callable[[BaseException], BaseException],
    *,
    depth: int = 2,
    name: str = "mwh-reader",
) -> Iterator[T]:
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(_END)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            q.put(exc)

    thread = threading.Thread(target=produce, name=name, daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise explain(item) from None
            yield item
    finally:
        stop.set()
        while thread.is_alive():
            with contextlib.suppress(queue.Empty):
                q.get(timeout=0.1)
        thread.join()
