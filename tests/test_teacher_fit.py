"""``protege teacher fit``: gold grades in, a folder ``protege serve`` serves out."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from protege.server.backends import load_backend
from test_judge_training import IRRELEVANT, RELEVANT

from protege.cli import main


def graded_file(folder: Path, copies: int = 10) -> tuple[Path, list[str], list[str], np.ndarray]:
    """A CSV with its own column names and grades 1..3: relevant pairs 3, irrelevant 1."""
    pairs = (RELEVANT + IRRELEVANT) * copies
    grades = np.array(([3.0] * len(RELEVANT) + [1.0] * len(IRRELEVANT)) * copies)
    queries, titles = [q for q, _ in pairs], [d for _, d in pairs]
    path = folder / "graded.csv"
    pacsv.write_csv(pa.table({"search_term": queries, "title": titles, "grade": grades}), path)
    return path, queries, titles, grades


def fit(data: Path, out: Path, *extra: str) -> int:
    return main([
        "teacher", "fit", "--data", str(data), "--query-col", "search_term", "--doc-col", "title",
        "--label-col", "grade", "--out", str(out), *extra,
    ])  # fmt: skip


def separation(backend: str, model: Path, queries: list[str], titles: list[str], grades: np.ndarray) -> float:
    scores = load_backend(backend, str(model), device="cpu").score(queries, titles).scores
    return float(scores[grades == 3].mean() - scores[grades == 1].mean())


@pytest.mark.parametrize("backend", ["cross-encoder", "llm-judge"])
def test_a_fitted_teacher_serves_what_it_learned(
    backend: str, tiny_cross_encoder: Path, tiny_llm: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = tiny_llm if backend == "llm-judge" else tiny_cross_encoder
    data, queries, titles, grades = graded_file(tmp_path)
    out = tmp_path / "teacher"
    code = fit(
        data, out, "--label-range", "1,3", "--backend", backend, "--base", str(base),
        "--epochs", "5", "--batch-size", "8", "--learning-rate", "1e-3",
    )  # fmt: skip
    assert code == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["pairs"] == len(queries)
    assert printed["serve"] == f"protege serve --backend {backend} --model {out}"
    learned = separation(backend, out, queries, titles, grades)
    assert learned > separation(backend, base, queries, titles, grades)
    record = json.loads((out / "provenance.json").read_text())
    assert record["label_range"] == [1.0, 3.0] and record["label"] == "grade"


def test_teacher_fit_names_what_is_wrong(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data, *_ = graded_file(tmp_path, copies=1)
    assert fit(data, tmp_path / "a") == 2  # grades 1..3 and no range
    assert "give --label-range LOW,HIGH" in capsys.readouterr().err
    assert fit(data, tmp_path / "b", "--label-range", "1,3", "--backend", "llm-judge") == 2
    assert "--backend llm-judge needs --base" in capsys.readouterr().err
    assert fit(data, tmp_path / "c", "--label-range", "1,3", "--label-col", "relevance") == 2
    assert "relevance" in capsys.readouterr().err
    assert not any((tmp_path / name).exists() for name in "abc")
