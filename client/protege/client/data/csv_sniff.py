"""How a CSV or TSV file is written, read from the file itself: its encoding (UTF-8, a detected
multi-byte encoding, else latin-1), delimiter, whether its first row is a header, and whether its
quote marks quote."""

from __future__ import annotations

import codecs
import contextlib
import csv
import functools
import io
import itertools
import logging
from pathlib import Path
from typing import BinaryIO

import charset_normalizer
import pyarrow as pa
import pyarrow.csv as pa_csv
from charset_normalizer.utils import is_multi_byte_encoding

from protege.common.setting_names import setting

from .files import compression_of, file_format, open_binary, open_text
from .spec import DataError

log = logging.getLogger(__name__)


# Separators a file named .csv may use instead of commas.
CSV_DELIMITERS = (",", "\t", ";", "|")


# Rows below the first that tell a header from a first row of data.
HEADER_CHECK_ROWS = 1_000


def resolve_encoding(path: str | Path, encoding: str) -> str:
    """``encoding`` as given, except ``"auto"``: UTF-8 when the whole file decodes as UTF-8; else
    the multi-byte encoding charset-normalizer finds (GBK, Big5, Shift-JIS, …) where the whole file
    decodes with it; else, for text in a single-byte code page, cp1252 where the whole file decodes
    with it, else latin-1 (a warning says which); else a ``DataError`` naming the first bytes that
    are not UTF-8. JSONL and parquet are UTF-8.

    Example::

        resolve_encoding("homedepot/train.csv", "auto")  # 'latin-1'
    """
    path = Path(path)
    if encoding != "auto":
        return encoding
    if not path.is_file() or file_format(path) not in ("csv", "tsv"):
        return "utf-8"
    status = path.stat()
    return _detected_encoding(path.resolve(), status.st_size, status.st_mtime_ns)


# Bytes charset-normalizer reads to guess a file's encoding (it samples chunks of them).
DETECTION_BYTES = 1 << 22


@functools.lru_cache(maxsize=16)
def _detected_encoding(path: Path, size: int, modified: int) -> str:
    # size and modified are part of the cache key: a file rewritten in place is looked at again.
    if _decodes(path, "utf-8"):
        return "utf-8"
    with open_binary(path) as file:
        head = file.read(DETECTION_BYTES)
    matches = list(charset_normalizer.from_bytes(head))  # best first
    if matches and is_multi_byte_encoding(matches[0].encoding):
        # The first multi-byte guess the whole file decodes with (gb18030 reads most bytes, so only
        # where the best guess is multi-byte at all).
        for match in (m for m in matches if is_multi_byte_encoding(m.encoding)):
            if _decodes(path, match.encoding):
                log.warning(
                    "%s is not UTF-8: reading it as %s, as detected (set %s to choose)",
                    path,
                    match.encoding,
                    setting("encoding"),
                )
                return match.encoding
    elif matches:
        # cp1252 where it fits (Windows' curly quotes and dashes sit in 0x80-0x9F, which latin-1
        # reads as control characters); latin-1, which reads any bytes, where it does not.
        single = "cp1252" if _decodes(path, "cp1252") else "latin-1"
        log.warning(
            "%s is not UTF-8: reading it as %s (set %s to choose another)", path, single, setting("encoding")
        )
        return single
    raise DataError(f"{locate_bad_text(path, 'utf-8')} (no encoding was found that fits the whole file)")


def _decodes(path: Path, encoding: str) -> bool:
    """Whether the whole file decodes as ``encoding``, read in chunks."""
    decoder = codecs.getincrementaldecoder(encoding)()
    with open_binary(path) as file:
        try:
            while chunk := file.read(1 << 24):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return False
    return True


def is_headerless(path: str | Path, encoding: str = "auto") -> bool:
    """Whether a CSV or TSV file's first row is data (a qrels file: ``1  cordless drill  …  3``),
    so that its columns are read as ``column_1`` … ``column_N``."""
    path = Path(path)
    return file_format(path) in ("csv", "tsv") and csv_head(path, resolve_encoding(path, encoding))[1]


def csv_head(path: Path, encoding: str) -> tuple[tuple[str, ...], bool]:
    """The header's names, or ``column_1`` … ``column_N`` where the first row is data; and which."""
    status = path.stat()
    return _csv_names(path.resolve(), encoding, status.st_size, status.st_mtime_ns)


@functools.lru_cache(maxsize=16)
def _csv_names(path: Path, encoding: str, size: int, modified: int) -> tuple[tuple[str, ...], bool]:
    # size and modified are part of the cache key, as for _detected_encoding.
    rows: list[list[str]] = []
    # A quote mark that opens a field and never closes it runs past csv's field limit: the rows
    # before it are judged.
    with open_text(path, encoding) as file, contextlib.suppress(csv.Error):
        rows.extend(
            itertools.islice(csv.reader(file, delimiter=delimiter(path, encoding)), HEADER_CHECK_ROWS)
        )
    if not rows or not rows[0]:
        raise DataError(f"{path}: the file has no header row")
    # Arrow drops a UTF-8 byte-order mark (spreadsheets' "CSV UTF-8" starts with one); so do we.
    first = [rows[0][0].removeprefix("\ufeff"), *rows[0][1:]]
    if not _is_data(first, rows[1:]):
        return tuple(first), False
    names = tuple(f"column_{number}" for number in range(1, len(first) + 1))
    log.warning(
        "%s: the first row (%s) is data, not column names, so the columns are named %s … %s "
        "(name them so, e.g. %s column_2)",
        path,
        ", ".join(first[:6]),
        names[0],
        names[-1],
        setting("Columns.query"),
    )
    return names, True


def _is_data(first: list[str], rows: list[list[str]]) -> bool:
    """Whether a file's first row is data, judged against the rows below it: no text in it sits
    over a column of numbers (a name does), and it holds numbers other than the names pandas and
    R give unnamed columns (0, 1, 2 … after an empty index name), or, holding none, a value its
    column repeats below it (a query judged again, a grade word)."""
    below = [
        [row[index] for row in rows if index < len(row) and row[index].strip()] for index in range(len(first))
    ]
    if any(
        cell.strip() and not is_number(cell) and values and all(map(is_number, values))
        for cell, values in zip(first, below, strict=True)
    ):
        return False
    numbers = [cell for cell in first if is_number(cell)]
    if numbers:
        counted = [[str(n) for n in range(start, start + len(numbers))] for start in (0, 1)]
        return not (len(numbers) == sum(1 for cell in first if cell.strip()) and numbers in counted)
    return any(cell.strip() and cell in values for cell, values in zip(first, below, strict=True))


def csv_reader(
    source: Path | BinaryIO, path: Path, encoding: str, quoted: bool, wanted: list[str] | None
) -> pa_csv.CSVStreamingReader:
    header, headerless = csv_head(path, encoding)
    types = {name: pa.string() for name in header if wanted is None or name in wanted}
    return pa_csv.open_csv(
        source,
        read_options=pa_csv.ReadOptions(
            encoding=encoding, block_size=1 << 22, column_names=list(header) if headerless else None
        ),
        parse_options=pa_csv.ParseOptions(
            delimiter=delimiter(path, encoding),
            quote_char='"' if quoted else False,
            newlines_in_values=quoted,
        ),
        convert_options=pa_csv.ConvertOptions(column_types=types, include_columns=list(types) or None),
    )


def quoted(path: Path, encoding: str) -> bool:
    """Whether the file's quote marks quote fields (as CSV, and pandas' TSV, write them) or are
    text. A tab-separated file is read with quote marks as text where that reads every line as
    a row and quoting would join lines: a field that opens with a quote mark (``"Frozen`` wall
    decal) runs, quoted, to the next one (a 12" tile), taking the rows between."""
    if delimiter(path, encoding) != "\t":
        return True
    status = path.stat()
    return _quotes_quote(path.resolve(), encoding, status.st_size, status.st_mtime_ns)


@functools.lru_cache(maxsize=16)
def _quotes_quote(path: Path, encoding: str, size: int, modified: int) -> bool:
    # size and modified are part of the cache key, as for _detected_encoding.
    def rows(quoted: bool) -> int | None:
        try:
            with contextlib.ExitStack() as stack:
                source = stack.enter_context(open_binary(path)) if compression_of(path) else path
                return sum(batch.num_rows for batch in csv_reader(source, path, encoding, quoted, None))
        except pa.ArrowInvalid:
            return None

    with open_binary(path) as file:  # most tab-separated files hold no quote mark: no parse needed
        if not any(b'"' in chunk for chunk in iter(lambda: file.read(1 << 24), b"")):
            return True
    plain = rows(quoted=False)
    quoted = rows(quoted=True)
    if plain is None or quoted == plain:
        return True
    log.warning(
        "%s: a quote mark opens a field and does not close it there, so quote marks are read as text "
        "(%d rows; quoted, %s)",
        path,
        plain,
        "they would not parse" if quoted is None else f"{quoted}",
    )
    return False


def delimiter(path: Path, encoding: str) -> str:
    """Tab for .tsv; for .csv, a comma unless the header line has none and another separator
    (tab-separated files named .csv are common, e.g. Wayfair's WANDS)."""
    if file_format(path) == "tsv":
        return "\t"
    with open_text(path, encoding) as file:
        first_line = file.readline()
    counts = {delimiter: first_line.count(delimiter) for delimiter in CSV_DELIMITERS}
    if counts[","] or not any(counts.values()):
        return ","
    return max(counts, key=counts.get)


def locate_bad_text(path: Path, encoding: str) -> str:
    """Finds the first bytes that are not ``encoding`` and names their row and column."""
    fmt = file_format(path)
    with open_binary(path) as file:
        data = file.read()
    try:
        data.decode(encoding)
        return f"{path}: text that is not valid {encoding}"
    except UnicodeDecodeError as error:
        offset, reason = error.start, error.reason
    line = data.count(b"\n", 0, offset) + 1
    if fmt == "jsonl":
        hint = f"set {setting('encoding')}"
        return f"{path}: line {line} is not valid {encoding} ({reason} at byte {offset}); {hint}"
    text = data[:offset].decode(encoding, errors="replace")
    rows = list(csv.reader(io.StringIO(text), delimiter=delimiter(path, encoding)))
    if not text or text.endswith(("\n", "\r")):  # the bad bytes start a row: its first column
        rows.append([""])
    header, headerless = csv_head(path, encoding)
    column = header[len(rows[-1]) - 1] if rows and 0 < len(rows[-1]) <= len(header) else "?"
    row = len(rows) if headerless else max(len(rows) - 1, 1)
    return (
        f"{path}: data row {row} (line {line}), column {column!r}: bytes that are not "
        f"valid {encoding} ({reason} at byte {offset}); "
        f"set {setting('encoding')} to the file's encoding, e.g. latin-1"
    )


def is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False
