"""Grades read as numbers: numbers as they are (a decimal comma too), words through
``--label-map`` or a known scale of public relevance sets."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from protege.common.setting_names import SettingError, setting

from .csv_sniff import is_number
from .formats import raw_batches
from .spec import Columns, DataError

log = logging.getLogger(__name__)


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


MAX_GRADES = 20


class Grades:
    """Reads one file's label column as numbers: through ``columns.label_map`` when given, else as
    numbers, else (words only) through the known scale that holds all of the file's words."""

    def __init__(self, path: Path, columns: Columns, encoding: str) -> None:
        self.path, self.column, self.encoding = path, columns.label, encoding
        self.mapping = _folded(columns.label_map) if columns.label_map else None
        self.explicit = self.mapping is not None

    def __call__(self, raw: pa.ChunkedArray, first_row: int) -> pa.Array:
        raw = raw.combine_chunks()
        if self.mapping is None:
            numbers = as_numbers(raw)
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
                + ("" if self.explicit else f"; map the file's grades with {setting('label_map')}")
            )
        return pc.take(pa.array(list(self.mapping.values()), pa.float64()), index)

    def _known_scale(self, raw: pa.Array, first_row: int) -> dict[str, float]:
        words = set()
        for batch in raw_batches(self.path, self.encoding, 1 << 16, [self.column]):
            values = pc.utf8_lower(pc.utf8_trim_whitespace(pc.cast(batch.column(self.column), pa.string())))
            words.update(word for word in pc.unique(values).to_pylist() if word)
        if any(is_number(word) for word in words):  # a numeric column with a stray word
            for index, value in enumerate(raw.to_pylist()):
                if value not in (None, "") and not is_number(value):
                    raise DataError(
                        f"{self.path}: data row {first_row + index + 1}, column {self.column!r}: "
                        f"{value!r} is not a number"
                    )
        scale = grade_scale(words)
        if scale is not None:
            mapping = {word: float(rank) for rank, word in enumerate(scale)}
            log.info(
                "%s: column %r holds grades as words, read as %s (set %s to choose others)",
                self.path,
                self.column,
                ", ".join(f"{word}={rank:g}" for word, rank in mapping.items()),
                setting("label_map"),
            )
            return mapping
        shown = sorted(words)[:8]
        example = ",".join(f"{word}={rank}" for rank, word in enumerate(reversed(shown)))
        raise DataError(
            f"{self.path}: column {self.column!r} holds words, not numbers "
            f"({', '.join(map(repr, shown))}{', ...' if len(words) > len(shown) else ''}); "
            f"give each its grade with {setting('label_map')}, e.g. {setting('label_map')} {example!r}"
        )


def grade_scale(words: set[str]) -> tuple[str, ...] | None:
    """The first of ``KNOWN_GRADE_SCALES`` that holds every one of ``words`` (lower case)."""
    return next((scale for scale in KNOWN_GRADE_SCALES if words <= set(scale)), None)


def as_numbers(raw: pa.Array) -> pa.Array | None:
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


def normalise_grades(grades: Sequence[float], label_range: tuple[float, float] | None = None) -> np.ndarray:
    """Gold grades mapped to 0..1 targets by ``(g - low) / (high - low)``; without a range,
    labels already within 0..1 are taken as they are.

    Example::

        >>> normalise_grades([1.0, 2.0, 3.0], (1, 3)).tolist()
        [0.0, 0.5, 1.0]
    """
    values = np.asarray(grades, dtype=np.float64)
    if np.isnan(values).any():
        raise ValueError(f"{int(np.isnan(values).sum())} rows have no label")
    if label_range is None:
        if values.min() < 0 or values.max() > 1:
            raise SettingError(
                f"labels run from {values.min():g} to {values.max():g}: "
                "give {label_range} LOW,HIGH to map them to 0..1",
                "label_range",
            )
        return values
    low, high = label_range
    if high <= low:
        raise SettingError(f"{{label_range}} needs LOW < HIGH, not {low:g},{high:g}", "label_range")
    outside = (values < low) | (values > high)
    if outside.any():
        raise SettingError(
            f"{int(outside.sum())} labels lie outside {{label_range}} {low:g},{high:g}", "label_range"
        )
    return (values - low) / (high - low)
