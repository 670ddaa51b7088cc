"""Roles read from a column's values where its name says nothing (another language,
``col_3``): what ``protege inspect`` proposes, never what a command silently reads."""

from __future__ import annotations

import logging
from typing import NamedTuple

import pyarrow as pa
import pyarrow.compute as pc

from protege.common.setting_names import setting

from .columns import NOT_ROLE_WORDS, name_words
from .grades import MAX_GRADES, as_numbers, grade_scale

log = logging.getLogger(__name__)


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
        name: _profile(sample[name])
        for name in sample.column_names
        if name not in taken and not name_words(name) & NOT_ROLE_WORDS
    }
    found: dict[str, str | None] = dict.fromkeys(roles)
    if "label" in roles:
        grades = [name for name, column in profiles.items() if column.kind == "grade words"] or [
            name
            for name, column in profiles.items()
            if column.kind == "numbers" and 2 <= column.distinct <= min(MAX_GRADES, column.values - 1)
        ]
        if len(grades) > 1:
            log.warning(
                "columns %s could each be the grade: name it with %s",
                ", ".join(grades),
                setting("Columns.label"),
            )
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
    if as_numbers(text.combine_chunks()) is not None:
        kind = "numbers"
    elif grade_scale(set(pc.utf8_lower(distinct).to_pylist())) is not None:
        kind = "grade words"
    else:
        kind = "text"
    return _Profile(kind, len(distinct), pc.mean(pc.utf8_length(text)).as_py(), len(text))
