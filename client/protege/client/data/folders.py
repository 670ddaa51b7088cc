"""A relevance set given as a folder of tables, joined into one file of pairs.

Public sets often keep judgements apart from the texts they judge: Wayfair's WANDS has
``label.csv`` (query_id, product_id, label) beside ``query.csv`` and ``product.csv``; Amazon's
ESCI has the examples beside a products file keyed by (product_id, product_locale). The file of
judgements is the one with a grade column; every other table whose shared columns identify its
rows (a product per product_id) adds its columns to each judgement, as a left join that keeps
the judgements' order; one that shares no column name joins by the ids a judgement column holds
(BEIR's qrels: ``corpus-id`` and ``query-id``, the ``_id`` of ``corpus.jsonl`` and
``queries.jsonl``). The joined table is written once to the cache (parquet) and read from
there by the usual readers, so every command takes the folder as it takes a file.

Example::

    joined = join_folder(Path("WANDS/dataset"))  # label.csv, + query.csv on query_id, + product.csv ...
    read_header(joined)  # ['id', 'query_id', 'product_id', 'label', 'query', 'query_class', ...]
"""

from __future__ import annotations

import hashlib
import logging
import re
import sys
from pathlib import Path
from typing import NamedTuple

import pyarrow as pa
import pyarrow.compute as pc

from protege.common.files import write_parquet_atomic
from protege.common.paths import cache_dir
from protege.common.setting_names import setting

from .columns import KNOWN_COLUMNS, find_columns, usual_name
from .csv_sniff import is_headerless
from .files import COMPRESSIONS, file_format
from .formats import json_document, sample_rows
from .grades import MAX_GRADES
from .spec import DataError

log = logging.getLogger(__name__)
ROW = "__protege_row"  # the judgements' row number, to restore their order after the join
# Files the Hugging Face datasets library writes beside a saved dataset's Arrow shards.
DATASETS_BOOKKEEPING = {"state.json", "dataset_info.json", "dataset_dict.json"}
FOUND = "__protege_found"  # set on the rows a joined table gave, to count the judgements it had none for


class _Table(NamedTuple):
    """One table of a folder: a file, or shards of one table (files of the same columns)."""

    name: str
    paths: list[Path]
    sample: pa.Table  # each file's first rows
    encoding: str

    def read(self) -> pa.Table:
        """All rows and columns, as the readers read them (CSV: text)."""
        shards = [sample_rows(path, _encoding(path, self.encoding), sys.maxsize) for path in self.paths]
        return pa.concat_tables(shards, promote_options="permissive")


def join_folder(folder: Path, cache: Path | None = None, encoding: str = "auto") -> Path:
    """The parquet file of ``folder``'s judgements joined with the tables they refer to, written
    under ``cache`` (default: the protege cache) unless an earlier call wrote it for the same
    files and ``encoding`` (of the CSV and TSV files; "auto": each file's own, UTF-8 else
    latin-1); a folder of one data file gives that file."""
    files = data_files(folder)
    if len(files) == 1:
        return files[0]
    digest = _digest(folder, files, encoding)
    target = (cache or cache_dir() / "joined") / f"{folder.resolve().name}-{digest}.parquet"
    if target.exists():
        log.info("%s: reading its tables joined before, %s", folder, target)
        return target
    tables = _tables(folder, files, encoding)
    judgements, grade = _judgements(folder, tables)
    table = judgements.read()
    table = table.append_column(ROW, pa.array(range(table.num_rows), pa.int64()))
    judged = table.column_names[:-1]
    joined = [judgements.name]
    for other in tables:
        if other is not judgements:
            table, how = _join_one(table, judged, grade, other, judgements.name)
            joined += [f"{other.name} on {how}"] if how else []
    table = table.sort_by(ROW).drop_columns([ROW])
    target.parent.mkdir(parents=True, exist_ok=True)
    write_parquet_atomic(table, target)
    log.info("%s: joined %s: %d rows, %s", folder, " + ".join(joined), table.num_rows, target)
    return target


def _join_one(
    table: pa.Table, judged: list[str], grade: str, other_table: _Table, judgements: str
) -> tuple[pa.Table, str | None]:
    """``table`` with ``other_table``'s columns added to each judgement, and how they were joined;
    ``table`` as it was and None where ``other_table`` cannot join (a warning says why)."""
    name, names = other_table.name, other_table.sample.column_names
    shared = [column for column in names if column in table.column_names]
    other = other_table.read()
    if shared:
        if other.group_by(shared).aggregate([]).num_rows < other.num_rows:
            log.warning(
                "%s: left out, values of its %s repeat, so it has no one row to add to a judgement",
                name,
                " + ".join(shared),
            )
            return table, None
        how = " + ".join(shared)
    else:
        reference = _reference(table.select(judged), grade, other)
        if reference is None:
            log.warning(
                "%s: left out, it shares no column with %s and none of its columns holds the ids "
                "in one of %s's",
                name,
                judgements,
                judgements,
            )
            return table, None
        column, key = reference
        prefix = _prefix(column, other_table)
        other = other.rename_columns(
            [column if own == key else f"{prefix}_{own}" for own in other.column_names]
        )
        shared, how = [column], f"{column} = its {key}"
    added = _useful(
        other, [column for column in other.column_names if column not in table.column_names], name
    )
    if not added:
        log.warning("%s: left out, it adds no column to %s", name, judgements)
        return table, None
    other = other.select(shared + added).append_column(FOUND, pa.array([True] * other.num_rows))
    candidate = _left_join(table, other, shared, name)
    missing = candidate[FOUND].null_count
    if missing == table.num_rows:  # ids of another split (a Kaggle test file's)
        log.warning("%s: left out, no judgement has its %s", name, " + ".join(shared))
        return table, None
    if missing:
        log.warning(
            "%s: %d of %d judgements have no row in it (its columns are empty there)",
            name,
            missing,
            table.num_rows,
        )
    return candidate.drop_columns([FOUND]), how


def data_files(folder: Path) -> list[Path]:
    """The data files (CSV, TSV, JSONL, parquet, Arrow; compressed or not) in ``folder`` and the folders
    in it (a Hugging Face dataset's ``data/``), not hidden ones."""
    suffixes = (
        ".csv",
        ".tsv",
        ".json",
        ".jsonl",
        ".ndjson",
        ".parquet",
        ".pq",
        ".arrow",
        ".feather",
        *COMPRESSIONS,
    )
    files = sorted(
        path
        for path in folder.rglob("*")
        if path.is_file()
        and path.suffix.lower() in suffixes
        and not any(part.startswith(".") for part in path.relative_to(folder).parts)
        and (path.suffix.lower() != ".json" or _holds_records(path))
    )
    if not files:
        raise DataError(f"{folder}: a folder with no data file (.csv, .tsv, .json, .parquet or .arrow)")
    return files


def _holds_records(path: Path) -> bool:
    """Whether a .json file beside data is a table: records (an array, an object holding one
    list, JSON lines), not one object of settings (a config, a Hugging Face dataset's
    ``dataset_info.json``) nor the datasets library's own bookkeeping."""
    if path.name in DATASETS_BOOKKEEPING:
        return False
    try:
        return json_document(path) is not None or sample_rows(path, rows=2).num_rows > 1
    except DataError:
        return False


def _encoding(path: Path, encoding: str) -> str:
    """The encoding to read one file of a folder in: the one given applies to CSV and TSV (JSON,
    parquet and Arrow are UTF-8)."""
    return encoding if file_format(path) in ("csv", "tsv") else "auto"


def _tables(folder: Path, files: list[Path], encoding: str) -> list[_Table]:
    """``files`` as tables: files of the same columns are shards of one (``train-00000-of-00002``)."""
    shards: dict[tuple[str, ...], list[tuple[Path, pa.Table]]] = {}
    for path in files:
        own = _encoding(path, encoding)
        if is_headerless(path, own):  # column_1 … would join any other such file
            log.warning(
                "%s: left out, its first row is data, not column names, and tables are joined by "
                "their names: add a header row to it",
                path.relative_to(folder),
            )
            continue
        sample = sample_rows(path, own)
        shards.setdefault(tuple(sample.column_names), []).append((path, sample))
    tables = []
    for group in shards.values():
        name = str(group[0][0].relative_to(folder))
        if len(group) > 1:
            name += f" (+{len(group) - 1} {'shard' if len(group) == 2 else 'shards'} of its columns)"
        sample = pa.concat_tables([rows for _, rows in group], promote_options="permissive")
        tables.append(_Table(name, [path for path, _ in group], sample, encoding))
    return tables


def _judgements(folder: Path, tables: list[_Table]) -> tuple[_Table, str]:
    """The one table with a grade column, and that column: by its usual name (not a products file's
    "average_rating"), else by the words of its name. A column of one value
    grades nothing (a Kaggle sample submission's "relevance", all 1), unless no other table has one."""

    def grade(table: _Table, by: str) -> str | None:
        names = table.sample.column_names
        if by == "usual name":
            return next((name for name in names if usual_name(name) in KNOWN_COLUMNS["label"]), None)
        return find_columns(names, ("label",))["label"]

    named: list[tuple[_Table, str]] = []  # the first tables found with a grade column, graded or not
    for by in ("usual name", "words"):
        found = [(table, column) for table in tables if (column := grade(table, by))]
        named = named or found
        graded = [
            (table, column) for table, column in found if pc.count_distinct(table.sample[column]).as_py() > 1
        ]
        if graded:
            break
    if not graded and len(named) == 1:  # one grade throughout, as positives-only qrels: a study refuses them
        return named[0]
    if len(graded) != 1:
        raise DataError(
            f"{folder}: protege joins a folder's tables to its one table of graded judgements, and "
            f"{'none' if not graded else ', '.join(table.name for table, _ in graded)} of "
            f"{', '.join(table.name for table in tables)} {'has' if len(graded) < 2 else 'have'} a grade "
            f"column named as one; give one file as {setting('data')} (`protege inspect FILE` shows its "
            "columns)"
        )
    return graded[0]


def _reference(judged: pa.Table, grade: str, other: pa.Table) -> tuple[str, str] | None:
    """The column of the judgements that holds ids of ``other``'s rows, and the column of ``other``
    it refers to (BEIR's qrels ``corpus-id`` and ``corpus.jsonl``'s ``_id``): the pair where most
    ids are found, if at least half are. The key is named as an id and names one row; the reference
    is named as one, or has many values: a grade, or an iteration number of 0s, would find rows in
    any table numbered from 0."""
    keys = [
        name
        for name in other.column_names
        if _id_named(name)
        and _scalar(other[name])
        and pc.count_distinct(other[name]).as_py() == other.num_rows
    ]
    references = [
        name
        for name in judged.column_names
        if name != grade
        and _scalar(judged[name])
        and (_id_named(name) or pc.count_distinct(judged[name]).as_py() > MAX_GRADES)
    ]
    key_ids = {key: pc.cast(other[key], pa.string()).combine_chunks() for key in keys}
    found = {}
    for reference in references:
        ids = pc.cast(judged[reference], pa.string())
        for key, values in key_ids.items():
            found[reference, key] = pc.sum(pc.is_in(ids, value_set=values)).as_py() or 0
    best = max(found, key=found.__getitem__, default=None)
    return best if best and found[best] * 2 >= judged.num_rows else None


def _prefix(reference: str, table: _Table) -> str:
    """What the columns of a table joined by ``reference`` are named after: the reference without
    its id (``query-id``: ``query_text``), else the table's file (``qid``: ``topics_text``)."""
    stem = re.sub(r"_?(id|key)$", "", usual_name(reference))
    return stem if len(stem) > 1 else usual_name(table.paths[0].name.split(".")[0])


def _useful(other: pa.Table, added: list[str], name: str) -> list[str]:
    """``added`` less the columns with nothing to add: nested (a BEIR corpus's ``metadata``) or
    empty (MS MARCO's titles in BEIR)."""
    useful = []
    for column in added:
        values = other[column]
        if not _scalar(values):
            continue
        if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
            values = pc.if_else(pc.equal(pc.utf8_trim_whitespace(values), ""), None, values)
        if values.null_count == len(values):
            log.info("%s: its column %s is empty, left out", name, column)
            continue
        useful.append(column)
    return useful


def _id_named(name: str) -> bool:
    return usual_name(name).endswith(("id", "key"))


def _scalar(values: pa.ChunkedArray) -> bool:
    return not pa.types.is_nested(values.type) and not pa.types.is_null(values.type)


def _left_join(table: pa.Table, other: pa.Table, keys: list[str], name: str) -> pa.Table:
    for key in keys:  # an id read as text in one file and as a number in another still matches
        if table[key].type != other[key].type:
            table = table.set_column(table.column_names.index(key), key, pc.cast(table[key], pa.string()))
            other = other.set_column(other.column_names.index(key), key, pc.cast(other[key], pa.string()))
    try:
        return table.join(other, keys, join_type="left outer")
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
        raise DataError(f"{name}: cannot join it on {' + '.join(keys)}: {error}") from None


def _digest(folder: Path, files: list[Path], encoding: str) -> str:
    """Changes when any file does (name, size or time written), or the encoding."""
    digest = hashlib.sha256(encoding.encode())
    for path in files:
        status = path.stat()
        digest.update(f"{path.relative_to(folder)}\0{status.st_size}\0{status.st_mtime_ns}\0".encode())
    return digest.hexdigest()[:16]
