from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from protege.client.readers import Columns, DataError, ReadStats, count_rows, read_pairs, read_table

ROWS = [
    {"q": "cordless drill", "title": "DEWALT Drill", "desc": "20V MAX kit", "pid": "p1", "grade": "3"},
    {"q": "ceiling paint", "title": "BEHR Ceiling Paint", "desc": "flat white", "pid": "p2", "grade": "2.33"},
    {"q": "  ", "title": "Blank query row", "desc": "", "pid": "p3", "grade": "1"},
    {"q": "angle bracket", "title": "Simpson Bracket", "desc": "", "pid": "p4", "grade": "1.67"},
]
COLUMNS = Columns(query="q", docs=("title", "desc"), doc_id="pid", label="grade", doc_separator=". ")


def write_csv(path: Path, rows: list[dict], encoding: str = "utf-8", delimiter: str = ",") -> Path:
    header = delimiter.join(rows[0])
    lines = [header] + [delimiter.join(f'"{v}"' for v in row.values()) for row in rows]
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


def read_all(path: Path, columns: Columns = COLUMNS, **options) -> list[dict]:
    return [row for chunk in read_pairs(path, columns, **options) for row in chunk.to_pylist()]


def test_csv_columns_are_mapped_joined_and_blank_rows_skipped(tmp_path: Path) -> None:
    stats = ReadStats()
    rows = read_all(write_csv(tmp_path / "pairs.csv", ROWS), stats=stats)
    assert [row["pair_id"] for row in rows] == ["0", "1", "3"]
    assert rows[0] == {
        "pair_id": "0",
        "query": "cordless drill",
        "document": "DEWALT Drill. 20V MAX kit",
        "doc_id": "p1",
        "label": 3.0,
    }
    assert rows[2]["document"] == "Simpson Bracket"  # an empty second column adds nothing
    assert stats.rows == 4 and stats.skipped == {"empty query or document": 1}


def test_one_document_column_with_empty_documents(tmp_path: Path) -> None:
    path = tmp_path / "pairs.csv"
    path.write_text("q,title\ndrill,\nsaw,circular saw\nnails,\n")
    table = read_table(path, Columns(query="q", docs=("title",)))
    assert table.select(["pair_id", "document"]).to_pylist() == [{"pair_id": "1", "document": "circular saw"}]
    only_empty = tmp_path / "only-empty.jsonl"
    only_empty.write_text('{"q": "", "d": "", "g": null}\n')  # found by hypothesis
    skipped = r"only-empty\.jsonl: every row was skipped \(1 empty query or document\)"
    with pytest.raises(DataError, match=skipped):
        read_table(only_empty, Columns(query="q", docs=("d",), label="g"))


def test_latin1_csv_needs_its_encoding_and_errors_name_row_and_column(tmp_path: Path) -> None:
    rows = [dict(ROWS[0]), {**ROWS[1], "title": "Paslode 30° Nails"}]
    path = write_csv(tmp_path / "latin.csv", rows, encoding="latin-1")
    with pytest.raises(DataError, match=r"latin\.csv: data row 2 \(line 3\), column 'title'.*--encoding"):
        read_all(path)
    assert read_all(path, encoding="latin-1")[1]["document"] == "Paslode 30° Nails. flat white"


def test_missing_column_lists_the_columns(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "pairs.csv", ROWS)
    with pytest.raises(
        DataError, match=r"no column 'product_title' for --doc-col \(columns: q, title, desc, pid, grade\)"
    ):
        read_all(path, Columns(query="q", docs=("product_title",)))


def test_empty_and_header_only_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataError, match=r"empty\.csv: the file is empty"):
        read_all(empty)
    header_only = tmp_path / "header.csv"
    header_only.write_text("q,title,desc,pid,grade\n")
    with pytest.raises(DataError, match="no data rows"):
        read_all(header_only)


def test_a_label_that_is_not_a_number_is_named(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "pairs.csv", [ROWS[0], {**ROWS[1], "grade": "high"}])
    with pytest.raises(DataError, match=r"data row 2, column 'grade': 'high' is not a number"):
        read_all(path)


def test_jsonl_parquet_and_tsv_read_the_same(tmp_path: Path) -> None:
    expected = read_all(write_csv(tmp_path / "pairs.csv", ROWS))
    jsonl = tmp_path / "pairs.jsonl"
    jsonl.write_text("".join(json.dumps(row) + "\n" for row in ROWS))
    parquet = tmp_path / "pairs.parquet"
    pq.write_table(pa.Table.from_pylist(ROWS), parquet)
    tsv = write_csv(tmp_path / "pairs.tsv", ROWS, delimiter="\t")
    for path in (jsonl, parquet, tsv):
        assert read_all(path) == expected, path.name
        assert count_rows(path) == len(ROWS)


def test_pair_ids_from_a_column_and_chunking(tmp_path: Path) -> None:
    rows = [{"id": f"x{i}", "query": f"q{i}", "document": f"d{i}"} for i in range(10)]
    path = tmp_path / "pairs.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    chunks = list(read_pairs(path, Columns(pair_id="id"), chunk_rows=3))
    assert [chunk.num_rows for chunk in chunks] == [3, 3, 3, 1]
    assert [row["pair_id"] for chunk in chunks for row in chunk.to_pylist()] == [f"x{i}" for i in range(10)]


def test_unknown_extension_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "pairs.xlsx"
    path.write_text("x")
    with pytest.raises(DataError, match="cannot tell the format"):
        read_all(path)
