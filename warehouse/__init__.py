"""microns-warehouse: a local DuckDB warehouse of CAVE connectomics snapshots.

>>> import warehouse
>>> wh = warehouse.open("warehouse.duckdb")
>>> wh.view("proofread_neurons", version=1181)
"""

__version__ = "0.1.0"

from .api import Warehouse, open, open_for_datastack  # noqa: E402
from .errors import WarehouseError  # noqa: E402

__all__ = ["Warehouse", "WarehouseError", "open", "open_for_datastack", "__version__"]
