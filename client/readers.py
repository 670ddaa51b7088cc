"""Reading (query, document) pairs from CSV (any encoding), JSONL or parquet, in chunks; CSV
and JSONL also gzip-, bz2- or xz-compressed or as the one file of a zip archive.

Every problem names the file, the row and the column: a missing column, an empty file,
bytes that are not in the stated encoding.
"""

from __future__ import annotations

import bz2
import codecs
import contextlib
import csv
import functools
import gzip
import io
import itertools
import json
import logging
import lzma
import re
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import BinaryIO, NamedTuple

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
# Grades that public relevance sets write as words, read without a --label-map; the first scale
# holding every word in a file wins (lower case, ordered worst to best).
KNOWN_GRADE_SCALES = (
    ("irrelevant", "complement", "substitute", "exact"),  # Amazon ESCI
    ("i", "c", "s", "e"),  # ESCI's letters
    ("irrelevant", "partial", "exact"),  # Wayfair WANDS
    ("bad", "fair", "good", "excellent", "perfect"),  # web-search judgements
    ("irrelevant", "relevant"),
    ("not relevant", "relevant"),
    ("non-relevant", "relevant"),
    ("not relevant", "partially relevant", "relevant"),
    ("not relevant", "somewhat relevant", "relevant", "highly relevant"),
    ("irrelevant", "related", "highly relevant", "perfectly relevant"),  # TREC Deep Learning
    ("low", "medium", "high"),
    ("no", "yes"),
    ("false", "true"),
    ("negative", "positive"),
)
# Column names public relevance sets use for each role, tried in this order where a command is
# not told the column (compared in lower case, camelCase split, spaces, hyphens and dots read as
# underscores).
KNOWN_COLUMNS = {
    "query": ("query", "search_term", "search_query", "query_text", "query_string", "user_query",
              "searchterm", "keywords", "keyword", "question", "q"),
    "document": ("document", "product_title", "product_name", "title", "item_title", "item_name", "passage",
                 "doc", "text", "content", "name", "product_text", "item_text", "description", "sentence",
                 "answer", "response", "snippet", "body"),
    "doc_id": ("doc_id", "document_id", "product_uid", "product_id", "item_id", "sku", "asin", "docid",
               "docno", "passage_id", "pid", "corpus_id"),
    "label": ("label", "relevance", "grade", "esci_label", "relevance_label", "relevance_score",
              "relevance_grade", "judgement", "judgment", "rating", "gain", "rel", "relevant", "is_relevant",
              "target"),
}  # fmt: skip
# Where no column has a usual name: words of a name that mark its role, tried in this order
# ("median_relevance", "productTitle", "listing_sku").
ROLE_WORDS = {
    "query": ("query", "search", "question", "keyword", "keywords", "queries"),
    "document": ("title", "name", "document", "doc", "passage", "text", "content", "description", "sentence",
                 "answer", "snippet", "body", "paragraph"),
    "doc_id": ("id", "uid", "sku", "asin", "docid"),
    "label": ("relevance", "relevancy", "relevant", "label", "grade", "judgement", "judgment", "rating",
              "gain", "score"),
}  # fmt: skip
# Last words of a name that say what it holds, not which role: ``question_text`` is a query.
GENERIC_HEADS = {"text", "content", "string", "str", "value", "body"}
# Words that mark a column as something else: a statistic of the grades ("relevance_variance"), an
# id of a text column ("query_id"), a category, or another model's score.
NOT_ROLE_WORDS = {
    "id", "ids", "uid", "count", "variance", "var", "std", "stdev", "sd", "confidence", "agreement", "votes",
    "num", "number", "length", "len", "locale", "language", "lang", "url", "date", "time", "split", "class",
    "category", "type", "brand", "pred", "predicted", "prediction", "model", "bm25", "teacher", "student",
}  # fmt: skip
# Where no name tells a role (other words, another language, "col_3"): how many rows of a file
# are looked at, and the most distinct values a grade column holds there (Home Depot's rater
# means: 13; ids, prices and counts have more).
SAMPLE_ROWS = 20_000
# Rows below the first that tell a header from a first row of data.
HEADER_CHECK_ROWS = 1_000
MAX_GRADES = 20
# A doc id's name also says what it identifies, and not a query, pair or person.
DOC_WORDS = {"product", "item", "doc", "document", "passage", "article", "listing", "offer", "sku", "asin"}
NOT_DOC_ID_WORDS = {"query", "search", "example", "pair", "row", "judge", "user", "session"}
# Separators a file named .csv may use instead of commas.
CSV_DELIMITERS = (",", "\t", ";", "|")
# Compressed files are read as they are, by suffix (Kaggle hands out .csv.zip, TREC and MS MARCO
# .tsv.gz); a zip archive holds one data file.
DECOMPRESSORS = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}
COMPRESSIONS = (*DECOMPRESSORS, ".zip")
log = logging.getLogger(__name__)


class DataError(ValueError):
    """A data file that cannot be read as asked."""


@dataclass(frozen=True)
class Columns:
    """Which input columns hold what. Several ``docs`` columns are joined into one document.

    Example::

        Columns(query="search_term", docs=("product_title", "product_description"), label="relevance")
        Columns("query", ("product_title",), label="esci_label", label_map={"E": 3, "S": 2, "C": 1, "I": 0})

    ``label_map`` turns grades written as words into numbers (case and surrounding spaces
    ignored); without it, numbers are read as they are and words of a ``KNOWN_GRADE_SCALES``
    scale by their rank.
    """

    query: str = "query"
    docs: tuple[str, ...] = ("document",)
    doc_id: str | None = None
    label: str | None = None
    pair_id: str | None = None
    doc_separator: str = "\n"
    label_map: dict[str, float] | None = None

    def required(self) -> list[str]:
        names = [self.query, *self.docs, self.doc_id, self.label, self.pair_id]
        return list(dict.fromkeys(name for name in names if name))

    def as_dict(self) -> dict:
        """As recorded in job manifests; an unset ``label_map`` is left out, so jobs recorded
        before it existed still resume."""
        recorded = asdict(self)
        if not self.label_map:
            del recorded["label_map"]
        return recorded


@dataclass
class ReadStats:
    rows: int = 0
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str, count: int) -> None:
        if count:
            self.skipped[reason] = self.skipped.get(reason, 0) + count


def file_format(path: Path) -> str:
    """``csv``, ``tsv``, ``jsonl``, ``parquet`` or ``arrow``, from the name (of a compressed file: the name
    without the compression's suffix; of a zip archive: the name of the file it holds)."""
    compression = _compression(path)
    name = Path(_zip_member(path) if compression == ".zip" else path.stem if compression else path.name)
    for suffix in reversed([suffix.lower() for suffix in name.suffixes]):
        if suffix in (".csv", ".tsv"):
            fmt = suffix[1:]
        elif suffix in (".jsonl", ".ndjson", ".json"):
            fmt = "jsonl"
        elif suffix in (".parquet", ".pq"):
            fmt = "parquet"
        elif suffix in (".arrow", ".feather", ".ipc"):
            fmt = "arrow"
        else:
            continue
        if compression and fmt in ("parquet", "arrow"):
            raise DataError(f"{path}: {fmt} is compressed inside; give the .{fmt} file itself")
        return fmt
    raise DataError(
        f"{path}: cannot tell the format from the name; use .csv, .tsv, .jsonl, .json, .parquet or .arrow "
        f"(CSV and JSONL may end in {', '.join(COMPRESSIONS)})"
    )


def _compression(path: Path) -> str | None:
    suffix = path.suffix.lower()
    return suffix if suffix in COMPRESSIONS else None


def _zip_member(path: Path) -> str:
    """The name of the one data file a zip archive holds."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = [
                info.filename for info in archive.infolist()
                if not info.is_dir() and not info.filename.startswith("__MACOSX/")
            ]  # fmt: skip
    except (zipfile.BadZipFile, OSError) as error:
        raise DataError(f"{path}: not a readable zip archive: {error}") from None
    if len(names) != 1:
        raise DataError(
            f"{path}: a zip archive must hold one data file, not {len(names)} "
            f"({', '.join(names[:5]) or 'none'}); unpack it and give the file"
        )
    return names[0]


@contextlib.contextmanager
def _open_binary(path: Path) -> Iterator[BinaryIO]:
    """The file's bytes, decompressed; a corrupt or truncated archive is a ``DataError``."""
    compression = _compression(path)
    if compression is None:
        with path.open("rb") as file:
            yield file
        return
    corrupt = f"{path}: not a readable {compression.lstrip('.')} file (truncated or corrupt?)"
    try:
        if compression == ".zip":
            with zipfile.ZipFile(path) as archive, archive.open(_zip_member(path)) as file:
                yield file
        else:
            with DECOMPRESSORS[compression](path, "rb") as file:
                yield file
    except (EOFError, zlib.error, lzma.LZMAError, gzip.BadGzipFile, zipfile.BadZipFile) as error:
        raise DataError(f"{corrupt}: {error}") from None
    except OSError as error:
        if "Invalid data stream" not in str(error):  # bz2's word for corrupt data
            raise
        raise DataError(f"{corrupt}: {error}") from None


@contextlib.contextmanager
def _open_text(path: Path, encoding: str) -> Iterator[io.TextIOWrapper]:
    with _open_binary(path) as file, io.TextIOWrapper(file, encoding, errors="replace", newline="") as text:
        yield text


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
    header = _header(path, encoding)
    _check_columns(path, header, columns)
    grades = _Grades(path, columns, encoding)
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


def count_rows(path: str | Path, encoding: str = "utf-8") -> int:
    """Data rows in a file (parquet: from its metadata; others: one fast pass)."""
    path = Path(path)
    if file_format(path) == "parquet":
        return _parquet_file(path).metadata.num_rows
    encoding = resolve_encoding(path, encoding)
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
    if fmt == "arrow":
        with _arrow_batches(path) as (_, batches):
            for batch in batches:
                batch = batch.select([n for n in batch.schema.names if wanted is None or n in wanted])
                for start in range(0, batch.num_rows, chunk_rows):
                    yield batch.slice(start, chunk_rows)
        return
    with contextlib.ExitStack() as stack:
        # Arrow reads a plain file itself; a compressed one through Python's decompressor.
        source = stack.enter_context(_open_binary(path)) if _compression(path) else path
        if fmt == "jsonl":
            if encoding.replace("-", "").lower() not in ("utf8", "ascii"):
                raise DataError(f"{path}: JSONL must be UTF-8, not {encoding}")
            document = json_document(path)
            if document is not None:
                yield from document.select(
                    [n for n in document.column_names if wanted is None or n in wanted]
                ).to_batches(chunk_rows)
                return
            reader = pa_json.open_json(source, read_options=pa_json.ReadOptions(block_size=1 << 22))
        else:
            reader = _csv_reader(source, path, encoding, _quoted(path, encoding), wanted)
        for batch in reader:
            for start in range(0, batch.num_rows, chunk_rows):
                yield batch.slice(start, chunk_rows)


def resolve_encoding(path: str | Path, encoding: str) -> str:
    """``encoding`` as given, except ``"auto"``: UTF-8 when the whole file decodes as UTF-8,
    else latin-1, which reads any bytes (a warning says so). JSONL and parquet are UTF-8.

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


@functools.lru_cache(maxsize=16)
def _detected_encoding(path: Path, size: int, modified: int) -> str:
    # size and modified are part of the cache key: a file rewritten in place is looked at again.
    decoder = codecs.getincrementaldecoder("utf-8")()
    with _open_binary(path) as file:
        try:
            while chunk := file.read(1 << 24):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            log.warning("%s is not UTF-8: reading it as latin-1 (pass --encoding to choose another)", path)
            return "latin-1"
    return "utf-8"


def json_document(path: Path) -> pa.Table | None:
    """The records of a JSON file that is one document, not JSON lines: an array of records
    (pandas' ``to_json(orient="records")``) or an object holding one (``{"version": 2, "data":
    [...]}``); None for JSON lines."""
    status = path.stat()
    return _json_document(path, status.st_size, status.st_mtime_ns)


@functools.lru_cache(maxsize=1)
def _json_document(path: Path, size: int, modified: int) -> pa.Table | None:
    # size and modified are part of the cache key, as for _detected_encoding; one document is
    # kept, as the header, the sample and the rows are read one after another.
    with _open_text(path, "utf-8") as file:
        lines = (line.strip() for line in file)
        first = next((line for line in lines if line), "")
        more = next((line for line in lines if line), None) is not None
    if not first.startswith(("[", "{")):
        return None
    try:
        value = json.loads(first)
    except ValueError:
        value = None  # one value over several lines
    if value is not None and (more or (isinstance(value, dict) and _records_in(value) is None)):
        return None  # JSON lines, if only one
    if value is None:
        with _open_text(path, "utf-8") as file:
            try:
                value = json.load(file)
            except ValueError as error:
                raise DataError(f"{path}: not valid JSON ({error}), nor JSON lines") from None
    records = value if isinstance(value, list) else _records_in(value)
    if not records or not all(isinstance(record, dict) for record in records):
        raise DataError(
            f"{path}: protege reads JSON lines (a record per line), an array of records or an object "
            "holding one; this is none of them"
        )
    try:
        return pa.Table.from_pylist(records)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        raise DataError(f"{path}: its records do not make one table: {error}") from None


def _records_in(value: object) -> list[dict] | None:
    """The one list of records an object holds (``{"data": [{...}, ...]}``)."""
    if not isinstance(value, dict):
        return None
    lists = [item for item in value.values() if isinstance(item, list) and item and isinstance(item[0], dict)]
    return lists[0] if len(lists) == 1 else None


def read_header(path: str | Path, encoding: str = "auto") -> list[str] | None:
    """The file's column names (JSONL: the first record's keys); None for a file that is
    missing or empty, which the reader itself then reports. A file that is not data (a
    format not known, a broken archive) is a ``DataError`` here already."""
    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:
        return None
    if file_format(path) != "jsonl":
        return _header(path, resolve_encoding(path, encoding))
    document = json_document(path)
    if document is not None:
        return document.column_names
    with _open_text(path, "utf-8") as file:
        first = next((line for line in file if line.strip()), "")
    try:
        record = json.loads(first)
    except ValueError:  # the reader names the line
        return None
    return list(record) if isinstance(record, dict) else None


def find_columns(
    names: list[str], roles: tuple[str, ...], taken: tuple[str, ...] = ()
) -> dict[str, str | None]:
    """The column of ``names`` that plays each of ``roles`` (``KNOWN_COLUMNS`` keys): first by one
    of its usual names, in ``KNOWN_COLUMNS`` order; then, for roles still open, by the words of its
    name (``ROLE_WORDS``, none of ``NOT_ROLE_WORDS``). No column plays two roles or is one of
    ``taken``; a role no column plays is None.

    Example::

        find_columns(["id", "query", "product_title", "median_relevance", "relevance_variance"],
                     ("query", "document", "label"))
        # {'query': 'query', 'document': 'product_title', 'label': 'median_relevance'}
    """
    by_usual_name = {usual_name(name): name for name in names}
    free = [name for name in names if name not in taken]
    found: dict[str, str | None] = {}
    for role in roles:
        usual = [by_usual_name[usual] for usual in KNOWN_COLUMNS[role] if usual in by_usual_name]
        if role == "doc_id" and found.get("document"):
            usual = _ids_named_for(found["document"], by_usual_name) + usual
        found[role] = next((name for name in usual if name in free and name not in found.values()), None)
    by_words = [role for role in roles if found[role] is None]
    for role in by_words:
        open_names = [name for name in free if name not in found.values()]
        # The document's own id first, whatever its words (resultId for resultTitle).
        own_ids = (
            _ids_named_for(found["document"], by_usual_name)
            if role == "doc_id" and found.get("document")
            else []
        )
        own_ids = [name for name in own_ids if name in open_names]
        found[role] = own_ids[0] if own_ids else _named_by_words(open_names, role)
    document = found.get("document")
    if "document" in by_words and document and "query" in by_words and not found["query"]:
        # A pair of like names (sentence1 and sentence2, text_a and text_b): the name does not
        # tell which holds the queries, so their values do.
        stem = _pair_stem(document)
        if any(_pair_stem(name) == stem for name in free if name != document):
            found["document"] = None
    return found


def find_columns_by_content(
    sample: pa.Table, roles: tuple[str, ...], taken: tuple[str, ...] = ()
) -> dict[str, str | None]:
    """For columns whose names say nothing: the column of ``sample`` (some rows of the file) that
    plays each of ``roles`` by its values. The grade ("label") is the one column of grade words, or
    else the one of at most ``MAX_GRADES`` distinct numbers, some repeated (not an id); the
    document is the text column with the longest values; the query is the text column left whose
    values repeat most (a query is judged against several documents) without being a category of a
    few values, the leftmost on a tie.
    Columns named as ids, counts or categories (``NOT_ROLE_WORDS``) and those in ``taken`` play
    none; an undecided role is None.

    Example::

        sample = pa.table({"consulta": ["taladro", "taladro", "broca"],
                           "titulo": ["Taladro DEWALT 20V", "Broca 6 mm", "Broca HSS"],
                           "relevancia": ["3", "1", "3"]})
        find_columns_by_content(sample, ("query", "document", "label"))
        # {'query': 'consulta', 'document': 'titulo', 'label': 'relevancia'}
    """
    profiles = {
        name: _profile(sample[name]) for name in sample.column_names
        if name not in taken and not _words(name) & NOT_ROLE_WORDS
    }  # fmt: skip
    found: dict[str, str | None] = dict.fromkeys(roles)
    if "label" in roles:
        grades = [name for name, column in profiles.items() if column.kind == "grade words"] or [
            name for name, column in profiles.items()
            if column.kind == "numbers" and 2 <= column.distinct <= min(MAX_GRADES, column.values - 1)
        ]  # fmt: skip
        if len(grades) > 1:
            log.warning("columns %s could each be the grade: name it with --label-col", ", ".join(grades))
        found["label"] = grades[0] if len(grades) == 1 else None
    texts = [name for name, column in profiles.items() if column.kind == "text" and column.distinct > 1]
    # A query column has many values; one of a handful ("train"/"test", a locale) is a category.
    many = {name for name in texts if profiles[name].distinct > min(MAX_GRADES, profiles[name].values // 10)}
    if "document" in roles and texts:
        found["document"] = max(texts, key=lambda name: profiles[name].mean_length)
    rest = [name for name in texts if name in many and name != found.get("document")]
    if found.get("document"):
        # A brand or category repeats too, but as a property of the document: never two values for one.
        rest = [name for name in rest if not _of_the_document(sample, found["document"], name)] or rest
    if "query" in roles and rest:
        found["query"] = min(rest, key=lambda name: profiles[name].distinct / profiles[name].values)
    return found


def _of_the_document(sample: pa.Table, document: str, name: str) -> bool:
    """Whether ``name`` holds one value per document where documents repeat (a product's brand),
    as a query, judged with other queries against the same document, does not."""
    pairs = sample.select([document, name]).group_by([document, name]).aggregate([]).num_rows
    documents = sample.group_by([document]).aggregate([]).num_rows
    return pairs == documents < sample.num_rows


class _Profile(NamedTuple):
    kind: str  # text, numbers, grade words or other
    distinct: int  # distinct values
    mean_length: float  # in characters
    values: int  # values that are not blank


def _profile(values: pa.ChunkedArray) -> _Profile:
    """What a column of the sample holds."""
    try:
        text = pc.utf8_trim_whitespace(pc.cast(values, pa.string()))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # nested JSON values
        return _Profile("other", 0, 0.0, 0)
    text = text.filter(pc.greater(pc.utf8_length(pc.fill_null(text, "")), 0))
    if not len(text):
        return _Profile("other", 0, 0.0, 0)
    distinct = pc.unique(text)
    if _as_numbers(text.combine_chunks()) is not None:
        kind = "numbers"
    elif _grade_scale(set(pc.utf8_lower(distinct).to_pylist())) is not None:
        kind = "grade words"
    else:
        kind = "text"
    return _Profile(kind, len(distinct), pc.mean(pc.utf8_length(text)).as_py(), len(text))


def sample_rows(path: str | Path, encoding: str = "auto", rows: int = SAMPLE_ROWS) -> pa.Table:
    """The file's first ``rows`` data rows, all columns as they are read (CSV: text)."""
    path = Path(path)
    batches, taken = [], 0
    with contextlib.closing(_raw_batches(path, resolve_encoding(path, encoding), rows, None)) as reader:
        for batch in reader:
            batches.append(batch.slice(0, rows - taken))
            taken += batches[-1].num_rows
            if taken >= rows:
                break
    if not batches:
        raise DataError(f"{path}: no data rows")
    return pa.Table.from_batches(batches)


def _ids_named_for(document: str, by_usual_name: dict[str, str]) -> list[str]:
    """Columns named as the id of the document column: ``SentenceID`` for ``Sentence`` (WikiQA,
    whose ``DocumentID`` is the article's), ``product_id`` for ``product_title``."""
    name = usual_name(document)
    stems = (name, name.rsplit("_", 1)[0]) if "_" in name else (name,)
    ids = (f"{stem}{tail}" for stem in stems for tail in ("_id", "_uid", "id"))
    return [by_usual_name[id_name] for id_name in ids if id_name in by_usual_name]


def usual_name(name: str) -> str:
    split = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name.strip())
    return re.sub(r"[\s.-]", "_", split).lower()


def _pair_stem(name: str) -> str:
    """``sentence`` for ``sentence1`` and ``sentence2``, ``text`` for ``text_a`` and ``text_b``."""
    return re.sub(r"(_?[0-9]+|_[ab])$", "", usual_name(name))


def _named_by_words(names: list[str], role: str) -> str | None:
    for mark in ROLE_WORDS[role]:
        for name in names:
            words = _words(name)
            if mark in words and _fits(role, words) and not _headed_by_another_role(name, role):
                return name
    return None


def _headed_by_another_role(name: str, role: str) -> bool:
    """Whether the last word of ``name``, the thing it names, marks another role:
    ``search_result_title`` is a title and ``search_relevance`` a grade, not queries; a generic
    last word (``question_text``) leaves the role to the words before it."""
    head = usual_name(name).rsplit("_", 1)[-1].rstrip("0123456789")
    return head not in GENERIC_HEADS and any(
        head in marks for other, marks in ROLE_WORDS.items() if other != role
    )


def _words(name: str) -> set[str]:
    """The words of a column's name, numbered ones also without their number (``question1``)."""
    words = set(usual_name(name).split("_"))
    return words | {word.rstrip("0123456789") for word in words if word[:1].isalpha()}


def _fits(role: str, words: set[str]) -> bool:
    if role == "doc_id":
        return bool(words & DOC_WORDS) and not words & NOT_DOC_ID_WORDS
    return not words & NOT_ROLE_WORDS


def _parquet_file(path: Path) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as error:
        raise DataError(f"{path}: not a readable parquet file (truncated or corrupt?): {error}") from None


@contextlib.contextmanager
def _arrow_batches(path: Path) -> Iterator[tuple[pa.Schema, Iterator[pa.RecordBatch]]]:
    """The schema and record batches of an Arrow IPC file (Feather 2) or stream (the shards of
    a Hugging Face dataset's ``save_to_disk``, ``data-00000-of-00001.arrow``)."""
    with pa.memory_map(str(path)) as source:
        try:
            reader = pa.ipc.open_file(source)
            batches = (reader.get_batch(i) for i in range(reader.num_record_batches))
        except pa.ArrowInvalid:
            source.seek(0)
            try:
                reader = pa.ipc.open_stream(source)
            except pa.ArrowInvalid as error:
                raise DataError(
                    f"{path}: not a readable Arrow file or stream (truncated or corrupt?): {error}"
                ) from None
            batches = iter(reader)
        yield reader.schema, batches


def _header(path: Path, encoding: str) -> list[str] | None:
    """The file's column names, where they can be known without reading rows (not JSONL)."""
    fmt = file_format(path)
    if fmt == "parquet":
        return _parquet_file(path).schema_arrow.names
    if fmt == "arrow":
        with _arrow_batches(path) as (schema, _):
            return schema.names
    if fmt in ("csv", "tsv"):
        return list(_csv_head(path, encoding)[0])
    return None


def _check_columns(path: Path, names: list[str] | None, columns: Columns) -> None:
    if names is None:
        return
    roles = [("query", columns.query), *(("doc", name) for name in columns.docs)]
    roles += [("doc-id", columns.doc_id), ("label", columns.label), ("id", columns.pair_id)]
    for role, name in roles:
        if name and name not in names:
            raise DataError(f"{path}: no column {name!r} for --{role}-col (columns: {', '.join(names)})")


def is_headerless(path: str | Path, encoding: str = "auto") -> bool:
    """Whether a CSV or TSV file's first row is data (a qrels file: ``1  cordless drill  …  3``),
    so that its columns are read as ``column_1`` … ``column_N``."""
    path = Path(path)
    return file_format(path) in ("csv", "tsv") and _csv_head(path, resolve_encoding(path, encoding))[1]


def _csv_head(path: Path, encoding: str) -> tuple[tuple[str, ...], bool]:
    """The header's names, or ``column_1`` … ``column_N`` where the first row is data; and which."""
    status = path.stat()
    return _csv_names(path.resolve(), encoding, status.st_size, status.st_mtime_ns)


@functools.lru_cache(maxsize=16)
def _csv_names(path: Path, encoding: str, size: int, modified: int) -> tuple[tuple[str, ...], bool]:
    # size and modified are part of the cache key, as for _detected_encoding.
    rows: list[list[str]] = []
    # A quote mark that opens a field and never closes it runs past csv's field limit: the rows
    # before it are judged.
    with _open_text(path, encoding) as file, contextlib.suppress(csv.Error):
        rows.extend(
            itertools.islice(csv.reader(file, delimiter=_delimiter(path, encoding)), HEADER_CHECK_ROWS)
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
        "(name them so, e.g. --query-col column_2)", path, ", ".join(first[:6]), names[0], names[-1],
    )  # fmt: skip
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


def _csv_reader(
    source: Path | BinaryIO, path: Path, encoding: str, quoted: bool, wanted: list[str] | None
) -> pa_csv.CSVStreamingReader:
    header, headerless = _csv_head(path, encoding)
    types = {name: pa.string() for name in header if wanted is None or name in wanted}
    return pa_csv.open_csv(
        source,
        read_options=pa_csv.ReadOptions(
            encoding=encoding, block_size=1 << 22, column_names=list(header) if headerless else None
        ),
        parse_options=pa_csv.ParseOptions(
            delimiter=_delimiter(path, encoding),
            quote_char='"' if quoted else False,
            newlines_in_values=quoted,
        ),
        convert_options=pa_csv.ConvertOptions(column_types=types, include_columns=list(types) or None),
    )


def _quoted(path: Path, encoding: str) -> bool:
    """Whether the file's quote marks quote fields (as CSV, and pandas' TSV, write them) or are
    text. A tab-separated file is read with quote marks as text where that reads every line as
    a row and quoting would join lines: a field that opens with a quote mark (``"Frozen`` wall
    decal) runs, quoted, to the next one (a 12" tile), taking the rows between."""
    if _delimiter(path, encoding) != "\t":
        return True
    status = path.stat()
    return _quotes_quote(path.resolve(), encoding, status.st_size, status.st_mtime_ns)


@functools.lru_cache(maxsize=16)
def _quotes_quote(path: Path, encoding: str, size: int, modified: int) -> bool:
    # size and modified are part of the cache key, as for _detected_encoding.
    def rows(quoted: bool) -> int | None:
        try:
            with contextlib.ExitStack() as stack:
                source = stack.enter_context(_open_binary(path)) if _compression(path) else path
                return sum(batch.num_rows for batch in _csv_reader(source, path, encoding, quoted, None))
        except pa.ArrowInvalid:
            return None

    with _open_binary(path) as file:  # most tab-separated files hold no quote mark: no parse needed
        if not any(b'"' in chunk for chunk in iter(lambda: file.read(1 << 24), b"")):
            return True
    plain = rows(quoted=False)
    quoted = rows(quoted=True)
    if plain is None or quoted == plain:
        return True
    log.warning(
        "%s: a quote mark opens a field and does not close it there, so quote marks are read as text "
        "(%d rows; quoted, %s)", path, plain, "they would not parse" if quoted is None else f"{quoted}",
    )  # fmt: skip
    return False


def _delimiter(path: Path, encoding: str) -> str:
    """Tab for .tsv; for .csv, a comma unless the header line has none and another separator
    (tab-separated files named .csv are common, e.g. Wayfair's WANDS)."""
    if file_format(path) == "tsv":
        return "\t"
    with _open_text(path, encoding) as file:
        first_line = file.readline()
    counts = {delimiter: first_line.count(delimiter) for delimiter in CSV_DELIMITERS}
    if counts[","] or not any(counts.values()):
        return ","
    return max(counts, key=counts.get)


def _normalise(
    table: pa.Table, columns: Columns, first_row: int, stats: ReadStats, grades: _Grades
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


class _Grades:
    """Reads one file's label column as numbers: through ``columns.label_map`` when given, else as
    numbers, else (words only) through the known scale that holds all of the file's words."""

    def __init__(self, path: Path, columns: Columns, encoding: str) -> None:
        self.path, self.column, self.encoding = path, columns.label, encoding
        self.mapping = _folded(columns.label_map) if columns.label_map else None
        self.explicit = self.mapping is not None

    def __call__(self, raw: pa.ChunkedArray, first_row: int) -> pa.Array:
        raw = raw.combine_chunks()
        if self.mapping is None:
            numbers = _as_numbers(raw)
            if numbers is not None:
                return numbers
            self.mapping = self._known_scale(raw, first_row)
        text = pc.utf8_lower(pc.utf8_trim_whitespace(pc.cast(raw, pa.string())))
        text = pc.if_else(pc.equal(text, ""), None, text)
        keys = list(self.mapping)
        index = pc.index_in(text, value_set=pa.array(keys, pa.string()))
        unmapped = pc.and_(pc.is_valid(text), pc.is_null(index))
        if pc.any(unmapped).as_py():
            at = pc.index(unmapped, True).as_py()
            raise DataError(
                f"{self.path}: data row {first_row + at + 1}, column {self.column!r}: "
                f"{raw[at].as_py()!r} is not one of the grades {', '.join(map(repr, keys))}"
                + ("" if self.explicit else "; map the file's grades with --label-map")
            )
        return pc.take(pa.array(list(self.mapping.values()), pa.float64()), index)

    def _known_scale(self, raw: pa.Array, first_row: int) -> dict[str, float]:
        words = set()
        for batch in _raw_batches(self.path, self.encoding, 1 << 16, [self.column]):
            values = pc.utf8_lower(pc.utf8_trim_whitespace(pc.cast(batch.column(self.column), pa.string())))
            words.update(word for word in pc.unique(values).to_pylist() if word)
        if any(is_number(word) for word in words):  # a numeric column with a stray word
            for index, value in enumerate(raw.to_pylist()):
                if value not in (None, "") and not is_number(value):
                    raise DataError(
                        f"{self.path}: data row {first_row + index + 1}, column {self.column!r}: "
                        f"{value!r} is not a number"
                    )
        scale = _grade_scale(words)
        if scale is not None:
            mapping = {word: float(rank) for rank, word in enumerate(scale)}
            log.info(
                "%s: column %r holds grades as words, read as %s (--label-map to choose others)",
                self.path, self.column, ", ".join(f"{word}={rank:g}" for word, rank in mapping.items()),
            )  # fmt: skip
            return mapping
        shown = sorted(words)[:8]
        example = ",".join(f"{word}={rank}" for rank, word in enumerate(reversed(shown)))
        raise DataError(
            f"{self.path}: column {self.column!r} holds words, not numbers "
            f"({', '.join(map(repr, shown))}{', ...' if len(words) > len(shown) else ''}); "
            f"give each its grade with --label-map, e.g. --label-map {example!r}"
        )


def _grade_scale(words: set[str]) -> tuple[str, ...] | None:
    """The first of ``KNOWN_GRADE_SCALES`` that holds every one of ``words`` (lower case)."""
    return next((scale for scale in KNOWN_GRADE_SCALES if words <= set(scale)), None)


def _as_numbers(raw: pa.Array) -> pa.Array | None:
    """The grades as numbers (blank ones null; a decimal comma, ``2,5``, read as a point, as
    European spreadsheets write it), or None where some are not numbers."""
    try:
        return pc.cast(raw, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    text = pc.utf8_trim_whitespace(pc.cast(raw, pa.string()))
    text = pc.replace_substring_regex(text, r"^([+-]?\d*),(\d+)$", r"\1.\2")
    try:
        return pc.cast(pc.if_else(pc.equal(text, ""), None, text), pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def _folded(mapping: dict[str, float]) -> dict[str, float]:
    return {str(word).strip().lower(): float(grade) for word, grade in mapping.items()}


def is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _locate_bad_text(path: Path, encoding: str) -> str:
    """Finds the first bytes that are not ``encoding`` and names their row and column."""
    fmt = file_format(path)
    with _open_binary(path) as file:
        data = file.read()
    try:
        data.decode(encoding)
        return f"{path}: text that is not valid {encoding}"
    except UnicodeDecodeError as error:
        offset, reason = error.start, error.reason
    line = data.count(b"\n", 0, offset) + 1
    if fmt == "jsonl":
        return f"{path}: line {line} is not valid {encoding} ({reason} at byte {offset}); try --encoding"
    text = data[:offset].decode(encoding, errors="replace")
    rows = list(csv.reader(io.StringIO(text), delimiter=_delimiter(path, encoding)))
    header, headerless = _csv_head(path, encoding)
    column = header[len(rows[-1]) - 1] if rows and 0 < len(rows[-1]) <= len(header) else "?"
    row = len(rows) if headerless else max(len(rows) - 1, 1)
    return (
        f"{path}: data row {row} (line {line}), column {column!r}: bytes that are not "
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
