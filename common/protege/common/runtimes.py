"""Where a cross-encoder runs: torch, ONNX Runtime or OpenVINO.

A folder runs under ONNX Runtime from ``onnx/model.onnx`` and under OpenVINO from
``openvino/openvino_model.xml``, the files sentence-transformers' ``CrossEncoder(path,
backend="onnx" | "openvino")`` reads too; a torch checkpoint without them is exported once, into
protege's cache folder (never into the user's). The ONNX models are exported with
``torch.onnx.export`` and run with ``onnxruntime`` directly: Optimum's exporter (what
sentence-transformers' own backends use) does not run with transformers 5 yet.

Example::

    model = load_cross_encoder("student-onnx/", runtime="onnx")
    model.predict([("cordless drill", "DEWALT 20V MAX Drill")])
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import shutil
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from protege.common.setting_names import SettingError

from .paths import cache_dir, local_or_hub

log = logging.getLogger("protege")

RUNTIMES = ("torch", "onnx", "openvino")
# How a model computes where it trains: auto is bf16 autocast where the hardware does bf16.
PRECISIONS = ("auto", "bf16", "fp32")
ONNX_FILE = Path("onnx") / "model.onnx"
OPENVINO_FILE = Path("openvino") / "openvino_model.xml"
# What each runtime needs beyond torch, and the extra that installs it.
REQUIRES = {"onnx": ("onnxruntime", "onnx"), "openvino": ("openvino", "openvino")}
ONNX_OPSET = 17
# The file beside a model file that holds its weights, where there is one.
COMPANION = {".onnx": ".onnx_data", ".xml": ".bin"}


class RuntimeUnavailable(ImportError):
    """A runtime whose package is not installed."""


def not_installed(what: str, module: str, extra: str) -> str:
    """What to tell a user whose ``what`` needs ``module``, which the ``extra`` installs."""
    return f"{what} needs {module}, which is not installed: pip install 'protege[{extra}]'"


def require(runtime: str) -> Any:
    """The module that runs ``runtime`` (``onnxruntime``, ``openvino``), or a clear error."""
    if runtime not in REQUIRES:
        raise ValueError(f"unknown runtime {runtime!r}: choose one of {', '.join(RUNTIMES)}")
    module, extra = REQUIRES[runtime]
    try:
        return __import__(module)
    except ImportError as error:
        raise RuntimeUnavailable(not_installed(f"the {runtime} runtime", module, extra)) from error


def load_cross_encoder(
    path: str | Path, runtime: str = "torch", max_length: int | None = None, **torch_options: Any
):
    """``path`` (a local folder or hub id) as a model with ``CrossEncoder``'s ``predict``: a
    sentence-transformers ``CrossEncoder`` under torch (``torch_options`` go to it), else a
    ``CompiledCrossEncoder``."""
    path = local_or_hub(path)
    if runtime == "torch":
        from sentence_transformers import CrossEncoder

        folder = Path(path)
        if folder.is_dir() and not _has_torch_weights(folder):
            compiled = [str(f) for f in (ONNX_FILE, OPENVINO_FILE) if (folder / f).exists()]
            if compiled:
                raise SettingError(
                    f"{folder} holds an exported model ({', '.join(compiled)}) and no torch weights: "
                    "load it with {runtime} onnx or {runtime} openvino",
                    "runtime",
                )
        return CrossEncoder(str(path), max_length=max_length, **torch_options)
    require(runtime)
    return CompiledCrossEncoder(compiled_folder(Path(path), runtime), runtime, max_length)


def compiled_folder(path: Path, runtime: str) -> Path:
    """``path`` if it holds ``runtime``'s model file, else a cache folder holding it, exported
    from ``path``'s torch weights once (keyed by a hash of them)."""
    wanted = ONNX_FILE if runtime == "onnx" else OPENVINO_FILE
    if (path / wanted).exists():
        return path
    folder = cache_dir() / "compiled" / f"{runtime}-{_weights_digest(path)}"
    if not (folder / wanted).exists():
        log.info("%s has no %s: exporting it to %s", path, wanted, folder)
        from sentence_transformers import CrossEncoder

        staging = folder.with_name(folder.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        model = CrossEncoder(str(path))
        model.save(str(staging))
        export_onnx(model, staging / ONNX_FILE)
        if runtime == "openvino":
            onnx_to_openvino(staging / ONNX_FILE, staging / OPENVINO_FILE)
        shutil.rmtree(folder, ignore_errors=True)
        staging.replace(folder)
    return folder


def _has_torch_weights(folder: Path) -> bool:
    return any(folder.glob("*.safetensors")) or any(folder.glob("pytorch_model*.bin"))


def _weights_digest(path: Path) -> str:
    digest = hashlib.sha256(str(path.resolve()).encode())
    for file in sorted([*path.glob("*.safetensors"), *path.glob("pytorch_model*.bin"), path / "config.json"]):
        if file.exists():
            _hash_file(digest, file)
    return digest.hexdigest()[:16]


def export_onnx(model, path: Path) -> Path:
    """``model``'s transformer (a sentence-transformers ``CrossEncoder``) as an ONNX graph at
    ``path``, inputs named as the tokenizer names them, output ``logits``, batch and length dynamic."""
    import torch

    network = model.model.eval()
    sample = model.tokenizer(["cordless drill"], ["DEWALT 20V MAX Drill"], return_tensors="pt")
    # The graph's inputs are positional, in the order of forward's parameters: named in that order.
    order = [name for name in inspect.signature(network.forward).parameters if name in sample]
    path.parent.mkdir(parents=True, exist_ok=True)
    dynamic = {name: {0: "batch_size", 1: "sequence_length"} for name in order}
    # Eager attention traces to the matmul-softmax pattern ONNX Runtime's kernels (and its
    # optimiser) know; its int8 graph ran 5-10% faster than the SDPA one here (docs/inference.md).
    attention = network.config._attn_implementation
    network.set_attn_implementation("eager")
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # The tracer's notes on branches taken once (no key/value cache, an attention mask
            # given) hold for every input an encoder gets.
            warnings.simplefilter("ignore")
            torch.onnx.export(
                network,
                tuple(sample[name] for name in order),
                str(path),
                input_names=order,
                output_names=["logits"],
                dynamic_axes=dynamic | {"logits": {0: "batch_size"}},
                opset_version=ONNX_OPSET,
                dynamo=False,  # the TorchScript exporter: no onnxscript needed
            )
    finally:
        network.set_attn_implementation(attention)
    return path


def onnx_to_openvino(source: Path, target: Path) -> Path:
    """The ONNX graph at ``source`` as an OpenVINO IR at ``target`` (``.xml`` and ``.bin``)."""
    openvino = require("openvino")
    target.parent.mkdir(parents=True, exist_ok=True)
    openvino.save_model(openvino.convert_model(str(source)), str(target))
    return target


class CompiledCrossEncoder:
    """A cross-encoder folder run by ONNX Runtime or OpenVINO, with ``CrossEncoder.predict``'s
    arguments and results (sigmoid of the logit for one-label models, logits otherwise).

    Example::

        model = CompiledCrossEncoder(Path("student-onnx/"), "onnx")
        model.predict([("cordless drill", "DEWALT 20V MAX Drill")], batch_size=32)
    """

    def __init__(self, folder: Path, runtime: str, max_length: int | None = None) -> None:
        from transformers import AutoConfig, AutoTokenizer

        self.folder, self.runtime = folder, runtime
        self.config = AutoConfig.from_pretrained(folder)
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.num_labels = self.config.num_labels
        longest = getattr(self.config, "max_position_embeddings", None) or self.tokenizer.model_max_length
        self.max_length = max_length or min(self.tokenizer.model_max_length, longest)
        self.model_file = folder / (ONNX_FILE if runtime == "onnx" else OPENVINO_FILE)
        self._run, self.input_names, self.precision = self._session()

    def _session(self):
        """The runtime's scoring function, its input names, and the precision it computes in
        (OpenVINO picks bf16 on CPUs with AMX: its scores differ from float32's)."""
        if self.runtime == "onnx":
            onnxruntime = require("onnx")
            session = onnxruntime.InferenceSession(str(self.model_file), providers=["CPUExecutionProvider"])
            names = [node.name for node in session.get_inputs()]
            return (lambda feed: session.run(["logits"], feed)[0]), names, "float32"
        openvino = require("openvino")
        compiled = openvino.Core().compile_model(str(self.model_file), "CPU")
        names = [node.get_any_name() for node in compiled.inputs]
        precision = str(compiled.get_property("INFERENCE_PRECISION_HINT"))
        return (lambda feed: compiled(feed)[compiled.output(0)]), names, precision

    def logits(self, queries: Sequence[str], documents: Sequence[str]) -> np.ndarray:
        """Raw logits of one batch of pairs, (n, num_labels)."""
        features = self.tokenizer(
            list(queries),
            list(documents),
            padding=True,
            truncation="longest_first",
            max_length=self.max_length,
            return_tensors="np",
        )
        feed = {name: features[name].astype(np.int64) for name in self.input_names}
        return np.asarray(self._run(feed), dtype=np.float32).reshape(len(queries), -1)

    def predict(
        self,
        pairs: Sequence[tuple[str, str]],
        batch_size: int = 32,
        show_progress_bar: bool = False,  # CrossEncoder.predict's argument; these runs are quiet
        apply_sigmoid: bool = True,
    ) -> np.ndarray:
        """Scores of ``pairs``, batched longest first (as ``CrossEncoder.predict`` batches them);
        ``apply_sigmoid=False``: a one-label model's logits."""
        pairs = list(pairs)
        order = np.argsort([-(len(query) + len(document)) for query, document in pairs], kind="stable")
        logits = np.zeros((len(pairs), self.num_labels), dtype=np.float32)
        for start in range(0, len(pairs), batch_size):
            chosen = order[start : start + batch_size]
            logits[chosen] = self.logits([pairs[i][0] for i in chosen], [pairs[i][1] for i in chosen])
        if self.num_labels == 1:
            logits = logits[:, 0]
            if apply_sigmoid:
                return 1.0 / (1.0 + np.exp(-logits))
        return logits

    def digest(self) -> str:
        """A hash of the model file(s) it runs: what its scores depend on besides the tokenizer."""
        digest = hashlib.sha256()
        for path in (self.model_file, self.model_file.with_suffix(COMPANION[self.model_file.suffix])):
            if path.exists():
                _hash_file(digest, path)
        return digest.hexdigest()


def _hash_file(digest, path: Path) -> None:
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
