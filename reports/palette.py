"""One colour per cell type, the same in every chart.

A reader learns "23P is blue" from one chart and carries it to the next; a per-chart colour scheme
(tableau20 over whatever types that chart happens to hold) silently repaints the types whenever the set
of types differs, and 4P ends up light blue in one chart and orange in another. Every chart that colours
by cell type therefore takes its scale from here.

Excitatory types get saturated, clearly different hues (they are most of the cells and sit side by side in
most charts); inhibitory types get the remaining distinct hues; 'unsure' and 'no type' are greys, so that
"not known" never looks like a type. A type outside the list (a new table's own label) gets a colour from a
spare list chosen by a stable hash of its name, so it keeps that colour across charts and runs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import altair as alt

__all__ = ["CELL_TYPE_COLORS", "NO_TYPE", "cell_type_color", "cell_type_order", "cell_type_scale"]

# What the reports call a proofread cell without a type in either table (see view proofread_cell_types).
NO_TYPE = "no type"

# Known MICrONS types in reading order: excitatory by layer, then inhibitory, then the unknowns.
# 5P-PT is the manual table's name for what the automatic table calls 5P-ET (pyramidal tract =
# extratelencephalic); both can appear in one merged chart, so they are kept apart but kin (red, pink).
CELL_TYPE_COLORS: dict[str, str] = {
    "23P": "#4e79a7",  # blue
    "4P": "#f28e2b",  # orange
    "5P-IT": "#59a14f",  # green
    "5P-ET": "#e15759",  # red
    "5P-PT": "#ff9d9a",  # pink (kin of 5P-ET)
    "5P-NP": "#b07aa1",  # purple
    "6P-IT": "#edc948",  # yellow
    "6P-CT": "#9c755f",  # brown
    "BC": "#17becf",  # cyan
    "BPC": "#b6992d",  # olive
    "MC": "#d37295",  # magenta
    "NGC": "#1f3a93",  # navy
    "unsure": "#bab0ac",  # light grey
    NO_TYPE: "#6f6f6f",  # dark grey
}

# Colours not used above, for types this module does not know; picked by hash, so collisions are possible
# but stable.
_SPARE_COLORS: tuple[str, ...] = (
    "#8cd17d",
    "#a0cbe8",
    "#ffbe7d",
    "#d4a6c8",
    "#86bcb6",
    "#f1ce63",
    "#9d7660",
    "#499894",
)

_KNOWN = {name.casefold(): (i, color) for i, (name, color) in enumerate(CELL_TYPE_COLORS.items())}


def cell_type_color(cell_type: str | None) -> str:
    """The colour of one type; case does not matter ('Unsure' in the manual table is 'unsure').

    None is NO_TYPE. Unknown names hash with sha256, not ``hash()``, which Python salts per process.
    """
    key = (cell_type if cell_type is not None else NO_TYPE).casefold()
    if key in _KNOWN:
        return _KNOWN[key][1]
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return _SPARE_COLORS[int.from_bytes(digest[:4], "big") % len(_SPARE_COLORS)]


def cell_type_order(cell_types: Iterable[str | None]) -> list[str]:
    """The distinct types in reading order: known types as listed above, then unknown ones by name."""
    names = {t if t is not None else NO_TYPE for t in cell_types}
    return sorted(names, key=lambda t: (_KNOWN.get(t.casefold(), (len(_KNOWN), ""))[0], t))


def cell_type_scale(cell_types: Iterable[str | None]) -> alt.Scale:
    """A colour scale for the types a chart shows, each in its fixed colour.

    The domain holds only the chart's own types, so the legend lists no type the chart does not draw;
    the range is matched to it entry by entry, which is what keeps the colours fixed across charts.
    """
    domain = cell_type_order(cell_types)
    return alt.Scale(domain=domain, range=[cell_type_color(t) for t in domain])
