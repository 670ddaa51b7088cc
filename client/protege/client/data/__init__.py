"""Reading relevance data: files of any usual format and encoding (``files``, ``csv_sniff``,
``formats``), folders of tables joined (``folders``), the columns named by the flags or their
usual names (``columns``), grades as numbers (``grades``) and (query, document) pairs
(``pairs``). ``inspection`` proposes columns by their values too, for ``protege inspect``.

Example::

    spec = DataSpec(Path("train.csv"), resolve_columns(Path("train.csv"), {}, gold=True), "auto")
    table = read_table(spec.path, spec.columns, encoding=spec.encoding)
"""

from .columns import resolve_columns
from .csv_sniff import resolve_encoding
from .folders import join_folder
from .formats import count_rows, read_header
from .inspection import Inspection, inspect_data
from .pairs import ORIGIN_COLUMNS, PAIR_SCHEMA, ReadStats, read_pairs, read_queries, read_table
from .spec import Columns, DataError, DataSpec

__all__ = [
    "ORIGIN_COLUMNS",
    "PAIR_SCHEMA",
    "Columns",
    "DataError",
    "DataSpec",
    "Inspection",
    "ReadStats",
    "count_rows",
    "inspect_data",
    "join_folder",
    "read_header",
    "read_pairs",
    "read_queries",
    "read_table",
    "resolve_columns",
    "resolve_encoding",
]
