"""One neuron at one version: what it is, its top partners each way, and where it is at other versions.

Root ids are 64-bit integers that people paste from neuroglancer, CAVE or a spreadsheet (where they
often arrive as text or as a float that lost digits); they are checked here, so a typo is a one-line
error rather than an empty table, and they only ever reach SQL as the checked integer, written in
as a literal (see `_frame`).
"""

from __future__ import annotations

import numbers
import re
from dataclasses import dataclass
from typing import Any

import duckdb

from .errors import WarehouseError
from .frames import arrow_as, check_kind, relation_as

INT64_MAX = 2**63 - 1
DIRECTIONS = ("output", "input")
_DIGITS = re.compile(r"\d+")


def parse_root_id(value: Any) -> int:
    """A root id as a Python int, or a WarehouseError saying why the value cannot be one.

    Floats are refused even when whole: 864691135808473885.0 has already lost its last digits.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral | str):
        raise WarehouseError(
            f"root id must be an integer like 864691135808473885, not {type(value).__name__} {value!r}"
        )
    if isinstance(value, str):
        text = value.strip()
        if not _DIGITS.fullmatch(text):
            raise WarehouseError(f"root id must be digits only, like 864691135808473885, not {value!r}")
        number = int(text)
    else:
        number = int(value)
    if not 0 < number <= INT64_MAX:
        raise WarehouseError(
            f"root id {number} is out of range: root ids are positive 64-bit integers (at most {INT64_MAX})"
        )
    return number


def check_direction(direction: str) -> str:
    if direction not in DIRECTIONS:
        raise WarehouseError(f"direction must be 'output' or 'input', not {direction!r}")
    return direction


@dataclass(frozen=True)
class NeuronCard:
    """What `mwh neuron` prints and `Warehouse.neuron` returns."""

    root_id: int
    version: int
    summary: dict[str, Any]  # one row of the neuron_summary macro
    # The frames are of the kind asked for (frames.KINDS): polars unless told otherwise.
    outputs: Any  # top partners, from the partners macro
    inputs: Any
    history: Any  # root_history: the same nuclei at every version

    @property
    def known(self) -> bool:
        """Does the version's data mention this root at all (synapse, proofreading row or nucleus)?"""
        s = self.summary
        return bool(s["proofread"] or s["nucleus_id"] is not None or s["syn_out"] or s["syn_in"])


def partners(
    wh: Any,
    root_id: Any,
    version: int,
    direction: str = "output",
    top: int | None = None,
    *,
    kind: str = "polars",
) -> Any:
    """The partners macro for one root id and direction, largest first (all partners unless `top`)."""
    root = parse_root_id(root_id)
    check_direction(direction)
    check_kind(kind)
    wh.require(version, wh.roles_for("partners"))
    sql = f"FROM partners({root:d}, {int(version):d}, direction := '{direction}')"
    if top is not None:
        sql += f" LIMIT {int(top):d}"
    return _frame(wh, sql, kind)


def _frame(wh: Any, sql: str, kind: str) -> Any:
    """A macro's answer; its own refusals (unknown root id, synapses not all held) become a
    one-line WarehouseError carrying the macro's message, which names the command to run.

    The arguments are written into `sql` as literals, not bound: they are checked integers (and a
    direction from DIRECTIONS), and a table macro called with parameters is planned without their
    values, so DuckDB cannot skip row groups on the root id: partners took 55 ms bound against
    36 ms literal at 10 M rows (docs/benchmarks.md)."""
    try:
        return relation_as(wh.con.sql(sql), kind)
    except duckdb.InvalidInputException as exc:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WarehouseError(text.removeprefix("Invalid Input Error: ")) from None


def neuron_card(wh: Any, root_id: Any, version: int, top: int = 20, *, kind: str = "polars") -> NeuronCard:
    """The neuron's summary, its `top` partners each way and its history; refuses an unknown root."""
    root = parse_root_id(root_id)
    check_kind(kind)
    wh.require(version, wh.roles_for("partners", "neuron_summary", "root_history"))
    history = _frame(wh, f"FROM root_history({root:d})", "arrow")  # fails for a root no version knows
    try:
        summary = _frame(wh, f"FROM neuron_summary({root:d}, {int(version):d})", "arrow").to_pylist()[0]
    except WarehouseError as exc:
        if "is not in version" not in str(exc):
            raise
        raise WarehouseError(_unknown_root_message(root, version, history)) from None
    card = NeuronCard(
        root_id=root,
        version=version,
        summary=summary,
        outputs=partners(wh, root, version, "output", top, kind=kind),
        inputs=partners(wh, root, version, "input", top, kind=kind),
        history=arrow_as(history, kind),
    )
    if not card.known:
        raise WarehouseError(_unknown_root_message(root, version, history))
    return card


def _unknown_root_message(root: int, version: int, history: Any) -> str:
    """Say where the root does exist, and which root the same cell has at the asked version
    (`history`: root_history's rows as an arrow table)."""
    msg = f"root id {root} is not in version {version} of this warehouse (no synapse, proofreading row or nucleus)"
    rows = history.to_pylist()
    if not rows:
        return msg + "; check the id, or that its synapses were snapshotted (mwh ingest --synapses partners)"
    seen = sorted({r["version"] for r in rows if r["same_root"]})
    now = sorted({r["pt_root_id"] for r in rows if r["version"] == version})
    where = f"; it is a root at version {', '.join(map(str, seen))}" if seen else ""
    if now:
        return (
            msg
            + where
            + f"; at version {version} the same nucleus is root {now[0]} (try: mwh neuron {now[0]} --version {version})"
        )
    return msg + where
