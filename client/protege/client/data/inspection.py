"""``protege inspect``: what a data file holds and the flags that read it, so that no command
has to guess a column from its values.

Example::

    print(inspect_data(Path("train.csv")).text())
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from protege.common.setting_names import setting

from .columns import ROLES, SETTINGS, find_columns
from .content_roles import find_columns_by_content
from .csv_sniff import is_headerless, resolve_encoding
from .files import file_format
from .formats import count_rows, read_header, sample_rows
from .grades import Grades
from .spec import Columns, DataError

SHOWN_VALUES = 3


@dataclass
class Inspection:
    """What ``inspect_file`` read of a file: how to read it and the role each column would play.

    Args:
        path: the file inspected.
        format: ``csv``, ``tsv``, ``jsonl``, ``json``, ``parquet`` or ``arrow``.
        encoding: the text encoding it is read in.
        rows: its data rows.
        columns: a few values of each column, by name.
        roles: for each role (query, document, doc id, label), the column proposed and how it was
            found (by its name, by its values), or None.
        grades: the distinct grades of the proposed label column.

    Example::

        inspection = inspect_file(Path("judged.tsv"))
        print(inspection.text())  # the roles and why; inspection.flags() reads the file so
    """

    path: Path
    format: str
    encoding: str
    rows: int
    columns: dict[str, list[str]]  # a few values of each
    roles: dict[str, tuple[str | None, str]]  # role: (column, how it was found)
    grades: list[float]

    def flags(self) -> str:
        """The column settings (a command's flags) that read the file as proposed, for any command."""
        parts = [
            f"{setting(SETTINGS[role])} {shlex.quote(column)}"
            for role, (column, _) in self.roles.items()
            if column
        ]
        if self.encoding not in ("utf-8", "auto"):
            parts.append(f"{setting('encoding')} {self.encoding}")
        return " ".join(parts)

    def text(self) -> str:
        lines = [f"{self.path}: {self.format}, {self.encoding}, {self.rows:,} rows"]
        lines += [f"  {name}: {', '.join(values)}" for name, values in self.columns.items()]
        lines.append("roles:")
        for role, (column, how) in self.roles.items():
            lines.append(f"  {role:<9} {column or '(none)'}  ({how})")
        if self.grades:
            lines.append(f"grades: {', '.join(f'{grade:g}' for grade in self.grades)}")
        lines.append(f"flags: {self.flags()}")
        return "\n".join(lines)


def inspect_data(path: Path, encoding: str = "auto") -> Inspection:
    """What ``path`` holds: its columns and a few values, the column each role would take (by
    name, else by values), and the grades of the grade column."""
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    encoding = resolve_encoding(path, encoding)
    header = read_header(path, encoding) or []
    sample = sample_rows(path, encoding)
    by_name = find_columns(header, ROLES)
    open_roles = tuple(role for role, name in by_name.items() if name is None and role != "doc_id")
    named = tuple(name for name in by_name.values() if name)
    by_values = find_columns_by_content(sample, open_roles, named) if open_roles else {}
    roles = {role: (name, "by its name") for role, name in by_name.items()}
    roles |= {role: (name, "by its values") for role, name in by_values.items() if name}
    if is_headerless(path, encoding):
        roles = {role: (name, how + "; the file has no header row") for role, (name, how) in roles.items()}
    return Inspection(
        path=path,
        format=file_format(path),
        encoding=encoding,
        rows=count_rows(path, encoding),
        columns={name: _examples(sample, name) for name in sample.column_names},
        roles=roles,
        grades=_grades(path, sample, roles["label"][0], encoding),
    )


def _examples(sample: pa.Table, name: str) -> list[str]:
    values = pc.unique(pc.cast(sample[name].drop_null(), "string")).to_pylist()[:SHOWN_VALUES]
    return [repr(value if len(value) <= 40 else value[:37] + "...") for value in values]


def _grades(path: Path, sample: pa.Table, label: str | None, encoding: str) -> list[float]:
    if label is None:
        return []
    try:
        numbers = Grades(path, Columns(label=label), encoding)(sample[label], 0)
    except DataError:  # words no scale holds: the user maps them with --label-map
        return []
    return sorted(pc.unique(numbers.drop_null()).to_pylist())
