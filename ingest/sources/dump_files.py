"""Reads CAVE materialization dump files as a stream of Arrow tables in the canonical schemas.

A dump is `{table}.csv.gz` (no header row) beside `{table}_header.csv` (`column,type` lines in the
data's column order). The full synapse table of one version is about 337 M rows in 20 GB, so the
reader never holds more than a few batches: ISA-L (igzip) inflates the file in a thread of its
own, pyarrow's streaming CSV reader parses it in another, and the caller takes ~1 M-row tables
from a small queue. Columns are mapped by the header file, never by position alone; anything the
role's schema does not expect (an unknown column, an unsplit position, a type that cannot hold
the values) is refused with a one-line message naming the column before a row is read.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

from warehouse.config import DatastackConfig
from warehouse.errors import SourceError
from warehouse.registry import ROLE_NAMES, role, schema_of

from .read_ahead import read_ahead

DATA_SUFFIX = ".csv.gz"
HEADER_SUFFIX = "_header.csv"

# Database type names (PostgreSQL's, as the header files give them) by the kind of value they hold.
INTEGER_TYPES = {"bigint", "integer", "smallint", "int", "int2", "int4", "int8", "serial", "bigserial"}
FLOAT_TYPES = {"double precision", "real", "float", "float4", "float8", "numeric", "decimal"}
BOOL_TYPES = {"boolean", "bool"}
TIMESTAMP_TZ_TYPES = {"timestamp with time zone", "timestamptz"}
TIMESTAMP_TYPES = {"timestamp without time zone", "timestamp"}
TEXT_TYPES = {"text", "character varying", "varchar", "character", "char", "string"}


class DumpError(SourceError):
    """A dump file that cannot be read as the table it claims to be; the message names the column."""


@dataclass(frozen=True)
class DumpTable:
    """One table's dump files and the role they fill."""

    role: str
    name: str  # the dump's table name, e.g. synapses_pni_2_v1_filtered_view
    data: Path
    header: Path

    @property
    def label(self) -> str:
        return self.data.name


def _normal_type(name: str) -> str:
    t = re.sub(r"\s+", " ", name.strip().lower())
    return re.sub(r"\(.*\)$", "", t).strip()  # varchar(64), numeric(10,2), timestamp(6) with...


def dump_names(cfg: DatastackConfig, role_name: str) -> list[str]:
    """File names a role's table is published under, tried in order: the datastack's own
    (datastacks.toml `[<ds>.dump_tables]`), then the registry's patterns for the configured name."""
    configured = cfg.extra.get("dump_tables", {}).get(role_name)
    names = [configured] if configured else []
    return names + [p.format(table=cfg.table(role_name)) for p in role(role_name).dump_names]


def find_dumps(path: Path, cfg: DatastackConfig, roles: list[str] | None = None) -> list[DumpTable]:
    """The dump tables at `path` (a version's folder, or one `.csv.gz` file), in role order."""
    path = Path(path)
    if not path.exists():
        raise DumpError(f"--dump {path} does not exist")
    wanted = list(roles or ROLE_NAMES)
    if path.is_file():
        if not path.name.endswith(DATA_SUFFIX):
            raise DumpError(f"--dump {path} is not a {DATA_SUFFIX} dump file (nor a folder of them)")
        name = path.name[: -len(DATA_SUFFIX)]
        for r in ROLE_NAMES:
            if name in dump_names(cfg, r):
                if r not in wanted:
                    raise DumpError(f"{path.name} holds the {r} table, which --tables leaves out")
                return [_table(r, name, path.parent)]
        known = ", ".join(n + DATA_SUFFIX for r in ROLE_NAMES for n in dump_names(cfg, r))
        raise DumpError(
            f"{path.name} is not a dump of a table configured for {cfg.name}; expected one of: {known}"
        )
    found = []
    for r in wanted:
        for name in dump_names(cfg, r):
            if (path / (name + DATA_SUFFIX)).exists():
                found.append(_table(r, name, path))
                break
    if not found:
        looked = ", ".join(n + DATA_SUFFIX for r in wanted for n in dump_names(cfg, r))
        raise DumpError(f"no dump files in {path}; looked for: {looked}")
    return found


def _table(role: str, name: str, folder: Path) -> DumpTable:
    header = folder / (name + HEADER_SUFFIX)
    if not header.exists():
        raise DumpError(f"{name}{DATA_SUFFIX} has no header file {header.name} beside it; download it too")
    return DumpTable(role, name, folder / (name + DATA_SUFFIX), header)


# ------------------------------------------------------------------------------------ the header
@dataclass(frozen=True)
class ColumnPlan:
    """How to read the data file: the CSV's columns, their parse types, and casts to the schema."""

    names: list[str]
    parse_types: dict[str, pa.DataType]
    schema: pa.Schema


def read_header(dump: DumpTable) -> list[tuple[str, str]]:
    try:
        text = dump.header.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise DumpError(f"cannot read {dump.header.name}: {exc}") from None
    columns = []
    for i, row in enumerate(csv.reader(text.splitlines()), start=1):
        if not row or not "".join(row).strip():
            continue
        if len(row) != 2 or not row[0].strip():
            raise DumpError(
                f"{dump.header.name} line {i} is not a 'column,type' pair: {','.join(row)[:80]!r}"
            )
        columns.append((row[0].strip(), row[1].strip()))
    if not columns:
        raise DumpError(f"{dump.header.name} lists no columns")
    return columns


def plan_columns(dump: DumpTable, header: list[tuple[str, str]]) -> ColumnPlan:
    """Match the header's columns to the role's schema by name and type, or say which one is wrong."""
    schema = schema_of(dump.role)
    where = f"{dump.header.name}"
    seen: set[str] = set()
    parse_types: dict[str, pa.DataType] = {}
    for name, type_name in header:
        if name in seen:
            raise DumpError(f"{where}: column {name} appears twice")
        seen.add(name)
        kind = _normal_type(type_name)
        if name not in schema.names:
            if all(f"{name}_{a}" in schema.names for a in "xyz"):
                raise DumpError(
                    f"{where}: column {name} ({type_name}) is an unsplit position; "
                    f"the reader takes positions split as {name}_x, {name}_y, {name}_z"
                )
            raise DumpError(
                f"{where}: column {name} ({type_name}) is not a column of the {dump.role} table "
                f"(expected: {', '.join(schema.names)})"
            )
        parse_types[name] = _parse_type(where, name, type_name, kind, schema.field(name).type)
    missing = [n for n in schema.names if n not in seen]
    if missing:
        raise DumpError(f"{where}: the {dump.role} table needs column(s) {', '.join(missing)}, absent here")
    return ColumnPlan([n for n, _ in header], parse_types, schema)


def narrow_plan(plan: ColumnPlan, columns: tuple[str, ...]) -> ColumnPlan:
    """The same file read for only `columns`: pyarrow still splits every line, but converts only
    these (half the parse's CPU for a synapse table's id and root ids; docs/benchmarks.md)."""
    return ColumnPlan(
        plan.names,
        {c: plan.parse_types[c] for c in columns},
        pa.schema([plan.schema.field(c) for c in columns]),
    )


def _parse_type(where: str, name: str, type_name: str, kind: str, target: pa.DataType) -> pa.DataType:
    ok: pa.DataType | None = None
    if pa.types.is_integer(target):
        ok = target if kind in INTEGER_TYPES else (pa.float64() if kind in FLOAT_TYPES else None)
    elif pa.types.is_floating(target):
        ok = target if kind in FLOAT_TYPES | INTEGER_TYPES else None
    elif pa.types.is_boolean(target):
        ok = target if kind in BOOL_TYPES else None
    elif pa.types.is_timestamp(target):
        ok = (
            target
            if kind in TIMESTAMP_TZ_TYPES
            else (pa.timestamp("us") if kind in TIMESTAMP_TYPES else None)
        )
    elif pa.types.is_string(target):
        ok = target if kind in TEXT_TYPES else None
    if ok is None:
        raise DumpError(f"{where}: column {name} has type '{type_name}', which cannot hold {target} values")
    return ok


# ------------------------------------------------------------------------------------ the data
# pyarrow's CSV parse block. Measured on 3 M synthetic synapse rows: 1-4 MB blocks cost ~0.50 CPU-s
# per million rows, 16 MB 0.58-0.63, 64 MB 1.1 (a block's tokens no longer stay in the CPU cache).
# End to end (10 M rows) the saving is within the noise of the shared machine, but the ingest's peak
# RSS drops from ~1.5 to ~1.2 GB: fewer rows are parsed ahead in blocks the queue cannot bound.
READ_BLOCK_BYTES = 4 << 20
_CSV_COLUMN = re.compile(r"CSV column #(\d+)")


def read_batches(dump: DumpTable, plan: ColumnPlan, rows_per_batch: int = 1_000_000) -> Iterator[pa.Table]:
    """Tables of about `rows_per_batch` rows in the role's schema, in file order.

    Parsing runs in a producer thread a couple of tables ahead (the queue bounds memory); a
    failure there (a truncated or corrupt file, a value that does not fit its column) is raised
    here, as one line that names the file and the column.
    """
    return read_ahead(
        _parse(dump, plan, rows_per_batch), lambda exc: _explain(dump, plan, exc), name="mwh-dump-reader"
    )


def _parse(dump: DumpTable, plan: ColumnPlan, rows_per_batch: int) -> Iterator[pa.Table]:
    from isal import igzip_threaded

    read_options = pacsv.ReadOptions(column_names=plan.names, block_size=READ_BLOCK_BYTES, use_threads=True)
    parse_options = pacsv.ParseOptions(
        delimiter=",", quote_char='"', double_quote=True, newlines_in_values=False
    )
    convert_options = pacsv.ConvertOptions(
        column_types=plan.parse_types,
        include_columns=list(plan.schema.names),
        true_values=["t", "true"],
        false_values=["f", "false"],
        null_values=[""],
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,
    )
    with igzip_threaded.open(dump.data, "rb", threads=1) as raw:
        reader = pacsv.open_csv(raw, read_options, parse_options, convert_options)
        pending: list[pa.RecordBatch] = []
        rows = 0
        for batch in reader:
            pending.append(batch)
            rows += batch.num_rows
            if rows >= rows_per_batch:
                yield _conform(pa.Table.from_batches(pending).combine_chunks(), plan)
                pending, rows = [], 0
        if pending:
            yield _conform(pa.Table.from_batches(pending).combine_chunks(), plan)


def _conform(table: pa.Table, plan: ColumnPlan) -> pa.Table:
    """Put the columns in the schema's order and cast the few that were parsed as another type.

    The table arrives as one chunk per column: DuckDB appends a single-chunk Arrow table about
    twice as fast as the same rows in the CSV reader's 16 MB blocks.
    """
    columns = []
    for field in plan.schema:
        col = table.column(field.name)
        if col.type != field.type:
            if pa.types.is_timestamp(col.type) and col.type.tz is None:
                col = col.cast(pa.timestamp("us")).cast(field.type)  # naive database timestamps are UTC
            else:
                try:
                    col = col.cast(field.type)  # safe: 12.5 does not become 12
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                    raise DumpError(f"column {field.name}: {str(exc).splitlines()[0]}") from None
        columns.append(col)
    return pa.Table.from_arrays(columns, schema=plan.schema)


def _explain(dump: DumpTable, plan: ColumnPlan, exc: BaseException) -> BaseException:
    """One line naming the file (and the column, when pyarrow says which) for a reader failure."""
    if isinstance(exc, KeyboardInterrupt | SystemExit):
        return exc
    text = " ".join(str(exc).split())
    if isinstance(exc, DumpError):
        return DumpError(f"{dump.label}: {text}")
    if isinstance(exc, EOFError) or "end-of-stream" in text or "ended before" in text:
        return DumpError(f"{dump.label} is truncated (the gzip stream ends early); download it again")
    name = type(exc).__name__
    if isinstance(exc, OSError) and not isinstance(exc, pa.ArrowException) or "gzip" in text.lower():
        if "Not a gzipped file" in text or "gzip" in text.lower() or name in ("BadGzipFile", "IsalError"):
            return DumpError(f"{dump.label} is not a valid gzip file ({text[:120]}); download it again")
        return DumpError(f"cannot read {dump.label}: {text[:200]}")
    if name == "IsalError" or "invalid" in text.lower() and "compress" in text.lower():
        return DumpError(f"{dump.label} is corrupt ({text[:120]}); download it again")
    m = _CSV_COLUMN.search(text)
    column = f" column {plan.names[int(m.group(1))]}:" if m and int(m.group(1)) < len(plan.names) else ""
    detail = re.sub(r"^.*?CSV column #\d+: ", "", text)[:200]
    return DumpError(f"{dump.label}:{column} {detail}")
