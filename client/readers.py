"""Reading (query, document) pairs from CSV (any encoding), JSONL or parquet, in chunks.

Every problem names the file, the row and the column: a missing column, an empty file,
bytes that are not in the stated encoding.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq

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


class DataError(ValueError):
    """A data file that cannot be read as asked."""


@dataclass(frozen=True)
class Columns:
    """Which input columns hold what. Several ``docs`` columns are joined into one document.

    Example::

        Columns(query="search_term", docs=("product_title", "product_description"), label="relevance")
    """

    query: str = "query"
    docs: tuple[str, ...] = ("document",)
    doc_id: str | None = None
    label: str | None = None
    pair_id: str | None = None
    doc_separator: str = "\n"

    def required(self) -> list[str]:
        names = [self.query, *self.docs, self.doc_id, self.label, self.pair_id]
        return list(dict.fromkeys(name for name in names if name))


@dataclass
class ReadStats:
    rows: int = 0
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str, count: int) -> None:
        if count:
            self.skipped[reason] = self.skipped.get(reason, 0) + count


def file_format(path: Path) -> str:
    suffixes = [suffix.lower() for suffix in path.suffixes]
    for suffix in reversed(suffixes):
        if suffix in (".csv", ".tsv"):
            return suffix[1:]
        if suffix in (".jsonl", ".ndjson", ".json"):
            return "jsonl"
        if suffix in (".parquet", ".pq"):
            return "parquet"
    raise DataError(f"{path}: cannot tell the format from the name; use .csv, .tsv, .jsonl or .parquet")


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
    header = _header(path, encoding)
    _check_columns(path, header, columns)
    row = 0
    for batch in _batches(path, columns, encoding, chunk_rows):
        if header is None:  # JSONL: the first chunk shows the columns
            header = batch.schema.names
            _check_columns(path, header, columns)
        table = _normalise(pa.Table.from_batches([batch]), columns, row, stats, path)
        row += batch.num_rows
        if table.num_rows:
            yield table
    if row == 0:
        raise DataError(f"{path}: no data rows")
    stats.rows = row


def count_rows(path: str | Path, encoding: str = "utf-8") -> int:
    """Data rows in a file (parquet: from its metadata; others: one fast pass)."""
    path = Path(path)
    if file_format(path) == "parquet":
        return _parquet_file(path).metadata.num_rows
    total = 0
    for batch in _raw_batches(path, encoding, 1 << 16, None):
        total += batch.num_rows
    return total


def _batches(path: Path, columns: Columns, encoding: str, chunk_rows: int) -> Iterator[pa.RecordBatch]:
    wanted = columns.required() + list(ORIGIN_COLUMNS)
    try:
        yield from _raw_batches(path, encoding, chunk_rows, wanted)
    except pa.ArrowInvalid as error:
        if "UTF8" in str(error) or "utf8" in str(error).lower():
            raise DataError(_locate_bad_text(path, encoding)) from None
        raise DataError(f"{path}: {error}") from None


def _raw_batches(
    path: Path, encoding: str, chunk_rows: int, wanted: list[str] | None
) -> Iterator[pa.RecordBatch]:
    fmt = file_format(path)
    if fmt == "parquet":
        parquet = _parquet_file(path)
        names = parquet.schema_arrow.names
        yield from parquet.iter_batches(
            chunk_rows, columns=[n for n in names if wanted is None or n in wanted]
        )
        return
    if fmt == "jsonl":
        if encoding.replace("-", "").lower() not in ("utf8", "ascii"):
            raise DataError(f"{path}: JSONL must be UTF-8, not {encoding}")
        reader = pa_json.open_json(path, read_options=pa_json.ReadOptions(block_size=1 << 22))
    else:
        header = _csv_header(path, encoding, "\t" if fmt == "tsv" else ",")
        types = {name: pa.string() for name in header if wanted is None or name in wanted}
        reader = pa_csv.open_csv(
            path,
            read_options=pa_csv.ReadOptions(encoding=encoding, block_size=1 << 22),
            parse_options=pa_csv.ParseOptions(
                delimiter="\t" if fmt == "tsv" else ",", newlines_in_values=True
            ),
            convert_options=pa_csv.ConvertOptions(column_types=types, include_columns=list(types) or None),
        )
    for batch in reader:
        for start in range(0, batch.num_rows, chunk_rows):
            yield batch.slice(start, chunk_rows)


def _parquet_file(path: Path) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as error:
        raise DataError(f"{path}: not a readable parquet file (truncated or corrupt?): {error}") from None


def _header(path: Path, encoding: str) -> list[str] | None:
    """The file's column names, where they can be known without reading rows (not JSONL)."""
    fmt = file_format(path)
    if fmt == "parquet":
        return _parquet_file(path).schema_arrow.names
    if fmt in ("csv", "tsv"):
        return _csv_header(path, encoding, "\t" if fmt == "tsv" else ",")
    return None


def _check_columns(path: Path, names: list[str] | None, columns: Columns) -> None:
    if names is None:
        return
    roles = [("query", columns.query), *(("doc", name) for name in columns.docs)]
    roles += [("doc-id", columns.doc_id), ("label", columns.label), ("id", columns.pair_id)]
    for role, name in roles:
        if name and name not in names:
            raise DataError(f"{path}: no column {name!r} for --{role}-col (columns: {', '.join(names)})")


def _csv_header(path: Path, encoding: str, delimiter: str) -> list[str]:
    with path.open(encoding=encoding, errors="replace", newline="") as file:
        header = next(csv.reader(file, delimiter=delimiter), None)
    if not header:
        raise DataError(f"{path}: the file has no header row")
    return header


def _normalise(table: pa.Table, columns: Columns, first_row: int, stats: ReadStats, path: Path) -> pa.Table:
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
        _labels(path, table, columns, first_row) if columns.label else pa.nulls(table.num_rows, pa.float64())
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


def _labels(path: Path, table: pa.Table, columns: Columns, first_row: int) -> pa.Array:
    raw = table[columns.label].combine_chunks()
    try:
        return pc.cast(raw, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        for index, value in enumerate(raw.to_pylist()):
            try:
                float(value) if value not in (None, "") else None
            except (TypeError, ValueError):
                raise DataError(
                    f"{path}: data row {first_row + index + 1}, column {columns.label!r}: "
                    f"{value!r} is not a number"
                ) from None
        return pc.cast(pc.if_else(pc.equal(raw, ""), None, raw), pa.float64())


def _locate_bad_text(path: Path, encoding: str) -> str:
    """Finds the first bytes that are not ``encoding`` and names their row and column."""
    fmt = file_format(path)
    data = path.read_bytes()
    try:
        data.decode(encoding)
        return f"{path}: text that is not valid {encoding}"
    except UnicodeDecodeError as error:
        offset, reason = error.start, error.reason
    line = data.count(b"\n", 0, offset) + 1
    if fmt == "jsonl":
        return f"{path}: line {line} is not valid {encoding} ({reason} at byte {offset}); try --encoding"
    text = data[:offset].decode(encoding, errors="replace")
    rows = list(csv.reader(io.StringIO(text), delimiter="\t" if fmt == "tsv" else ","))
    header = next(csv.reader(io.StringIO(data.split(b"\n", 1)[0].decode(encoding, "replace"))), [])
    column = header[len(rows[-1]) - 1] if rows and 0 < len(rows[-1]) <= len(header) else "?"
    return (
        f"{path}: data row {max(len(rows) - 1, 1)} (line {line}), column {column!r}: bytes that are not "
        f"valid {encoding} ({reason} at byte {offset}); "
        "pass the file's encoding with --encoding, e.g. latin-1"
    )


def read_table(path: str | Path, columns: Columns, *, encoding: str = "utf-8") -> pa.Table:
    """The whole file as one ``PAIR_SCHEMA`` table (for sets that fit in memory: training,
    evaluation, a distillation pool)."""
    stats = ReadStats()
    tables = list(read_pairs(path, columns, encoding=encoding, stats=stats))
    if not tables:
        reasons = ", ".join(f"{count} {reason}" for reason, count in stats.skipped.items())
        raise DataError(f"{path}: every row was skipped ({reasons})")
    return pa.concat_tables(tables)
