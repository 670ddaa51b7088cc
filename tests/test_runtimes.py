"""Runtimes and export: a student exported to ONNX (fp32, int8, optimised) scores as its torch
source does, in a folder sentence-transformers and ``protege eval``/``serve`` load as it is; the
teacher version tells the runtimes and quantisations apart; every refusal says what to do."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sentence_transformers import CrossEncoder

from protege.cli import main
from protege.client.export import ExportSpec, export_student
from protege.common.runtimes import ONNX_FILE, RuntimeUnavailable, load_cross_encoder, require
from protege.server.backends import load_backend

PAIRS = [
    ("cordless drill", "DEWALT 20V MAX cordless drill kit"),
    ("drill", "white interior paint, one gallon"),
    ("paint roller", "9 in. paint roller cover, 3/8 in. nap"),
    ("hammer", "16 oz. claw hammer with fiberglass handle and a long description " * 3),
] * 5


@pytest.fixture(scope="module")
def exported(tiny_cross_encoder: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The tiny cross-encoder exported as ONNX fp32, int8, and O2-optimised int8."""
    folder = tmp_path_factory.mktemp("exports")
    return {
        name: export_student(tiny_cross_encoder, folder / name, ExportSpec.parse(name))
        for name in ("onnx", "onnx-int8", "onnx-O2-int8")
    }


def test_an_onnx_export_scores_as_its_torch_source(tiny_cross_encoder: Path, exported) -> None:
    reference = CrossEncoder(str(tiny_cross_encoder)).predict(PAIRS, batch_size=3)
    scores = load_cross_encoder(exported["onnx"], "onnx").predict(PAIRS, batch_size=3)
    np.testing.assert_allclose(scores, reference, atol=1e-5)
    for name in ("onnx-int8", "onnx-O2-int8"):
        quantized = load_cross_encoder(exported[name], "onnx").predict(PAIRS, batch_size=3)
        # int8 weights: not the same numbers, but near them (the quality change on real data is
        # bench/inference.py's to measure; a random tiny model's scores barely vary)
        assert not np.allclose(quantized, reference, atol=1e-7)
        np.testing.assert_allclose(quantized, reference, atol=0.02)


def test_an_export_holds_the_model_file_and_says_how_it_was_made(tiny_cross_encoder: Path, exported) -> None:
    folder = exported["onnx-O2-int8"]
    assert (folder / ONNX_FILE).exists() and (folder / "tokenizer.json").exists()
    assert not list(folder.glob("*.safetensors"))  # the export is what is deployed, not a second copy
    export = json.loads((folder / "provenance.json").read_text())["export"]
    assert export["format"] == "onnx" and export["quantize"] == "int8" and export["optimize"] == "O2"
    assert export["source"] == str(tiny_cross_encoder) and export["runtime"] == "onnxruntime"
    card = (folder / "README.md").read_text()
    assert "## protege export" in card and 'CrossEncoder("onnx-O2-int8", backend="onnx")' in card
    int8, fp32 = (exported[name] / ONNX_FILE for name in ("onnx-int8", "onnx"))
    assert int8.stat().st_size < fp32.stat().st_size


def test_the_teacher_version_tells_runtimes_and_quantisations_apart(
    tiny_cross_encoder: Path, exported
) -> None:
    torch_version = load_backend("cross-encoder", str(tiny_cross_encoder)).version
    onnx = load_backend("cross-encoder", str(exported["onnx"]), runtime="onnx")
    int8 = load_backend("cross-encoder", str(exported["onnx-int8"]), runtime="onnx")
    assert len({torch_version, onnx.version, int8.version}) == 3
    assert load_backend("cross-encoder", str(exported["onnx"]), runtime="onnx").version == onnx.version


def test_a_torch_checkpoint_served_under_onnx_is_exported_once(tiny_cross_encoder: Path) -> None:
    first = load_backend("cross-encoder", str(tiny_cross_encoder), runtime="onnx")
    folder = first.model.folder
    assert (folder / ONNX_FILE).exists() and folder != tiny_cross_encoder
    made = (folder / ONNX_FILE).stat().st_mtime_ns
    second = load_backend("cross-encoder", str(tiny_cross_encoder), runtime="onnx")
    assert second.model.folder == folder and (folder / ONNX_FILE).stat().st_mtime_ns == made
    queries, documents = (list(texts) for texts in zip(*PAIRS, strict=True))
    torch_scores = load_backend("cross-encoder", str(tiny_cross_encoder)).score(queries, documents).scores
    np.testing.assert_allclose(second.score(queries, documents).scores, torch_scores, atol=1e-5)


def test_refusals_name_the_problem(tiny_cross_encoder: Path, exported, tmp_path: Path, monkeypatch) -> None:
    with pytest.raises(ValueError, match=r"holds an exported model .* load it with runtime onnx"):
        load_cross_encoder(exported["onnx"], "torch")
    with pytest.raises(ValueError, match="exists and is not empty"):
        export_student(tiny_cross_encoder, exported["onnx"], ExportSpec())
    with pytest.raises(ValueError, match="quantize and optimize are for format onnx"):
        ExportSpec("openvino", quantize="int8")
    with pytest.raises(ValueError, match="not quantised to int8 as well"):
        ExportSpec("onnx", quantize="int8", optimize="O4")
    with pytest.raises(ValueError, match="unknown export 'onnx-int4'"):
        ExportSpec.parse("onnx-int4")
    with pytest.raises(ValueError, match="serves on the CPU in float32"):
        load_backend("cross-encoder", str(exported["onnx"]), runtime="onnx", dtype="bfloat16")
    real_import = __import__

    def without_onnxruntime(name, *args, **kwargs):
        if name == "onnxruntime":
            raise ImportError("No module named 'onnxruntime'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr("builtins.__import__", without_onnxruntime)
    with pytest.raises(RuntimeUnavailable, match=r"needs onnxruntime.*pip install 'protege\[onnx\]'"):
        require("onnx")
    assert main(["export", "--model", str(tiny_cross_encoder), "--to", str(tmp_path / "x")]) == 2
    assert not (tmp_path / "x").exists()


def test_export_and_eval_commands_give_the_scores_of_the_model_in_process(
    tiny_cross_encoder: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "student-onnx-int8"
    assert main(["export", "--model", str(tiny_cross_encoder), "--to", str(out), "--quantize", "int8"]) == 0
    assert json.loads(capsys.readouterr().out) == {"out": str(out), "export": "onnx-int8"}
    data = tmp_path / "judged.csv"
    rows = [(q, d, 1 + (i % 3)) for i, (q, d) in enumerate(PAIRS)]
    data.write_text("query,document,relevance\n" + "".join(f'{q},"{d}",{g}\n' for q, d, g in rows))
    assert main(["eval", "--data", str(data), "--model", str(out), "--runtime", "onnx"]) == 0
    reported = json.loads(capsys.readouterr().out)
    from protege.client.evaluation.metrics import ranking_metrics

    scores = load_cross_encoder(out, "onnx").predict([(q, d) for q, d, _ in rows])
    expected = ranking_metrics([q for q, _, _ in rows], [g for _, _, g in rows], scores)
    assert reported["ndcg@10"] == pytest.approx(expected["ndcg@10"])
    assert reported["spearman"] == pytest.approx(expected["spearman"])


# sentence-transformers' own ONNX backend goes through Optimum, whose exporter does not import
# under transformers 5 (as of optimum-onnx 0.1.0); where it does, it reads protege's export.
ST_ONNX = """
import json, sys
from sentence_transformers import CrossEncoder
pairs = json.loads(sys.argv[2])
print(json.dumps([float(s) for s in CrossEncoder(sys.argv[1], backend="onnx").predict(pairs)]))
"""


def test_sentence_transformers_loads_an_export_in_a_fresh_process(exported) -> None:
    try:
        import optimum.onnxruntime  # noqa: F401
    except Exception as error:  # an ImportError, or Optimum failing against transformers 5
        pytest.skip(f"sentence-transformers' ONNX backend does not load here: {error}")
    run = subprocess.run(
        [sys.executable, "-c", ST_ONNX, str(exported["onnx-int8"]), json.dumps(PAIRS)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    expected = load_cross_encoder(exported["onnx-int8"], "onnx").predict(PAIRS)
    np.testing.assert_allclose(json.loads(run.stdout.strip().splitlines()[-1]), expected, atol=1e-5)


def test_an_openvino_export_scores_near_its_torch_source(
    tiny_cross_encoder: Path, exported, tmp_path
) -> None:
    folder = export_student(tiny_cross_encoder, tmp_path / "ov", ExportSpec("openvino"))
    assert (folder / "openvino" / "openvino_model.xml").exists() and not (folder / ONNX_FILE).exists()
    reference = CrossEncoder(str(tiny_cross_encoder)).predict(PAIRS, batch_size=3)
    # OpenVINO computes in bf16 on CPUs with AMX: near, not equal.
    np.testing.assert_allclose(load_cross_encoder(folder, "openvino").predict(PAIRS), reference, atol=0.01)
    served = load_backend("cross-encoder", str(folder), runtime="openvino")
    assert served.version != load_backend("cross-encoder", str(exported["onnx"]), runtime="onnx").version


def test_an_ensemble_runs_its_cross_encoders_under_the_runtime_and_is_another_teacher(
    tiny_ensemble: Path,
) -> None:
    folder = tiny_ensemble
    queries, documents = [q for q, _ in PAIRS], [d for _, d in PAIRS]
    in_torch = load_backend("ensemble", str(folder), device="cpu")
    in_onnx = load_backend("ensemble", str(folder), device="cpu", runtime="onnx")
    assert [m.runtime for m in in_onnx.members if m.kind == "cross-encoder"] == ["onnx"]
    np.testing.assert_allclose(
        in_onnx.score(queries, documents).scores, in_torch.score(queries, documents).scores, atol=1e-4
    )
    assert in_onnx.version != in_torch.version  # labels of one are never served as the other's
