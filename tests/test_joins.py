from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from protege.cli import build_parser, main
from protege.cli.arguments import data_spec
from protege.client.data import DataError, join_folder, read_table


def write_tsv(path: Path, header: str, *rows: str) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


@pytest.fixture
def wands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A WANDS-style folder: tab-separated label, query and product files, plus some that add nothing."""
    monkeypatch.setenv("PROTEGE_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "wands"
    folder.mkdir()
    write_tsv(
        folder / "label.csv",
        "id\tquery_id\tproduct_id\tlabel",
        "0\t1\t11\tExact",
        "1\t0\t10\tPartial",
        "2\t1\t12\tIrrelevant",
        "3\t0\t99\tExact",
        "4\t0\t11\tIrrelevant",
    )
    write_tsv(
        folder / "query.csv",
        "query_id\tquery\tquery_class",
        "0\tceiling paint\tPaint",
        "1\tcordless drill\tTools",
    )
    write_tsv(
        folder / "product.csv",
        "product_id\tproduct_name\taverage_rating",
        "10\tBEHR Ceiling Paint\t4.5",
        "11\tDEWALT 20V Drill\t4.8",
        "12\tSimpson Bracket\t3.9",
    )
    # Attributes repeat per product, and a second label file's columns are all in the first.
    write_tsv(folder / "attributes.csv", "product_id\tname\tvalue", "11\tVoltage\t20", "11\tColour\tYellow")
    write_tsv(folder / "label_copy.tsv", "id\tquery_id", "0\t1")
    # A Kaggle sample submission: a "relevance" of one value, for ids no judgement has.
    write_tsv(folder / "sample_submission.csv", "id\trelevance", "90\t1", "91\t1")
    (folder / "dataset_info.json").write_text("{}")
    # MS MARCO's files have no header: read as column_1, column_2, their names would join any such file.
    (folder / "queries.dev.tsv").write_text("0\tceiling paint\n1\tcordless drill\n")
    return folder


def test_a_folder_of_tables_is_joined_to_its_judgements_in_their_order(
    wands: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("INFO"):
        joined = join_folder(wands)
    assert joined.parent == Path(os.environ["PROTEGE_CACHE_DIR"]) / "joined"
    table = pq.read_table(joined)
    # The products' average_rating is not taken for a grade: label.csv holds the judgements.
    assert table.column_names == [
        "id",
        "query_id",
        "product_id",
        "label",
        "product_name",
        "average_rating",
        "query",
        "query_class",
    ]
    assert table["id"].to_pylist() == ["0", "1", "2", "3", "4"]
    drill, paint = "cordless drill", "ceiling paint"
    assert table["query"].to_pylist() == [drill, paint, drill, paint, paint]
    assert table["product_name"].to_pylist() == [
        "DEWALT 20V Drill",
        "BEHR Ceiling Paint",
        "Simpson Bracket",
        None,
        "DEWALT 20V Drill",
    ]
    assert "attributes.csv: left out, values of its product_id repeat" in caplog.text
    assert "label_copy.tsv: left out, it adds no column to label.csv" in caplog.text
    assert "sample_submission.csv: left out, no judgement has its id" in caplog.text
    assert "queries.dev.tsv: left out, its first row is data, not column names" in caplog.text
    assert "product.csv: 1 of 5 judgements have no row in it" in caplog.text
    assert "joined label.csv + product.csv on product_id + query.csv on query_id: 5 rows" in caplog.text
    # Joined once: the same files give the same file, unwritten; a changed file, a new join.
    written = joined.stat().st_mtime_ns
    assert join_folder(wands) == joined and joined.stat().st_mtime_ns == written
    write_tsv(
        wands / "query.csv", "query_id\tquery\tquery_class", "0\tceiling paint\tPaint", "1\tdrill\tTools"
    )
    rejoined = join_folder(wands)
    assert rejoined != joined and pq.read_table(rejoined)["query"][0].as_py() == "drill"


def test_every_data_command_takes_a_folder_of_tables_as_one_file(
    wands: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("INFO"):
        args = build_parser().parse_args(["eval", "--data", str(wands), "--model", "m"])
        spec = data_spec(args, gold=True)
    columns = spec.columns
    assert spec.path.suffix == ".parquet" and spec.source == wands
    assert (columns.query, columns.docs, columns.doc_id, columns.label) == (
        "query",
        ("product_name",),
        "product_id",
        "label",
    )
    table = read_table(spec.path, columns)
    # The judgement of a product the products file lacks has no document, and is skipped.
    drill = "DEWALT 20V Drill"
    assert table["document"].to_pylist() == [drill, "BEHR Ceiling Paint", "Simpson Bracket", drill]
    assert table["label"].to_pylist() == [2.0, 1.0, 0.0, 0.0]


def test_encoding_reaches_the_csv_files_of_a_folder_and_not_its_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROTEGE_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "judged"
    folder.mkdir()
    write_tsv(folder / "label.tsv", "query_id\tproduct_id\tlabel", "0\t10\t1", "0\t11\t0")
    # Windows-1252: the curly quote is byte 0x92, a control character in latin-1.
    (folder / "query.tsv").write_bytes("query_id\tquery\n0\t18\u2019 drill\n".encode("cp1252"))
    (folder / "product.jsonl").write_text(
        '{"product_id": 10, "product_name": "DEWALT 18\u2019 Drill"}\n'
        '{"product_id": 11, "product_name": "BEHR Paint"}\n'
    )
    guessed = pq.read_table(join_folder(folder))
    args = build_parser().parse_args(["eval", "--data", str(folder), "--model", "m", "--encoding", "latin-1"])
    given = pq.read_table(data_spec(args).path)
    assert guessed["query"][0].as_py() == "18\u2019 drill"  # "auto" finds cp1252
    assert given["query"][0].as_py() == "18\x92 drill"  # the encoding given, for the CSV alone
    assert given["product_name"].to_pylist() == ["DEWALT 18\u2019 Drill", "BEHR Paint"]


def test_a_composite_key_and_ids_of_two_types_still_join(tmp_path: Path) -> None:
    """ESCI-style: products keyed by (product_id, product_locale); ids numbers here, text there."""
    pq.write_table(
        pa.table(
            {
                "example_id": [0, 1, 2],
                "query": ["drill", "drill", "taladro"],
                "product_id": [7, 8, 7],
                "product_locale": ["us", "us", "es"],
                "esci_label": ["E", "I", "S"],
            }
        ),
        tmp_path / "examples.parquet",
    )
    pq.write_table(
        pa.table(
            {
                "product_id": ["7", "8", "7"],
                "product_locale": ["us", "us", "es"],
                "product_title": ["DEWALT Drill", "Paint Roller", "Taladro DEWALT"],
            }
        ),
        tmp_path / "products.parquet",
    )
    table = pq.read_table(join_folder(tmp_path, cache=tmp_path / "cache"))
    assert table["product_title"].to_pylist() == ["DEWALT Drill", "Paint Roller", "Taladro DEWALT"]
    assert table["product_id"].to_pylist() == ["7", "8", "7"]


def test_shards_of_one_table_are_read_as_one(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A Hugging Face dataset download: data/ shards of one table (each split too), a README and a
    hidden cache folder; here with a products table beside them."""
    data = tmp_path / "hub" / "data"
    data.mkdir(parents=True)
    (tmp_path / "hub" / "README.md").write_text("# dataset card")
    (tmp_path / "hub" / ".cache").mkdir()
    pq.write_table(pa.table({"stale": [1]}), tmp_path / "hub" / ".cache" / "old.parquet")
    for name, queries, grades in (
        ("test-00000-of-00001", ["paint"], [1]),
        ("train-00000-of-00002", ["drill", "drill"], [2, 0]),
        ("train-00001-of-00002", ["saw"], [None]),  # all null here: promoted, not refused
    ):
        pq.write_table(
            pa.table(
                {"query": queries, "product_id": [7] * len(queries), "grade": pa.array(grades, pa.int64())}
            ),
            data / f"{name}.parquet",
        )
    pq.write_table(
        pa.table({"product_id": [7], "title": ["DEWALT Drill"]}), tmp_path / "hub" / "products.parquet"
    )
    with caplog.at_level("INFO"):
        table = pq.read_table(join_folder(tmp_path / "hub", cache=tmp_path / "cache"))
    assert table["query"].to_pylist() == ["paint", "drill", "drill", "saw"]
    assert table["grade"].to_pylist() == [1, 2, 0, None]
    assert table["title"].to_pylist() == ["DEWALT Drill"] * 4
    assert (
        "joined data/test-00000-of-00001.parquet (+2 shards of its columns) + products.parquet on product_id"
        in (caplog.text)
    )


def test_a_beir_folder_joins_by_the_ids_its_qrels_hold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """BEIR's layout: qrels (query-id, corpus-id, score) per split, and corpus and queries files
    whose rows are named ``_id``, each with a ``text``; a corpus's titles may all be empty."""
    monkeypatch.setenv("PROTEGE_CACHE_DIR", str(tmp_path / "cache"))
    beir = tmp_path / "beir"
    (beir / "qrels").mkdir(parents=True)
    (beir / "corpus.jsonl").write_text(
        '{"_id": "d1", "title": "", "text": "DEWALT 20V Drill", "metadata": {}}\n'
        '{"_id": "d2", "title": " ", "text": "BEHR Ceiling Paint", "metadata": {}}\n'
        '{"_id": "d3", "title": "", "text": "Simpson Bracket", "metadata": {}}\n'
    )
    (beir / "queries.jsonl").write_text(
        '{"_id": "1", "text": "cordless drill", "metadata": {}}\n'
        '{"_id": "2", "text": "ceiling paint", "metadata": {}}\n'
    )
    write_tsv(beir / "qrels" / "test.tsv", "query-id\tcorpus-id\tscore", "1\td1\t2", "1\td3\t0")
    write_tsv(beir / "qrels" / "train.tsv", "query-id\tcorpus-id\tscore", "2\td2\t2", "2\td1\t0", "2\td9\t1")
    with caplog.at_level("INFO"):
        args = build_parser().parse_args(["eval", "--data", str(beir), "--model", "m"])
        spec = data_spec(args, gold=True)
    columns = spec.columns
    assert pq.read_table(spec.path).column_names == [
        "query-id",
        "corpus-id",
        "score",
        "corpus_text",
        "query_text",
    ]
    assert (
        "joined qrels/test.tsv (+1 shard of its columns) + corpus.jsonl on corpus-id = its _id"
        " + queries.jsonl on query-id = its _id: 5 rows" in caplog.text
    )
    assert "corpus.jsonl: its column corpus_title is empty, left out" in caplog.text
    assert (columns.query, columns.docs, columns.doc_id, columns.label) == (
        "query_text",
        ("corpus_text",),
        "corpus-id",
        "score",
    )
    table = read_table(spec.path, columns)
    assert table["query"].to_pylist() == ["cordless drill"] * 2 + ["ceiling paint"] * 2
    assert table["document"].to_pylist() == [
        "DEWALT 20V Drill",
        "Simpson Bracket",
        "BEHR Ceiling Paint",
        "DEWALT 20V Drill",
    ]
    # Positives-only qrels are joined all the same (to be labelled); a study refuses them later.
    positives = tmp_path / "positives"
    (positives / "qrels").mkdir(parents=True)
    write_tsv(positives / "qrels" / "test.tsv", "query-id\tcorpus-id\tscore", "1\td1\t1", "2\td2\t1")
    (positives / "queries.jsonl").write_text((beir / "queries.jsonl").read_text())
    assert pq.read_table(join_folder(positives))["query_text"].to_pylist() == [
        "cordless drill",
        "ceiling paint",
    ]
    # A table no qrels column refers to is named and left out; a grade is not taken for an id.
    write_tsv(beir / "stats.tsv", "n\tdescription", "0\tzero", "1\tone", "2\ttwo")
    with caplog.at_level("INFO"):
        join_folder(beir)
    assert "stats.tsv: left out, it shares no column with qrels/test.tsv" in caplog.text


def test_json_documents_of_records_are_tables_and_settings_are_not(tmp_path: Path) -> None:
    """A database export as JSON: an array of judgements, an object holding the queries, JSON
    lines of products; beside them a config, one object per line, and a saved dataset's state."""
    import json

    folder = tmp_path / "export"
    folder.mkdir()
    judged = [{"query_id": 1, "product_id": "a", "grade": 2}, {"query_id": 1, "product_id": "b", "grade": 0}]
    (folder / "judgements.json").write_text(json.dumps(judged, indent=2))
    (folder / "queries.json").write_text(
        json.dumps({"version": 3, "queries": [{"query_id": 1, "query": "drill"}]})
    )
    (folder / "products.json").write_text(
        '{"product_id": "a", "title": "DEWALT Drill"}\n{"product_id": "b", "title": "Paint"}\n'
    )
    (folder / "config.json").write_text(json.dumps({"model": "minilm", "product_id": "a"}, indent=2))
    (folder / "settings.json").write_text(json.dumps({"query_id": 1, "locale": "us"}))
    (folder / "state.json").write_text(json.dumps({"_data_files": [{"filename": "data.arrow"}]}))
    table = pq.read_table(join_folder(folder, cache=tmp_path / "cache"))
    assert table.column_names == ["query_id", "product_id", "grade", "title", "query"]
    assert table["title"].to_pylist() == ["DEWALT Drill", "Paint"]
    assert table["query"].to_pylist() == ["drill", "drill"]


def test_a_folder_that_cannot_be_joined_is_named_on_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("PROTEGE_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "empty").mkdir()
    two = tmp_path / "two"
    two.mkdir()
    write_tsv(two / "a.tsv", "query\tdocument\tlabel", "drill\tDrill\t1", "drill\tPaint\t0")
    write_tsv(two / "b.tsv", "query\tdocument\trelevance", "paint\tPaint\t2", "paint\tDrill\t1")
    with pytest.raises(DataError, match="empty: a folder with no data file"):
        join_folder(tmp_path / "empty")
    assert main(["eval", "--data", str(two), "--model", "m"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("protege eval: ")
    assert "a.tsv, b.tsv have a grade column named as one; give one file as --data" in error
    # A folder of one file is that file.
    (two / "b.tsv").unlink()
    assert join_folder(two) == two / "a.tsv"
