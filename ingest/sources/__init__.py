"""Sources of CAVE tables: caveclient for a real server, the embedded synthetic demo datastack."""

from __future__ import annotations

from warehouse.config import DEMO, DatastackConfig


def open_source(
    cfg: DatastackConfig, server: str | None = None, token: str | None = None, row_cap: int | None = None
):
    """The source for a datastack: the demo generator for 'demo', caveclient for everything else."""
    if cfg.name == DEMO and not server:
        from ..synthetic import SyntheticDatastack
        from .demo import DemoSource

        return DemoSource(SyntheticDatastack(DEMO), row_cap=row_cap or cfg.row_cap)
    from .cave import CaveSource

    return CaveSource(cfg, server=server, token=token, row_cap=row_cap)
