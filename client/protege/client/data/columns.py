"""Which column plays which role (query, document, doc id, grade): the columns given,
else those with a usual name of that role or the words of one. A role no name tells is an error
that points to ``protege inspect``, which also reads the values."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from protege.common.setting_names import setting

from .formats import read_header
from .spec import Columns, DataError

log = logging.getLogger(__name__)
ROLES = ("query", "document", "doc_id", "label")
# The setting that names each role's column (a command says its flag).
SETTINGS = {
    "query": "Columns.query",
    "document": "Columns.docs",
    "doc_id": "Columns.doc_id",
    "label": "Columns.label",
}

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


# A doc id's name also says what it identifies, and not a query, pair or person.
DOC_WORDS = {"product", "item", "doc", "document", "passage", "article", "listing", "offer", "sku", "asin"}


NOT_DOC_ID_WORDS = {"query", "search", "example", "pair", "row", "judge", "user", "session"}


def resolve_columns(
    path: Path,
    given: dict[str, str | tuple[str, ...] | None],
    *,
    encoding: str = "auto",
    gold: bool = False,
    pair_id: str | None = None,
    label_map: dict[str, float] | None = None,
) -> Columns:
    """The columns of ``path``: those ``given`` by role (query, document: a tuple, doc_id, label), the
    others found by their names (``find_columns``); the grade only where ``gold``. A query,
    document or (with ``gold``) grade that no name tells is a ``DataError`` pointing to
    ``protege inspect``.

    Example::

        resolve_columns(Path("train.csv"), {"query": "search_term"}, gold=True)
        # Columns(query='search_term', docs=('product_title',), doc_id='product_uid', label='relevance', ...)
    """
    header = read_header(path, encoding) or []
    open_roles = tuple(role for role in ROLES if not given.get(role) and (role != "label" or gold))
    taken = tuple(
        name
        for name in (
            pair_id,
            given.get("query"),
            *(given.get("document") or ()),
            given.get("doc_id"),
            given.get("label"),
        )
        if name
    )
    found = find_columns(header, open_roles, taken) if header else dict.fromkeys(open_roles)
    if found and header:
        shown = ", ".join(f"{role}={name or '(none)'}" for role, name in found.items())
        log.info("%s: columns found by name: %s", path, shown)
    missing = [role for role, name in found.items() if name is None and role != "doc_id"]
    if missing and header:
        settings = ", ".join(setting(SETTINGS[role]) for role in missing)
        raise DataError(
            f"{path}: no column is named as the {' or the '.join(missing)} (columns: {', '.join(header)}); "
            f"give {settings}, or run `protege inspect {path}` to see what each column holds"
        )
    return Columns(
        query=given.get("query") or found.get("query") or "query",
        docs=tuple(given.get("document") or (found.get("document") or "document",)),
        doc_id=given.get("doc_id") or found.get("doc_id"),
        label=given.get("label") or found.get("label"),
        pair_id=pair_id,
        label_map=label_map,
    )


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
            words = name_words(name)
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


def name_words(name: str) -> set[str]:
    """The words of a column's name, numbered ones also without their number (``question1``)."""
    words = set(usual_name(name).split("_"))
    return words | {word.rstrip("0123456789") for word in words if word[:1].isalpha()}


def _fits(role: str, words: set[str]) -> bool:
    if role == "doc_id":
        return bool(words & DOC_WORDS) and not words & NOT_DOC_ID_WORDS
    return not words & NOT_ROLE_WORDS
