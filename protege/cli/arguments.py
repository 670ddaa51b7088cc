"""Argument groups several commands share, and what they build: a ``DataSpec``, a
``TrainingConfig``."""

from __future__ import annotations

import argparse
from pathlib import Path

from protege.client.data import DataSpec, join_folder, resolve_columns
from protege.client.data.outputs import is_output_folder
from protege.client.export import ExportSpec
from protege.client.training.config import TrainingConfig
from protege.common.config_flags import add_flags, from_flags

# Each column setting's flag: library messages name the setting (``Columns.query``), a command its flag.
COLUMN_FLAGS = {
    "Columns.query": "--query-col",
    "Columns.docs": "--doc-col",
    "Columns.doc_id": "--doc-id-col",
    "Columns.label": "--label-col",
    "Columns.pair_id": "--id-col",
}


def add_data_arguments(parser: argparse.ArgumentParser, *, label_help: str | None = None) -> None:
    """``--data`` and its columns, as every command that reads pairs takes them."""
    parser.add_argument(
        "--data",
        required=True,
        type=Path,
        help="CSV/TSV (any encoding), JSON(L), parquet or Arrow file; or a folder of tables: the graded "
        "judgements and those they refer to by id (queries, products), joined",
    )
    parser.add_argument(
        COLUMN_FLAGS["Columns.query"], help="column of the query (default: its usual name, e.g. search_term)"
    )
    parser.add_argument(
        COLUMN_FLAGS["Columns.docs"],
        action="append",
        help="column of the document; repeat to join several (e.g. title, description); "
        "default: its usual name, e.g. product_title",
    )
    parser.add_argument(
        COLUMN_FLAGS["Columns.doc_id"], help="column of the document id (default: its usual name, e.g. sku)"
    )
    parser.add_argument(
        COLUMN_FLAGS["Columns.label"],
        help=label_help or "column of the gold grade (default: its usual name, e.g. relevance)",
    )
    parser.add_argument(
        COLUMN_FLAGS["Columns.pair_id"], help="column of a unique pair id (default: the row number)"
    )
    parser.add_argument(
        "--label-map",
        type=label_map,
        help="grades written as words, e.g. Exact=3,Substitute=2,Complement=1,Irrelevant=0 "
        "(default: numbers as they are; ESCI, WANDS and relevant/irrelevant words by rank)",
    )
    add_encoding_argument(parser)


def add_encoding_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--encoding",
        default="auto",
        help="text encoding of a CSV or TSV (of a folder's: each), e.g. latin-1 (default: UTF-8 if the file "
        "is UTF-8, else latin-1)",
    )


def data_spec(args: argparse.Namespace, path: Path | None = None, *, gold: bool = False) -> DataSpec:
    """``args.data`` (or ``path``, read with the same columns) as a ``DataSpec``: a folder of tables
    joined into one file, the columns given by flags and the others found by their usual names;
    ``gold``: the grade is needed too. A protege label or filter folder is kept as it is."""
    given = path or args.data
    if is_output_folder(given):
        return DataSpec(given, resolve_columns(given, _named(args), gold=False), args.encoding, given)
    readable = join_folder(given, encoding=args.encoding) if given.is_dir() else given
    columns = resolve_columns(
        readable,
        _named(args),
        encoding=args.encoding,
        gold=gold,
        pair_id=args.id_col,
        label_map=args.label_map,
    )
    return DataSpec(readable, columns, args.encoding, given)


def _named(args: argparse.Namespace) -> dict[str, str | tuple[str, ...] | None]:
    return {
        "query": args.query_col,
        "document": tuple(args.doc_col or ()),
        "doc_id": args.doc_id_col,
        "label": args.label_col,
    }


def label_map(text: str) -> dict[str, float]:
    """``Exact=2,Partial=1,Irrelevant=0`` as a dict of grades."""
    mapping = {}
    for item in text.split(","):
        word, equals, grade = item.rpartition("=")
        try:
            if not equals or not word.strip():
                raise ValueError
            mapping[word.strip()] = float(grade)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{item.strip()!r} is not WORD=GRADE (e.g. Exact=2,Partial=1,Irrelevant=0)"
            ) from None
    return mapping


def label_range(text: str) -> tuple[float, float]:
    """``1,3`` as the range (1.0, 3.0) of gold grades, mapped to 0..1."""
    try:
        low, high = (float(value) for value in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"give LOW,HIGH, e.g. 1,3, not {text!r}") from None
    return low, high


def add_training_arguments(parser: argparse.ArgumentParser) -> None:
    """The student's training flags, made from ``TrainingConfig``'s fields."""
    add_flags(parser, TrainingConfig)


def training_config(args: argparse.Namespace) -> TrainingConfig:
    return from_flags(TrainingConfig, args)


def add_export_argument(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--export",
        type=export_spec,
        help=f"also export {what}: onnx, onnx-int8, onnx-O2-int8 or openvino (OUT/student-EXPORT)",
    )


def export_spec(text: str) -> ExportSpec:
    """``onnx-int8`` as ``ExportSpec("onnx", quantize="int8")``."""
    try:
        return ExportSpec.parse(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
