"""(query, document) pairs read from a data file in chunks, with their grades and ids.

Every problem names the file, the row and the column: a missing column, an empty file, bytes
that are not in the stated encoding."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from .csv_sniff import locate_bad_text, resolve_encoding
from .formats import header_names, raw_batches
from .grades import Grades
from .spec import Columns, DataError

PAIR_SCHEMA = pa.schema(
    [
        ("pair_id", pa.string()),
        ("query", pa.string()),
        ("document", pa.string()),
        ("doc_id", pa.string()),
        ("label", pa.float64()),
    ]
)


# Columns written by `protege augment` that travel with a pair through labelling.
ORIGIN_COLUMNS = ("origin_query", "origin_doc_id", "strategy", "retrieval")


@dataclass
class ReadStats:
    rows: int = 0
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str, count: int) -> None:
        if count:
            self.skipped[reason] = self.skipped.get(reason, 0) + count


def read_pairs(
    path: str | Path,
    columns: Columns,
    *,
    encoding: str = "utf-8",
    chunk_rows: int = 65536,
    stats: ReadStats | None = None,
) -> Iterator[pa.Table]:
    """Yields tables of ``PAIR_SCHEMA`` (plus origin columns when the input has them), in
    input order. ``pair_id`` is the ``pair_id`` column when mapped, else the 0-based row
    number. Rows with an empty query or document are skipped and counted in ``stats``.

    Example::

        for chunk in read_pairs("train.csv", Columns("search_term", ("product_title",)), encoding="latin-1"):
            print(chunk.num_rows)
    """
    path = Path(path)
    stats = stats if stats is not None else ReadStats()
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty")
    encoding = resolve_encoding(path, encoding)
    header = header_names(path, encoding)
    _check_columns(path, header, columns)
    grades = Grades(path, columns, encoding)
    row = 0
    for batch in _batches(path, columns, encoding, chunk_rows):
        if header is None:  # JSONL: the first chunk shows the columns
            header = batch.schema.names
            _check_columns(path, header, columns)
        table = _normalise(pa.Table.from_batches([batch]), columns, row, stats, grades)
        row += batch.num_rows
        if table.num_rows:
            yield table
    if row == 0:
        raise DataError(f"{path}: no data rows")
    stats.rows = row


def read_table(path: str | Path, columns: Columns, *, encoding: str = "utf-8") -> pa.Table:
    """The whole file as one ``PAIR_SCHEMA`` table (for sets that fit in memory: training,
    evaluation, a distillation pool)."""
    stats = ReadStats()
    tables = list(read_pairs(path, columns, encoding=encoding, stats=stats))
    if not tables:
        reasons = ", ".join(f"{count} {reason}" for reason, count in stats.skipped.items())
        raise DataError(f"{path}: every row was skipped ({reasons})")
    return pa.concat_tables(tables)


def _batches(path: Path, columns: Columns, encoding: str, chunk_rows: int) -> Iterator[pa.RecordBatch]:
    wanted = columns.required() + list(ORIGIN_COLUMNS)
    try:
        yield from raw_batches(path, encoding, chunk_rows, wanted)
    except pa.ArrowInvalid as error:
        if "UTF8" in str(error) or "utf8" in str(error).lower():
            raise DataError(locate_bad_text(path, encoding)) from None
        raise DataError(f"{path}: {error}") from None


def _check_columns(path: Path, names: list[str] | None, columns: Columns) -> None:
    if names is None:
        return
    roles = [("query", columns.query), *(("doc", name) for name in columns.docs)]
    roles += [("doc-id", columns.doc_id), ("label", columns.label), ("id", columns.pair_id)]
    for role, name in roles:
        if name and name not in names:
            raise DataError(f"{path}: no column {name!r} for --{role}-col (columns: {', '.join(names)})")


def _normalise(
    table: pa.Table, columns: Columns, first_row: int, stats: ReadStats, grades: Grades
) -> pa.Table:
    names = table.column_names
    rows = pa.array(range(first_row, first_row + table.num_rows), pa.int64())

    def text(name: str) -> pa.Array:
        return pc.utf8_trim_whitespace(pc.cast(table[name], pa.string()).combine_chunks())

    query = text(columns.query)
    # Empty parts become null so the join skips them instead of leaving a dangling separator.
    parts = [pc.if_else(pc.equal(part, ""), None, part) for part in map(text, columns.docs)]
    # With one part, binary_join_element_wise drops null rows instead of keeping them (pyarrow 26).
    document = (
        pc.binary_join_element_wise(*parts, columns.doc_separator, null_handling="skip")
        if len(parts) > 1
        else parts[0]
    )
    pair_id = text(columns.pair_id) if columns.pair_id else pc.cast(rows, pa.string())
    doc_id = text(columns.doc_id) if columns.doc_id else pa.nulls(table.num_rows, pa.string())
    label = (
        grades(table[columns.label], first_row) if columns.label else pa.nulls(table.num_rows, pa.float64())
    )
    out = pa.table([pair_id, query, document, doc_id, label], schema=PAIR_SCHEMA)
    for name in ORIGIN_COLUMNS:
        if name in names:
            out = out.append_column(name, pc.cast(table[name], pa.string()))
    keep = pc.and_(
        pc.greater(pc.utf8_length(pc.fill_null(query, "")), 0),
        pc.greater(pc.utf8_length(pc.fill_null(document, "")), 0),
    )
    stats.skip("empty query or document", table.num_rows - pc.sum(keep).as_py())
    return out.filter(keep)


def read_queries(path: Path, column: str, encoding: str = "auto") -> list[str]:
    """The distinct values of ``column`` of a file (a set of queries), in file order."""
    queries: dict[str, None] = {}
    for chunk in read_pairs(path, Columns(query=column, docs=(column,)), encoding=encoding):
        queries.update(dict.fromkeys(chunk["query"].to_pylist()))
    return list(queries)
