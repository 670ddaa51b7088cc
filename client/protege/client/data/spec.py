"""What a command reads: the file, its encoding and which columns hold what."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path


class DataError(ValueError):
    """A data file that cannot be read as asked."""


@dataclass(frozen=True)
class Columns:
    """Which input columns hold what.

    Args:
        query: the query's column.
        docs: the document's columns; several are joined into one document, ``doc_separator``
            between them.
        doc_id: the product id's column, if any.
        label: the gold grade's column, if any.
        pair_id: a unique pair id's column (default: the row number).
        doc_separator: what joins several ``docs`` columns.
        label_map: grades written as words, as numbers (case and surrounding spaces ignored);
            without it, numbers are read as they are and words of a ``KNOWN_GRADE_SCALES`` scale
            by their rank.

    Example::

        Columns(query="search_term", docs=("product_title", "product_description"), label="relevance")
        Columns("query", ("product_title",), label="esci_label", label_map={"E": 3, "S": 2, "C": 1, "I": 0})
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
        """As recorded in job manifests and study settings."""
        return asdict(self)


@dataclass(frozen=True)
class DataSpec:
    """A data file and how to read it, built once from a command's arguments and passed down.

    Args:
        path: the file read (a folder's tables joined into one file).
        columns: which columns hold what.
        encoding: a CSV's text encoding; ``auto``: UTF-8 if the file is, else detected.
        source: the path as the user gave it (the folder), for messages and provenance.

    Example::

        DataSpec(Path("train.csv"), Columns("search_term", ("product_title",), label="relevance"), "latin-1")
    """

    path: Path
    columns: Columns
    encoding: str = "auto"
    source: Path | None = None
