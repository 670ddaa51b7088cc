"""(query, document) pairs read from a data file in chunks, with their grades and ids.

Every problem names the file, the row and the column: a missing column, an empty file, bytes
that are not in the stated encoding."""

from __future__ import annotations

import itertools
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from protege.common.setting_names import setting

from .csv_sniff import locate_bad_text, resolve_encoding
from .files import file_format
from .formats import header_names, parquet_file, raw_batches
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
    """What a read kept and skipped, filled in as ``read_pairs`` goes.

    Args:
        rows: rows read into pairs.
        skipped: rows left out, by reason (an empty query, a missing grade, ...).

    Example::

        stats = ReadStats()
        pairs = read_pairs("train.csv", Columns("search_term", ("product_title",)), stats=stats)
        print(stats.rows, stats.skipped)
    """

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
    for _, table, _ in read_pair_blocks(path, columns, chunk_rows, encoding=encoding, stats=stats):
        if table.num_rows:
            yield table


def read_pair_blocks(
    path: str | Path,
    columns: Columns,
    block_rows: int,
    *,
    encoding: str = "utf-8",
    blocks: Collection[int] | None = None,
    stats: ReadStats | None = None,
) -> Iterator[tuple[int, pa.Table, int]]:
    """``(block, pairs, rows skipped)`` for each block of ``block_rows`` input rows (block ``i``:
    rows ``i * block_rows`` up to the next block), in input order, in one pass; only the ``blocks``
    given, where given (a parquet file's other row groups are not read). A block whose rows are all
    skipped comes as an empty table: each block comes once, a unit of work that can be redone.

    Example::

        for block, pairs, skipped in read_pair_blocks("pairs.parquet", Columns(), 1000, blocks={3, 7}):
            print(block, pairs.num_rows, skipped)  # rows 3000-3999, then 7000-7999
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
    block, first, pieces, row = -1, 0, [], 0

    def finish() -> tuple[int, pa.Table, int]:
        table = _normalise(pa.Table.from_batches(pieces), columns, first, stats, grades)
        return block, table, sum(piece.num_rows for piece in pieces) - table.num_rows

    for start, batch in _batches(path, columns, encoding, block_rows, blocks):
        if header is None:  # JSONL: the first chunk shows the columns
            header = batch.schema.names
            _check_columns(path, header, columns)
        for piece_start, piece in _cut_at_blocks(start, batch, block_rows):
            if piece_start // block_rows != block:
                if pieces:
                    yield finish()
                block, first, pieces = piece_start // block_rows, piece_start, []
            if blocks is None or block in blocks:
                pieces.append(piece)
        row = start + batch.num_rows
    if pieces:
        yield finish()
    if row == 0 and blocks is None:
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


def _batches(
    path: Path, columns: Columns, encoding: str, chunk_rows: int, blocks: Collection[int] | None
) -> Iterator[tuple[int, pa.RecordBatch]]:
    """``(first row, batch)`` over the file; of a parquet file read for some ``blocks``, only the
    row groups that hold rows of them."""
    wanted = columns.required() + list(ORIGIN_COLUMNS)
    groups: list[list[int] | None] = [None]
    starts = [0]
    if blocks is not None and file_format(path) == "parquet":
        metadata = parquet_file(path).metadata
        sizes = [metadata.row_group(group).num_rows for group in range(metadata.num_row_groups)]
        groups, starts = [], []
        for group, (low, high) in enumerate(itertools.pairwise(itertools.accumulate(sizes, initial=0))):
            held = range(low // chunk_rows, (high - 1) // chunk_rows + 1) if high > low else range(0)
            if any(block in blocks for block in held):
                groups.append([group])
                starts.append(low)
    try:
        for row_groups, row in zip(groups, starts, strict=True):
            for batch in raw_batches(path, encoding, chunk_rows, wanted, row_groups):
                yield row, batch
                row += batch.num_rows
    except pa.ArrowInvalid as error:
        if "UTF8" in str(error) or "utf8" in str(error).lower():
            raise DataError(locate_bad_text(path, encoding)) from None
        raise DataError(f"{path}: {error}") from None


def _cut_at_blocks(
    start: int, batch: pa.RecordBatch, block_rows: int
) -> Iterator[tuple[int, pa.RecordBatch]]:
    """``batch`` (input rows from ``start``) in pieces that each lie within one block."""
    offset = 0
    while offset < batch.num_rows:
        size = min(batch.num_rows - offset, block_rows - (start + offset) % block_rows)
        yield start + offset, batch.slice(offset, size)
        offset += size


def _check_columns(path: Path, names: list[str] | None, columns: Columns) -> None:
    if names is None:
        return
    roles = [("Columns.query", columns.query), *(("Columns.docs", name) for name in columns.docs)]
    roles += [
        ("Columns.doc_id", columns.doc_id),
        ("Columns.label", columns.label),
        ("Columns.pair_id", columns.pair_id),
    ]
    for role, name in roles:
        if name and name not in names:
            raise DataError(f"{path}: no column {name!r} for {setting(role)} (columns: {', '.join(names)})")


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
