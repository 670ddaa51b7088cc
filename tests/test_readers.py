from __future__ import annotations

import argparse
import bz2
import gzip
import json
import lzma
import shlex
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from protege.cli.arguments import label_map
from protege.client.data import Columns, DataError, ReadStats, count_rows, read_header, read_pairs, read_table
from protege.client.data.columns import KNOWN_COLUMNS, find_columns
from protege.client.data.content_roles import find_columns_by_content
from protege.client.data.csv_sniff import is_headerless, resolve_encoding
from protege.client.data.formats import sample_rows
from protege.client.data.pairs import read_pair_blocks

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
    message = r"latin\.csv: data row 2 \(line 3\), column 'title'.*set encoding to the file's encoding"
    with pytest.raises(DataError, match=message):
        read_all(path)
    assert read_all(path, encoding="latin-1")[1]["document"] == "Paslode 30° Nails. flat white"
    tsv = write_csv(tmp_path / "latin.tsv", rows, encoding="latin-1", delimiter="\t")
    with pytest.raises(DataError, match=r"latin\.tsv: data row 2 \(line 3\), column 'title'"):
        read_all(tsv)
    headerless = tmp_path / "qrels.tsv"
    headerless.write_bytes("1\tdrill\tDEWALT Drill\t3\n2\tnails\tPaslode 30° Nails\t2\n".encode("latin-1"))
    columns = Columns(query="column_2", docs=("column_3",), label="column_4")
    with pytest.raises(DataError, match=r"qrels\.tsv: data row 2 \(line 2\), column 'column_3'"):
        read_table(headerless, columns)


def test_auto_encoding_reads_utf8_as_utf8_and_western_text_in_its_code_page(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rows = [dict(ROWS[0]), {**ROWS[1], "title": "Paslode 30° Nails"}]
    utf8, latin = write_csv(tmp_path / "utf8.csv", rows), write_csv(tmp_path / "latin.csv", rows, "latin-1")
    assert resolve_encoding(utf8, "auto") == "utf-8" and not caplog.text
    assert read_all(latin, encoding="auto")[1]["document"] == "Paslode 30° Nails. flat white"
    # No byte in 0x80-0x9F: cp1252 and latin-1 read it alike.
    assert "latin.csv is not UTF-8: reading it as cp1252" in caplog.text
    assert resolve_encoding(latin, "cp1252") == "cp1252"  # a stated encoding is kept


def test_auto_encoding_finds_a_multi_byte_encoding_and_refuses_bytes_that_fit_none(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A GBK file once came out of "auto" as latin-1 mojibake, with no word."""
    gbk = tmp_path / "gbk.csv"
    lines = [f"电钻{i},博世电钻套装{i},3\n螺丝刀{i},十字螺丝刀,2\n" for i in range(30)]
    gbk.write_bytes(("查询,商品,相关度\n" + "".join(lines)).encode("gbk"))
    columns = Columns(query="查询", docs=("商品",), label="相关度")
    rows = read_all(gbk, columns, encoding="auto")
    assert (rows[0]["query"], rows[1]["document"]) == ("电钻0", "十字螺丝刀")
    assert "gbk.csv is not UTF-8: reading it as gb18030, as detected" in caplog.text
    windows = tmp_path / "windows.csv"
    windows.write_bytes("q,title,grade\n“drill” – cordless,DEWALT Drill,3\n".encode("cp1252"))
    windows_columns = Columns(query="q", docs=("title",), label="grade")
    assert read_all(windows, windows_columns, encoding="auto")[0]["query"] == "“drill” – cordless"
    beyond = tmp_path / "beyond.csv"  # 0x8d is no cp1252 character: latin-1, as the Home Depot file
    beyond.write_bytes(b"q,title,grade\ncaf\xe9 \x8d,DEWALT Drill,3\n")
    assert read_all(beyond, windows_columns, encoding="auto")[0]["query"] == "café \x8d"
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"q,title,grade\n" + bytes(range(128, 256)) * 20 + b",x,1\n")
    with pytest.raises(
        DataError, match=r"binary\.csv: data row 1 \(line 2\), column 'q'.*at byte 14.*set encoding"
    ):
        read_all(binary, encoding="auto")


def test_a_utf8_byte_order_mark_is_not_part_of_the_first_column_name(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes("\ufeffq,title,grade\ndrill,DEWALT Drill,3\n".encode())
    assert read_header(path) == ["q", "title", "grade"]
    assert read_all(path, Columns(query="q", docs=("title",), label="grade"))[0]["label"] == 3.0


def test_columns_are_found_by_their_usual_names(tmp_path: Path) -> None:
    home_depot = ["id", "product_uid", "product_title", "search_term", "relevance"]
    assert find_columns(home_depot, tuple(KNOWN_COLUMNS)) == {
        "query": "search_term",
        "document": "product_title",
        "doc_id": "product_uid",
        "label": "relevance",
    }
    # Case, spaces, hyphens and camelCase aside; the first usual name wins; nothing usual is None.
    header = ["Q", "Search Query", "Product-Name", "Title", "productUID"]
    assert find_columns(header, ("query", "document", "doc_id")) == {
        "query": "Search Query",
        "document": "Product-Name",
        "doc_id": "productUID",
    }
    assert find_columns(["Q", "Search Query"], ("label",)) == {"label": None}
    # WikiQA: the answer sentence is the document, and its id is SentenceID, not the article's.
    wikiqa = ["QuestionID", "Question", "DocumentID", "DocumentTitle", "SentenceID", "Sentence", "Label"]
    assert find_columns(wikiqa, tuple(KNOWN_COLUMNS)) == {
        "query": "Question",
        "document": "Sentence",
        "doc_id": "SentenceID",
        "label": "Label",
    }
    assert find_columns(["q", "doc", "rel"], ("query", "document", "label")) == {
        "query": "q",
        "document": "doc",
        "label": "rel",
    }
    jsonl = tmp_path / "pairs.jsonl"
    jsonl.write_text(json.dumps({"question": "drill", "passage": "DEWALT Drill"}) + "\n")
    assert read_header(jsonl) == ["question", "passage"]
    assert read_header(tmp_path / "missing.csv") is None


def test_columns_without_a_usual_name_are_found_by_the_words_of_their_names() -> None:
    # Kaggle's CrowdFlower search relevance: the grade is a median beside its variance.
    crowdflower = [
        "id",
        "query",
        "product_title",
        "product_description",
        "median_relevance",
        "relevance_variance",
    ]
    assert find_columns(crowdflower, tuple(KNOWN_COLUMNS)) == {
        "query": "query",
        "document": "product_title",
        "doc_id": None,
        "label": "median_relevance",
    }
    # Ids, counts and categories of a role's column are not the column itself.
    header = [
        "query_id",
        "query_class",
        "queryText",
        "listing_sku",
        "item_description",
        "judge_count",
        "gold_grade",
    ]
    assert find_columns(header, tuple(KNOWN_COLUMNS)) == {
        "query": "queryText",
        "document": "item_description",
        "doc_id": "listing_sku",
        "label": "gold_grade",
    }
    assert find_columns(["query_id", "user_id", "relevance_variance"], tuple(KNOWN_COLUMNS)) == dict.fromkeys(
        KNOWN_COLUMNS
    )
    # No column plays two roles, nor one the command was given for another.
    found = find_columns(["title", "title_text"], ("document", "query"))
    assert found == {"document": "title", "query": None}
    assert find_columns(["query", "search_text"], ("query",), taken=("query",)) == {"query": "search_text"}
    # A pair of like names (GLUE's sentence1/sentence2, text_a/text_b) does not say which holds the
    # queries: both are left to their values, which do.
    roles = ("query", "document", "label")
    for pair in (["sentence1", "sentence2"], ["text_b", "text_a"]):
        assert find_columns([*pair, "score"], roles) == {"query": None, "document": None, "label": "score"}
    sample = pa.table(
        {
            "text_a": ["DEWALT 20V MAX Drill", "Drill bit set, 6 mm", "BEHR white paint"],
            "text_b": ["drill", "drill", "paint"],
        }
    )
    assert find_columns_by_content(sample, ("query", "document")) == {"query": "text_b", "document": "text_a"}
    assert find_columns(["text_a", "title", "score"], roles)["document"] == "title"
    # The last word names the thing: a search result's title is a document, a search's relevance
    # a grade; a generic last word leaves the role to the words before it.
    assert find_columns(["search_result_title", "search_relevance", "search"], tuple(KNOWN_COLUMNS)) == {
        "query": "search",
        "document": "search_result_title",
        "doc_id": None,
        "label": "search_relevance",
    }
    assert find_columns(["question_text", "answer_text"], ("query", "document")) == {
        "query": "question_text",
        "document": "answer_text",
    }
    # A document found by its words brings its own id, whose words alone would not say so.
    assert find_columns(["searchQuery", "resultTitle", "resultId", "rel"], tuple(KNOWN_COLUMNS)) == {
        "query": "searchQuery",
        "document": "resultTitle",
        "doc_id": "resultId",
        "label": "rel",
    }


def test_columns_whose_names_say_nothing_are_found_by_their_values() -> None:
    sample = pa.table(
        {
            "id": ["1", "2", "3", "4", "5", "6"],
            "consulta": ["taladro", "taladro", "taladro", "pintura", "pintura", "broca"],
            "titulo": [
                "Taladro DEWALT 20V MAX",
                "Broca de 6 mm",
                "Taladro Bosch",
                "Pintura BEHR blanca",
                "Rodillo de pintura",
                "Juego de brocas HSS",
            ],
            "precio": ["19.99", "3.50", "89.00", "24.10", "7.25", "15.00"],
            "relevancia": ["3", "1,5", "2.67", "3", "2", "3"],
        }
    )
    roles = ("query", "document", "label")
    # The grade has few distinct numbers (a price has one per product, an id one per row); the
    # document has the longest texts; the query is the text left, which repeats.
    assert find_columns_by_content(sample, roles) == {
        "query": "consulta",
        "document": "titulo",
        "label": "relevancia",
    }
    assert find_columns_by_content(sample, roles, taken=("titulo",))["document"] == "consulta"
    # Grade words come before numbers; two columns of few numbers leave the grade undecided.
    votes = pa.array(["3", "3", "5", "4", "3", "5"])
    assert find_columns_by_content(
        sample.append_column("etiqueta", pa.array(["Exact", "Irrelevant", "Partial"] * 2)).append_column(
            "votos", votes
        ),
        ("label",),
    ) == {"label": "etiqueta"}
    assert find_columns_by_content(sample.append_column("votos", votes), ("label",)) == {"label": None}
    # Named as a count or an id, a column of few numbers is not the grade.
    assert find_columns_by_content(sample.append_column("judge_count", votes), ("label",)) == {
        "label": "relevancia"
    }
    # The query repeats, but a category of a few values (a split, a locale) is not one.
    many = pa.table(
        {
            "division": ["train", "test"] * 30,
            "consulta": [f"consulta {number // 2}" for number in range(60)],
            "titulo": [f"producto largo numero {number}" for number in range(60)],
        }
    )
    assert find_columns_by_content(many, ("query", "document")) == {"query": "consulta", "document": "titulo"}
    # A brand repeats more than the queries do, but always with the same product.
    drills = ["Taladro DEWALT 20V MAX", "Broca de 6 mm DEWALT", "Taladro Bosch 18V"]
    branded = pa.table(
        {
            "consulta": ["taladro", "taladro", "taladro", "broca", "broca", "taladro inalambrico"],
            "titulo": [*drills, drills[1], drills[0], drills[0]],
            "marca": ["DEWALT", "DEWALT", "Bosch", "DEWALT", "DEWALT", "DEWALT"],
        }
    )
    assert find_columns_by_content(branded, ("query", "document")) == {
        "query": "consulta",
        "document": "titulo",
    }
    # Numbered names keep their words: Quora-style question pairs.
    assert find_columns(["qid1", "question1", "question2", "is_duplicate"], ("query", "document")) == {
        "query": "question1",
        "document": None,
    }


def test_unnamed_columns_are_an_error_that_inspect_answers_with_the_flags(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from protege.cli import main

    judged = [
        ("电钻", "博世 电钻 18V 锂电池套装", "3"),
        ("电钻", "钻头 6 毫米", "1"),
        ("油漆", "白色 内墙 乳胶漆", "2.5"),
    ]
    rows = [
        {"编号": str(number), "搜索词": query, "商品标题": title, "评分": grade}
        for number, (query, title, grade) in enumerate(judged * 2)
    ]
    path = write_csv(tmp_path / "相关性.tsv", rows, delimiter="\t")
    assert len(sample_rows(path, rows=4)) == 4
    # No column has a role's name: a command refuses to guess, and says what to run.
    assert main(["eval", "--data", str(path), "--model", "m"]) == 2
    error = capsys.readouterr().err
    assert "no column is named as the query or the document or the label" in error
    assert f"give --query-col, --doc-col, --label-col, or run `protege inspect {path}`" in error
    # `protege inspect` reads the values, and prints the flags that read the file so.
    assert main(["inspect", str(path)]) == 0
    shown = capsys.readouterr().out
    assert "query     搜索词  (by its values)" in shown and "grades: 1, 2.5, 3" in shown
    flags = shlex.split(shown.rsplit("flags: ", 1)[1])  # as a shell reads them
    assert flags == ["--query-col", "搜索词", "--doc-col", "商品标题", "--label-col", "评分"]
    columns = Columns(query="搜索词", docs=("商品标题",), label="评分")
    assert read_table(path, columns)["label"].to_pylist() == [3.0, 1.0, 2.5] * 2
    # A qrels-style file without a header row: its columns are named by number, proposed by their values.
    headerless = tmp_path / "qrels.tsv"
    headerless.write_text(
        "".join(
            f"{topic}\tquery {topic}\tA product of {topic} in {size} sizes\t{grade}\n"
            for topic in range(1, 31)
            for size, grade in (("two", "3"), ("many", "1"))
        )
    )
    assert main(["inspect", str(headerless)]) == 0
    shown = capsys.readouterr().out
    assert "the file has no header row" in shown
    assert shlex.split(shown.rsplit("flags: ", 1)[1]) == [
        "--query-col",
        "column_2",
        "--doc-col",
        "column_3",
        "--label-col",
        "column_4",
    ]
    table = read_table(headerless, Columns(query="column_2", docs=("column_3",), label="column_4"))
    assert table.num_rows == 60
    assert table["query"].to_pylist()[:3] == ["query 1", "query 1", "query 2"]
    assert table["label"].to_pylist()[:3] == [3.0, 1.0, 3.0]


def test_a_header_of_numbers_is_told_from_a_first_row_of_data(tmp_path: Path) -> None:
    # pandas writes unnamed columns as 0, 1, 2 (after an empty index name); R counts from 1.
    pandas = tmp_path / "pandas.csv"
    pandas.write_text(",0,1,2\n0,drill,DEWALT Drill,3\n1,bracket,Angle Bracket,2\n")
    assert not is_headerless(pandas)
    assert read_header(pandas) == ["", "0", "1", "2"]
    # A name over a column of numbers makes a header, whatever else the row holds.
    dated = tmp_path / "dated.csv"
    dated.write_text("grade,query,2019\n3,drill,7\n2,bracket,5\n")
    assert not is_headerless(dated)
    assert sample_rows(dated).num_rows == 2
    data = tmp_path / "data.csv"
    data.write_text("3,drill,DEWALT Drill\n2,bracket,Angle Bracket\n")
    assert is_headerless(data)
    assert sample_rows(data).to_pydict() == {
        "column_1": ["3", "2"],
        "column_2": ["drill", "bracket"],
        "column_3": ["DEWALT Drill", "Angle Bracket"],
    }
    assert count_rows(data) == 2
    # With no number in it, a first row is data when its column repeats a value of it below.
    words = tmp_path / "words.tsv"
    words.write_text("drill\tDEWALT Drill\tExact\ndrill\tBracket\tIrrelevant\npaint\tBEHR Paint\tExact\n")
    assert is_headerless(words) and sample_rows(words).num_rows == 3
    named = tmp_path / "named.tsv"
    named.write_text("query\tproduct_name\tlabel\ndrill\tDEWALT Drill\tExact\ndrill\tBracket\tPartial\n")
    assert not is_headerless(named)


def test_the_command_line_names_columns_it_is_not_given(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from protege.cli import build_parser
    from protege.cli.arguments import data_spec

    path = write_csv(tmp_path / "wands.csv", [{"query": "drill", "product_name": "Drill", "label": "Exact"}])
    parser = build_parser()
    with caplog.at_level("INFO"):
        columns = data_spec(
            parser.parse_args(["eval", "--data", str(path), "--model", "m"]), gold=True
        ).columns
    assert (columns.query, columns.docs, columns.doc_id, columns.label) == (
        "query",
        ("product_name",),
        None,
        "label",
    )
    found = "columns found by name: query=query, document=product_name, doc_id=(none), label=label"
    assert found in caplog.text
    given = ["label", "--data", str(path), "--out", "o", "--query-col", "product_name", "--doc-col", "label"]
    columns = data_spec(parser.parse_args(given)).columns
    assert (columns.query, columns.docs, columns.label) == (
        "product_name",
        ("label",),
        None,
    )  # no grades asked


def test_missing_column_lists_the_columns(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "pairs.csv", ROWS)
    with pytest.raises(
        DataError, match=r"no column .product_title. for Columns\.docs \(columns: q, title, desc, pid, grade"
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


def test_blank_grades_are_missing_not_errors(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "pairs.csv", [ROWS[0], {**ROWS[1], "grade": " "}])
    assert [row["label"] for row in read_all(path)] == [3.0, None]


def test_decimal_commas_are_read_as_decimal_points(tmp_path: Path) -> None:
    # A European spreadsheet's export: semicolons between columns, commas in numbers.
    rows = [ROWS[0], {**ROWS[1], "grade": "2,33"}, {**ROWS[3], "grade": ",5"}]
    path = write_csv(tmp_path / "pairs.csv", rows, delimiter=";")
    assert [row["label"] for row in read_all(path)] == [3.0, 2.33, 0.5]


def grades(path: Path, **columns) -> list[float | None]:
    return [row["label"] for row in read_all(path, Columns(query="q", docs=("d",), label="g", **columns))]


def test_grades_written_as_words_of_a_known_scale_are_read_by_rank(tmp_path: Path) -> None:
    esci = tmp_path / "esci.jsonl"
    words = ["Exact", "irrelevant", " Substitute ", "Complement", ""]
    esci.write_text(
        "".join(json.dumps({"q": "drill", "d": f"item {i}", "g": w}) + "\n" for i, w in enumerate(words))
    )
    assert grades(esci) == [3.0, 0.0, 2.0, 1.0, None]
    letters = tmp_path / "esci.parquet"
    pq.write_table(pa.table({"q": ["drill"] * 4, "d": list("abcd"), "g": list("ESCI")}), letters)
    assert grades(letters) == [3.0, 2.0, 1.0, 0.0]
    # TREC Deep Learning's words; two words of a longer scale keep their ranks in it.
    trec = tmp_path / "trec.parquet"
    pq.write_table(
        pa.table(
            {
                "q": ["drill"] * 4,
                "d": list("abcd"),
                "g": ["Perfectly relevant", "Related", "Irrelevant", "Highly relevant"],
            }
        ),
        trec,
    )
    assert grades(trec) == [3.0, 1.0, 0.0, 2.0]
    pq.write_table(pa.table({"q": ["drill"] * 2, "d": list("ab"), "g": ["High", "low"]}), trec)
    assert grades(trec) == [2.0, 0.0]
    # WANDS: tab-separated though named .csv; a word scale is chosen over the whole file, so a
    # chunk without "Partial" reads "Exact" as 2 like the others.
    wands = tmp_path / "wands.csv"
    wands.write_text("q\td\tg\ndrill\ta\tExact\ndrill\tb\tIrrelevant\nsaw\tc\tPartial\n")
    assert [
        row["label"]
        for chunk in read_pairs(wands, Columns("q", ("d",), label="g"), chunk_rows=2)
        for row in chunk.to_pylist()
    ] == [2.0, 0.0, 1.0]


def test_a_tab_separated_file_with_a_stray_quote_mark_reads_it_as_text(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    stray = tmp_path / "stray.tsv"
    stray.write_text('q\td\tg\ndecal\t"Frozen wall decal\t3\ntile\t12" Ceramic Tile\t2\ndrill\tDrill\t3\n')
    with caplog.at_level("WARNING"):
        table = read_table(stray, Columns(query="q", docs=("d",), label="g"))
    assert table["document"].to_pylist() == ['"Frozen wall decal', '12" Ceramic Tile', "Drill"]
    assert "a quote mark opens a field and does not close it" in caplog.text
    # Never closed, the quoted field would run past csv's field limit (128 KiB) where the first
    # rows are looked at to tell a header from data.
    rows = "".join(f"query {n}\ta long product title, number {n}\t2\n" for n in range(4000))
    long = tmp_path / "long.tsv"
    long.write_text('q\td\tg\ndecal\t"Frozen wall decal\t3\n' + rows)
    assert read_table(long, Columns(query="q", docs=("d",), label="g")).num_rows == 4001
    # Quoted as pandas writes a TSV: a tab and a line break inside a field stay in it.
    quoted = tmp_path / "quoted.tsv"
    quoted.write_text('q\td\tg\ndrill\t"DEWALT\tDrill ""20V""\nkit"\t3\n')
    assert read_table(quoted, Columns(query="q", docs=("d",), label="g"))["document"].to_pylist() == [
        'DEWALT\tDrill "20V"\nkit'
    ]


def test_a_label_map_gives_words_their_grades(tmp_path: Path) -> None:
    path = tmp_path / "pairs.csv"
    path.write_text("q,d,g\ndrill,a,Perfect match\ndrill,b,off topic\nsaw,c,PERFECT MATCH\n")
    with pytest.raises(
        DataError, match=r"'g' holds words, not numbers \('off topic', 'perfect match'\).*label_map"
    ):
        grades(path)
    assert grades(path, label_map={"perfect match": 1, "Off Topic": 0}) == [1.0, 0.0, 1.0]
    with pytest.raises(
        DataError, match=r"data row 2, column 'g': 'off topic' is not one of the grades 'perfect match'$"
    ):
        grades(path, label_map={"perfect match": 1})
    # A map applies to numbers too, e.g. to make grades binary.
    numeric = write_csv(
        tmp_path / "numeric.csv", [{"q": "drill", "d": "a", "g": "3"}, {"q": "drill", "d": "b", "g": "1"}]
    )
    assert grades(numeric, label_map={"3": 1, "1": 0}) == [1.0, 0.0]


def test_label_map_option_reads_word_grade_pairs() -> None:
    assert label_map("Exact=2, Partial = 1,Irrelevant=0") == {"Exact": 2.0, "Partial": 1.0, "Irrelevant": 0.0}
    assert label_map("a=b=1") == {"a=b": 1.0}  # the last "=" separates the grade
    for bad in ("Exact,Partial=1", "Exact=high", "=1"):
        with pytest.raises(argparse.ArgumentTypeError, match="is not WORD=GRADE"):
            label_map(bad)


def test_jsonl_parquet_and_tsv_read_the_same(tmp_path: Path) -> None:
    expected = read_all(write_csv(tmp_path / "pairs.csv", ROWS))
    jsonl = tmp_path / "pairs.jsonl"
    jsonl.write_text("".join(json.dumps(row) + "\n" for row in ROWS))
    parquet = tmp_path / "pairs.parquet"
    pq.write_table(pa.Table.from_pylist(ROWS), parquet)
    tsv = write_csv(tmp_path / "pairs.tsv", ROWS, delimiter="\t")
    table = pa.Table.from_pylist(ROWS)
    feather = tmp_path / "pairs.feather"  # Arrow's IPC file format
    with pa.ipc.new_file(feather, table.schema) as writer:
        writer.write_table(table, max_chunksize=3)
    stream = tmp_path / "data-00000-of-00001.arrow"  # a Hugging Face dataset's save_to_disk shard
    with pa.ipc.new_stream(stream, table.schema) as writer:
        writer.write_table(table, max_chunksize=3)
    for path in (jsonl, parquet, tsv, feather, stream):
        assert read_all(path) == expected, path.name
        assert read_all(path, chunk_rows=2) == expected, path.name
        assert count_rows(path) == len(ROWS)
        assert read_header(path) == list(ROWS[0]), path.name


def test_a_json_document_of_records_reads_as_json_lines(tmp_path: Path) -> None:
    expected = read_all(write_csv(tmp_path / "pairs.csv", ROWS))
    documents = {
        "array.json": json.dumps(ROWS, indent=2),  # pandas' to_json(orient="records"), pretty-printed
        "one_line.json": json.dumps(ROWS),
        "held.json": json.dumps({"version": 2, "data": ROWS}, indent=1),
        "held_one_line.json.gz": json.dumps({"data": ROWS}),
    }
    for name, text in documents.items():
        path = tmp_path / name
        path.write_bytes(gzip.compress(text.encode()) if name.endswith(".gz") else text.encode())
        assert read_header(path) == list(ROWS[0]), name
        assert read_all(path) == expected, name
        assert count_rows(path) == len(ROWS), name
    # JSON lines of one record stay JSON lines, and a JSON value that holds no records is named.
    single = tmp_path / "single.json"
    single.write_text(json.dumps({**ROWS[0], "tags": [{"a": 1}, {"a": 2}], "more": [{"b": 1}]}) + "\n")
    assert [row["query"] for row in read_all(single)] == ["cordless drill"]
    for text in ("[1, 2]", '{\n "rows": 3\n}\n', '{\n "a": [{"b": 1}],\n "c": [{"d": 2}]\n}'):
        (tmp_path / "values.json").write_text(text)
        with pytest.raises(DataError, match="an array of records or an object holding one"):
            read_header(tmp_path / "values.json")


def test_compressed_and_zipped_files_read_as_their_contents(tmp_path: Path) -> None:
    plain = write_csv(tmp_path / "pairs.csv", ROWS, encoding="latin-1")
    expected = read_all(plain, encoding="auto")
    jsonl = tmp_path / "pairs.jsonl"
    jsonl.write_text("".join(json.dumps(row) + "\n" for row in ROWS))
    paths = []
    for opener, suffix in ((gzip.open, ".gz"), (bz2.open, ".bz2"), (lzma.open, ".xz")):
        for source in (plain, jsonl):
            paths.append(source.with_name(source.name + suffix))
            with opener(paths[-1], "wb") as file:
                file.write(source.read_bytes())
    paths.append(tmp_path / "train.csv.zip")  # Kaggle's layout
    with zipfile.ZipFile(paths[-1], "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(plain, "train.csv")
    for path in paths:
        assert read_all(path, encoding="auto") == expected, path.name
        assert count_rows(path, "auto") == len(ROWS) and read_header(path) == list(ROWS[0]), path.name


def test_broken_or_ambiguous_archives_are_named(tmp_path: Path) -> None:
    source = write_csv(tmp_path / "pairs.csv", ROWS * 200)
    truncated = tmp_path / "pairs.csv.gz"
    truncated.write_bytes(gzip.compress(source.read_bytes())[:-100])
    with pytest.raises(DataError, match=r"pairs\.csv\.gz: not a readable gz file \(truncated or corrupt\?\)"):
        read_all(truncated, encoding="utf-8")
    two = tmp_path / "two.zip"
    with zipfile.ZipFile(two, "w") as archive:
        archive.write(source, "train.csv")
        archive.write(source, "test.csv")
    with pytest.raises(DataError, match=r"must hold one data file, not 2 \(train\.csv, test\.csv\)"):
        read_all(two)
    parquet = tmp_path / "pairs.parquet.gz"
    parquet.write_bytes(b"x")
    with pytest.raises(DataError, match="parquet is compressed inside"):
        read_all(parquet)


def test_pair_ids_from_a_column_and_chunking(tmp_path: Path) -> None:
    rows = [{"id": f"x{i}", "query": f"q{i}", "document": f"d{i}"} for i in range(10)]
    path = tmp_path / "pairs.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    chunks = list(read_pairs(path, Columns(pair_id="id"), chunk_rows=3))
    assert [chunk.num_rows for chunk in chunks] == [3, 3, 3, 1]
    assert [row["pair_id"] for chunk in chunks for row in chunk.to_pylist()] == [f"x{i}" for i in range(10)]


@pytest.mark.parametrize("suffix", ["parquet", "csv"])
def test_blocks_are_fixed_ranges_of_input_rows_read_alone(tmp_path: Path, suffix: str) -> None:
    """Block i is rows i * size onwards, whatever is skipped in it; a parquet file's row groups
    outside the blocks asked for are not read."""
    rows = [{"query": "" if i % 4 == 3 else f"q{i}", "document": f"d{i}"} for i in range(23)]
    path = tmp_path / f"pairs.{suffix}"
    if suffix == "parquet":
        pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=4)
    else:
        write_csv(path, rows)
    every = list(read_pair_blocks(path, Columns(), 5))
    assert [(block, table.num_rows, skipped) for block, table, skipped in every] == [
        (0, 4, 1), (1, 4, 1), (2, 4, 1), (3, 3, 2), (4, 3, 0),
    ]  # fmt: skip
    assert every[3][1]["pair_id"].to_pylist() == ["16", "17", "18"]
    some = [
        (block, table["pair_id"].to_pylist())
        for block, table, _ in read_pair_blocks(path, Columns(), 5, blocks={1, 4})
    ]
    assert some == [(1, ["5", "6", "8", "9"]), (4, ["20", "21", "22"])]
    if suffix == "parquet":
        read = []
        real = pq.ParquetFile.iter_batches

        def counting(self, *args, row_groups=None, **kwargs):
            read.extend(row_groups or [])
            return real(self, *args, row_groups=row_groups, **kwargs)

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(pq.ParquetFile, "iter_batches", counting)
            list(read_pair_blocks(path, Columns(), 5, blocks={4}))
        assert read == [5]  # rows 20-23 of 0-23: the sixth group of four


def test_unknown_extension_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "pairs.xlsx"
    path.write_text("x")
    with pytest.raises(DataError, match="cannot tell the format"):
        read_all(path)
