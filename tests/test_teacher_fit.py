"""``protege teacher fit``: gold grades in, a folder ``protege serve`` serves out."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from stand_ins import IRRELEVANT, RELEVANT

from protege.cli import main
from protege.server.backends import load_backend


def graded_file(folder: Path, copies: int = 10) -> tuple[Path, list[str], list[str], np.ndarray]:
    """A CSV with its own column names and grades 1..3: relevant pairs 3, irrelevant 1."""
    pairs = (RELEVANT + IRRELEVANT) * copies
    grades = np.array(([3.0] * len(RELEVANT) + [1.0] * len(IRRELEVANT)) * copies)
    queries, titles = [q for q, _ in pairs], [d for _, d in pairs]
    path = folder / "graded.csv"
    pacsv.write_csv(pa.table({"search_term": queries, "title": titles, "grade": grades}), path)
    return path, queries, titles, grades


def fit(data: Path, out: Path, *extra: str) -> int:
    return main(
        [
            "teacher",
            "fit",
            "--data",
            str(data),
            "--query-col",
            "search_term",
            "--doc-col",
            "title",
            "--label-col",
            "grade",
            "--out",
            str(out),
            *extra,
        ]
    )


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
        data,
        out,
        "--label-range",
        "1,3",
        "--backend",
        backend,
        "--base",
        str(base),
        "--epochs",
        "5",
        "--batch-size",
        "8",
        "--learning-rate",
        "1e-3",
    )
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


def test_an_ensemble_teacher_blends_its_members_on_queries_none_of_them_saw(
    tiny_encoder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from protege.client.data.query_hash import held_out_for_blend
    from protege.common.scores import logit
    from protege.teacher_fitting.ensemble import fit_blend

    data, queries, titles, grades = graded_file(tmp_path)
    out = tmp_path / "teacher"
    code = fit(
        data,
        out,
        "--label-range",
        "1,3",
        "--backend",
        "ensemble",
        "--base",
        str(tiny_encoder),
        "--epochs",
        "5",
        "--batch-size",
        "8",
        "--learning-rate",
        "1e-3",
    )
    assert code == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["serve"] == f"protege serve --backend ensemble --model {out}"
    manifest = json.loads((out / "ensemble.json").read_text())
    assert [member["model"] for member in manifest["members"]] == ["cross-encoder", "bi-encoder", "zero-shot"]
    held_out = sum(held_out_for_blend(query) for query in queries)  # "white paint"'s 20 pairs
    assert 0 < held_out < len(queries)
    assert manifest["blend_fitted_on_pairs"] == held_out
    assert manifest["fitted_on_pairs"] == len(queries) - held_out
    assert (
        json.loads((out / "cross-encoder" / "provenance.json").read_text())["training_rows"]
        == len(queries) - held_out
    )
    bce = manifest["held_out_bce"]
    assert bce["ensemble"] <= min(bce["cross-encoder"], bce["bi-encoder"], bce["zero-shot"]) + 1e-3
    # The served score is the blend fitted on the held-out pairs' member scores (tiny random models
    # learn nothing that carries to an unseen query, so what is checked is the mechanism).
    rows = [i for i, query in enumerate(queries) if held_out_for_blend(query)]
    pairs = [queries[i] for i in rows], [titles[i] for i in rows]
    members = [load_backend(m["kind"], str(out / m["model"]), device="cpu") for m in manifest["members"]]
    weights, bias = fit_blend(
        np.column_stack([m.score(*pairs).scores for m in members]), (grades[rows] - 1) / 2
    )
    np.testing.assert_allclose(weights, manifest["weights"], rtol=1e-4, atol=1e-6)
    served = load_backend("ensemble", str(out), device="cpu").score(*pairs).scores
    blended = logit(np.column_stack([m.score(*pairs).scores for m in members])) @ weights + bias
    np.testing.assert_allclose(served, 1 / (1 + np.exp(-blended)), rtol=1e-5)
    # Too few queries to hold one out for the blend: said before anything is trained.
    few = tmp_path / "few.csv"
    pacsv.write_csv(
        pa.table({"search_term": ["drill", "drill"], "title": ["a", "b"], "grade": [1.0, 3.0]}), few
    )
    assert fit(few, tmp_path / "none", "--label-range", "1,3", "--backend", "ensemble") == 2
    assert "needs gold pairs of at least 5 distinct queries" in capsys.readouterr().err
