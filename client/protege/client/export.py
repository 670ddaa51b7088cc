"""A trained student in the form it is deployed in: ONNX (optionally graph-optimised and int8
quantised) or OpenVINO, in a folder that ``CrossEncoder(path, backend="onnx" | "openvino")`` and
``protege eval --runtime onnx`` load as it is, with its model card and ``provenance.json`` saying
how it was made.

Example::

    export_student(Path("run/student"), Path("run/student-onnx-int8"), ExportSpec("onnx", quantize="int8"))
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import asdict, dataclass
from importlib.metadata import version
from pathlib import Path

from protege.common.paths import local_or_hub
from protege.common.runtimes import ONNX_FILE, OPENVINO_FILE, export_onnx, onnx_to_openvino, require
from protege.common.setting_names import SettingError
from protege.common.stage import PROVENANCE

log = logging.getLogger("protege")

FORMATS = ("onnx", "openvino")
QUANTIZATIONS = ("int8",)
OPTIMIZATIONS = ("O1", "O2", "O3", "O4")
# ONNX Runtime's levels as Optimum names them: O1 basic graph rewrites; O2 and the transformer
# fusions (attention, layer norm, GELU); O3 and GELU approximated; O4 and float16 (for GPUs).
GRAPH_LEVEL = {"O1": 1, "O2": 2, "O3": 2, "O4": 2}
FUSIONS = ("O2", "O3", "O4")


@dataclass(frozen=True)
class ExportSpec:
    """How a student is exported: ``format`` onnx or openvino, ``quantize`` int8 (ONNX only,
    dynamic: weights int8, activations quantised per batch), ``optimize`` O1..O4 (ONNX only)."""

    format: str = "onnx"
    quantize: str | None = None
    optimize: str | None = None

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ValueError(f"unknown export format {self.format!r}: choose one of {', '.join(FORMATS)}")
        if self.quantize not in (None, *QUANTIZATIONS):
            raise ValueError(f"unknown quantization {self.quantize!r}: choose {', '.join(QUANTIZATIONS)}")
        if self.optimize not in (None, *OPTIMIZATIONS):
            raise ValueError(f"unknown optimization {self.optimize!r}: choose {', '.join(OPTIMIZATIONS)}")
        if self.format == "openvino" and (self.quantize or self.optimize):
            raise SettingError(
                "{quantize} and {optimize} are for {format} onnx (OpenVINO optimises on load)",
                "quantize",
                "optimize",
                "format",
            )
        if self.quantize and self.optimize == "O4":
            raise ValueError("O4 makes a float16 model (for GPUs); it is not quantised to int8 as well")

    @classmethod
    def parse(cls, text: str) -> ExportSpec:
        """``onnx``, ``onnx-int8``, ``onnx-O2``, ``onnx-O2-int8`` or ``openvino``."""
        format, *options = text.split("-")
        if any(option not in (*QUANTIZATIONS, *OPTIMIZATIONS) for option in options):
            raise ValueError(f"unknown export {text!r}: onnx, onnx-int8, onnx-O2, onnx-O2-int8 or openvino")
        quantize = next((option for option in options if option in QUANTIZATIONS), None)
        return cls(format, quantize, next((option for option in options if option in OPTIMIZATIONS), None))

    def require(self) -> None:
        """Raises ``RuntimeUnavailable`` (naming the extra to install) unless this export can run."""
        require("onnx")  # every export goes through an ONNX graph
        if self.format == "openvino":
            require("openvino")

    @property
    def name(self) -> str:
        return "-".join(filter(None, (self.format, self.optimize, self.quantize)))


def export_student(model: Path | str, out: Path, spec: ExportSpec) -> Path:
    """``model`` (a ``CrossEncoder`` folder or hub id) exported by ``spec`` into ``out``, which
    must not exist yet (or be empty); written beside it first, so a failed export leaves no
    half-written ``out``."""
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise ValueError(f"{out} exists and is not empty: export into a new folder")
    spec.require()
    staging = out.with_name(f".{out.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    from sentence_transformers import CrossEncoder  # here: ExportSpec is read by --help

    source = CrossEncoder(local_or_hub(model))
    source.save(str(staging))
    onnx_file = export_onnx(source, staging / ONNX_FILE)
    if spec.optimize:
        _optimize(onnx_file, spec.optimize, source.model.config)
    if spec.quantize:
        _quantize_int8(onnx_file)
    if spec.format == "openvino":
        onnx_to_openvino(onnx_file, staging / OPENVINO_FILE)
        shutil.rmtree(onnx_file.parent)
    for weights in [*staging.glob("*.safetensors"), *staging.glob("pytorch_model*.bin")]:
        weights.unlink()  # the export is what is deployed: no second copy of the weights
    _write_provenance(Path(model), staging, spec, out.name)
    shutil.rmtree(out, ignore_errors=True)
    staging.replace(out)
    log.info("exported %s as %s into %s", model, spec.name, out)
    return out


def _optimize(path: Path, level: str, config) -> None:
    """ONNX Runtime's graph optimisations at ``level``, in place."""
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    options = FusionOptions("bert")
    options.enable_gelu_approximation = level in ("O3", "O4")
    optimized = optimize_model(
        str(path),
        model_type="bert",
        num_heads=config.num_attention_heads,
        hidden_size=config.hidden_size,
        optimization_options=options,
        opt_level=GRAPH_LEVEL[level],
        only_onnxruntime=level not in FUSIONS,
    )
    if level == "O4":
        optimized.convert_float_to_float16(keep_io_types=True)
    optimized.save_model_to_file(str(path))


def _quantize_int8(path: Path) -> None:
    """Dynamic int8 quantisation, in place: int8 weights per output channel of the matrix
    products and the embedding tables, activations quantised per batch at run time (no
    calibration set). Those two op types alone ran faster than ONNX Runtime's default set."""
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantized, root = path.with_name("model_qint8.onnx"), logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # its advice to pre-process: shape inference fails on these graphs
    try:
        quantize_dynamic(
            str(path),
            str(quantized),
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["MatMul", "Gather"],
            # The TorchScript exporter records no intermediate types, and fused ops' (O2..O4) are
            # not inferred: they are all float.
            extra_options={"DefaultTensorType": TensorProto.FLOAT},
        )
    finally:
        root.setLevel(level)
    quantized.replace(path)


def _write_provenance(model: Path, folder: Path, spec: ExportSpec, name: str) -> None:
    """The source's provenance and model card (where it has them), each saying how it was exported."""
    runtime = "onnxruntime" if spec.format == "onnx" else "openvino"
    export = asdict(spec) | {"source": str(model), "file": str(_model_file(spec))}
    export |= {"runtime": runtime, "runtime_version": version(runtime), "torch": version("torch")}
    provenance = json.loads((model / PROVENANCE).read_text()) if (model / PROVENANCE).exists() else {}
    (folder / PROVENANCE).write_text(json.dumps(provenance | {"export": export}, indent=2, default=str))
    card = model / "README.md" if (model / "README.md").exists() else folder / "README.md"
    text = card.read_text() if card.exists() else ""
    lines = "\n".join(f"- **{key}**: `{value}`" for key, value in export.items())
    loader = f'CrossEncoder("{name}", backend="{spec.format}")'
    usage = f"Loads with `{loader}` or `protege eval --runtime {spec.format}`."
    (folder / "README.md").write_text(f"{text}\n\n## protege export\n\n{usage}\n\n{lines}\n")


def _model_file(spec: ExportSpec) -> Path:
    return ONNX_FILE if spec.format == "onnx" else OPENVINO_FILE
