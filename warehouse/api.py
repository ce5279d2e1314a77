"""Open a warehouse file from Python: the entry point for the CLI, the reports and notebooks.

>>> import warehouse
>>> wh = warehouse.open("warehouse.duckdb")          # read-only
>>> wh.view("proofread_cell_types", version=1181)    # a polars DataFrame
>>> wh.report("connectivity", version=1181)          # an Altair chart, shown inline in Jupyter
>>> wh.partners(864691135808473885, 1181)            # one neuron's output partners
>>> wh.diff(1078, 1181)                              # proofread cells between versions, by nucleus id
>>> wh.sql("FROM reciprocity WHERE version = $v", {"v": 1181})
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import duckdb

from . import catalog, extra_tables, schema, settings, snapshots
from .catalog_copy import WorkingCopy
from .config import DatastackConfig, datastack_config
from .connection import connect, fetch_one
from .errors import SchemaMismatch, WarehouseError
from .frames import polars_as, relation_as
from .registry import in_order
from .sqlfiles import view_roles
from .store import DuckStore

REPORTS_ENTRY_POINT = "microns_warehouse.reports"


class Warehouse:
    """An open warehouse file. Use as a context manager, or call `close()`."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        path: Path,
        config: DatastackConfig,
        read_only: bool,
        copy: WorkingCopy | None = None,
    ):
        self.con = con
        self.path = path
        self.config = config
        self.read_only = read_only
        self.upgraded = False  # opened for writing, and the schema or sql/ had to be (re-)applied
        self.schema_before: int | None = None  # the file's schema version when it was opened
        self._copy = copy  # a lake warehouse's writer works in a copy of the catalog
        self.lake = schema.lake_path(con)  # the lake folder its raw layer is in, or None

    @property
    def datastack(self) -> str:
        return self.config.name

    @functools.cached_property
    def store(self) -> DuckStore:
        """The raw layer's only writer (ingest uses it; readers use the views): the file itself,
        or the lake the warehouse was created with."""
        return schema.store_for(self.con, self.config)

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close; a lake warehouse's writer publishes its catalog now (a rename: readers that hold
        the old one keep it until they reopen) and the lake's manifest for other engines."""
        if self._copy is None:
            self.con.close()
            return
        copy, self._copy = self._copy, None
        try:
            from .lake_manifest import write_manifest

            write_manifest(self.con, self.lake)
        except BaseException:
            self.con.close()
            copy.release()
            raise
        copy.publish(self.con)

    def require(self, version: int, roles: tuple[str, ...] | list[str]) -> None:
        catalog.require_version(self.con, version, roles, self.datastack)

    def versions(self) -> list[int]:
        return snapshots.versions_held(self.con)

    def roles_for(self, *views: str) -> tuple[str, ...]:
        """The table roles these views read (from the sql/ files themselves), in dependency order."""
        found = view_roles()
        return tuple(in_order({r for v in views for r in found.get(v, ())}))

    def relation(self, name: str, version: int | None = None) -> duckdb.DuckDBPyRelation:
        """A lazy DuckDB relation over a view, filtered to one version if given."""
        if name not in self.view_names():
            raise WarehouseError(f"no view named '{name}'; views: {', '.join(self.view_names())}")
        rel = self.con.table(name)
        if version is not None and name in extra_tables.view_names(self.con):
            extra_tables.require(self.con, name, version, self.datastack)
            rel = rel.filter(duckdb.ColumnExpression("version") == duckdb.ConstantExpression(version))
        elif version is not None:
            self.require(version, self.roles_for(name))
            rel = rel.filter(duckdb.ColumnExpression("version") == duckdb.ConstantExpression(version))
        return rel

    def view(self, name: str, version: int | None = None, *, kind: str = "polars") -> Any:
        """A view at a version as a polars (default), pandas or arrow table."""
        return relation_as(self.relation(name, version), kind)

    def view_names(self) -> list[str]:
        rows = self.con.execute(
            "SELECT view_name FROM duckdb_views() WHERE NOT internal AND schema_name = 'main' ORDER BY 1"
        ).fetchall()
        return [r[0] for r in rows]

    def report(self, name: str, version: int, **options: Any):
        """A report as an Altair chart (displays inline in Jupyter).

        The charts live in the `reports` package, a layer above this core, which announces its
        builder under the entry point group `microns_warehouse.reports`; the core finds it there
        instead of importing upwards.
        """
        return _report_builder()(self, name, version, **options)

    def sql(self, query: str, params: list | dict | None = None, *, kind: str = "polars") -> Any:
        """Any query as a polars (default), pandas or arrow table; values go in `params`, never the text.

        >>> wh.sql("SELECT cell_type, count(*) AS n FROM proofread_cell_types WHERE version = $v GROUP BY ALL",
        ...        {"v": 1181})
        """
        rel = self.con.sql(query, params=params)
        if rel is None:
            raise WarehouseError("the query returned no result (a statement, not a SELECT)")
        return relation_as(rel, kind)

    def partners(
        self,
        root_id: int | str,
        version: int,
        direction: str = "output",
        *,
        top: int | None = None,
        kind: str = "polars",
    ) -> Any:
        """A neuron's partners by synapse count (the partners macro); direction 'output' or 'input'."""
        from .neuron import partners

        return partners(self, root_id, version, direction, top, kind=kind)

    def neuron(self, root_id: int | str, version: int, *, top: int = 20, kind: str = "polars"):
        """A NeuronCard: the neuron's summary, top partners each way, and its root ids at other
        versions (the frames as polars, pandas or arrow)."""
        from .neuron import neuron_card

        return neuron_card(self, root_id, version, top, kind=kind)

    def diff(self, v1: int, v2: int, *, kind: str = "polars") -> Any:
        """Proofread cells between two versions, keyed on nucleus id: same root, root changed, added, lost.

        `warehouse.diff.compare(wh, v1, v2)` also gives the counts and warnings that `mwh diff` prints.
        """
        from .diff import compare

        return polars_as(compare(self, v1, v2).cells, kind)


def _report_builder():
    from importlib.metadata import entry_points

    found = entry_points(group=REPORTS_ENTRY_POINT)
    if not found:
        raise WarehouseError(
            "no report builder is installed (entry point group microns_warehouse.reports); "
            "reinstall microns-warehouse with pip"
        )
    return next(iter(found)).load()


def open(path: Path | str | None = None, *, read_only: bool = True) -> Warehouse:  # noqa: A001
    """Open an existing warehouse; read-only unless asked, so readers never block each other."""
    path = Path(path) if path is not None else settings.db_path()
    if not read_only and path.exists() and _lake_of(path):
        return _open_lake_writer(path, None)
    con = connect(path, read_only=read_only)
    upgraded = False
    try:
        before = schema.check_file_schema(con, str(path), writable=not read_only)
        cfg = datastack_config(schema.file_datastack(con))
        if not read_only:
            upgraded = schema.upgrade(con, cfg)
    except BaseException:
        con.close()
        raise
    wh = Warehouse(con, path, cfg, read_only)
    wh.upgraded = not read_only and upgraded
    wh.schema_before = before
    return wh


def open_for_datastack(path: Path | str, datastack: str, lake: str | Path | None = None) -> Warehouse:
    """Open a file for writing, creating it for `datastack` if new; refuses another datastack's file.

    With `lake`, a new warehouse keeps its raw layer as Delta tables in that folder (the choice is
    made once: an existing warehouse keeps the store it was created with, and another is refused).
    """
    path = Path(path)
    cfg = datastack_config(datastack)
    existed = path.exists()
    held_lake = _lake_of(path) if existed else None
    if lake is not None:
        from . import lake as lakes

        lake = str(lakes.check_root(lake).resolve())
        if existed and held_lake != lake:
            raise SchemaMismatch(
                f"{path} keeps its raw layer {'in the lake ' + held_lake if held_lake else 'in the file itself'}; "
                "the lake is chosen when a warehouse is made: use a new --db (or mwh export to copy this one)"
            )
    if held_lake or lake is not None:
        return _open_lake_writer(path, datastack, lake)
    con = connect(path, read_only=False, create=True)
    try:
        if not existed or schema.file_schema_version(con) is None and _is_empty(con):
            schema.create(con, cfg)
        else:
            schema.check_file_schema(con, str(path), writable=True)
            held = schema.file_datastack(con)
            if held != datastack:
                raise SchemaMismatch(
                    f"{path} holds datastack '{held}', not '{datastack}'; use another --db for {datastack}"
                )
            schema.upgrade(con, cfg)
    except BaseException:
        con.close()
        raise
    return Warehouse(con, path, cfg, read_only=False)


def _lake_of(path: Path) -> str | None:
    """The lake a warehouse file was created with, read without taking the writer's lock."""
    con = connect(path, read_only=True)
    try:
        return schema.lake_path(con)
    finally:
        con.close()


def _open_lake_writer(path: Path, datastack: str | None, lake: str | None = None) -> Warehouse:
    """A lake warehouse opened for writing: in a working copy of its catalog (catalog_copy.py),
    published when the Warehouse closes, so readers of the file are never kept out."""
    copy = WorkingCopy(path)
    work = copy.acquire()
    try:
        existed = work.exists()
        con = connect(work, read_only=False, create=True)
        before = None  # a new catalog has no earlier schema
        try:
            if not existed:
                cfg = datastack_config(datastack)
                schema.create(con, cfg, lake=lake)
                upgraded = True
            else:
                before = schema.check_file_schema(con, str(path), writable=True)
                held = schema.file_datastack(con)
                if datastack is not None and held != datastack:
                    raise SchemaMismatch(
                        f"{path} holds datastack '{held}', not '{datastack}'; use another --db for {datastack}"
                    )
                cfg = datastack_config(held)
                upgraded = schema.upgrade(con, cfg)
            wh = Warehouse(con, path, cfg, read_only=False, copy=copy)
            wh.upgraded = upgraded
            wh.schema_before = before
            wh.store.clean()  # a killed writer's files no commit names; we hold the writer lock
            return wh
        except BaseException:
            con.close()
            raise
    except BaseException:
        copy.release()
        raise


def check_writable_for(path: Path | str, datastack: str) -> None:
    """Raise now if `path` cannot take snapshots of `datastack`, without creating or changing it."""
    path = Path(path)
    if not path.exists():
        if not path.parent.exists():
            connect(path, read_only=False, create=True)  # raises the one-line reason
        return
    con = connect(path, read_only=True)
    try:
        schema.check_file_schema(con, str(path), writable=True)
        held = schema.file_datastack(con)
    finally:
        con.close()
    if held != datastack:
        raise SchemaMismatch(
            f"{path} holds datastack '{held}', not '{datastack}'; use another --db for {datastack}"
        )


def _is_empty(con: duckdb.DuckDBPyConnection) -> bool:
    return fetch_one(con, "SELECT count(*) FROM duckdb_tables() WHERE NOT internal")[0] == 0
