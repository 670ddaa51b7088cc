"""Cross-encoder teacher: any sequence-classification checkpoint through sentence-transformers."""

from __future__ import annotations

import logging

import numpy as np
import torch

from protege.common.runtimes import CompiledCrossEncoder, load_cross_encoder

from .base import (
    FORWARD_BATCH,
    Backend,
    Scores,
    expected_grade,
    file_version,
    resolve_device,
    resolve_dtype,
    teacher_version,
    tokenizer_fingerprint,
)

logger = logging.getLogger(__name__)

# A checkpoint with no classification head (a plain encoder, e.g. an embedding model) gets
# a fresh head; seeding its initialisation keeps scores, and so the teacher version, the
# same on every load. In-process equivalent: ``torch.manual_seed(0); CrossEncoder(path)``.
HEAD_INIT_SEED = 0


class CrossEncoderBackend(Backend):
    """Scores pairs with ``CrossEncoder``: sigmoid of the logit for one-label models; for
    k-label models, the softmax over classes (returned as class probabilities) and the
    expected grade, lowest class = 0, highest = 1. ``runtime``: torch, or ONNX Runtime or
    OpenVINO on the CPU (``protege.common.runtimes``); the version covers it, and the model file
    it runs (an int8 export's scores differ from its fp32 source's).

    Example::

        backend = CrossEncoderBackend("cross-encoder/ms-marco-MiniLM-L6-v2", runtime="onnx")
        backend.score(["cordless drill"], ["DEWALT 20V MAX Cordless Drill"]).scores
    """

    kind = "cross-encoder"

    def __init__(
        self,
        model: str,
        device: str | None = None,
        dtype: str | None = None,
        max_length: int | None = None,
        runtime: str = "torch",
    ) -> None:
        device = resolve_device(device)
        if runtime != "torch" and (device != "cpu" or dtype not in (None, "auto", "float32")):
            raise ValueError(
                f"the {runtime} runtime serves on the CPU in float32 (int8: a model made by protege export), "
                f"not on device {device} in {dtype}"
            )
        torch_dtype = resolve_dtype(dtype, device)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(HEAD_INIT_SEED)
            options = {} if runtime != "torch" else {"device": device, "model_kwargs": {"dtype": torch_dtype}}
            self.model = load_cross_encoder(model, runtime, max_length, **options)
        self.runtime = runtime
        architectures = self.model.config.architectures or []
        if not any("SequenceClassification" in name for name in architectures):
            logger.warning(
                "%s has no classification head: serving a freshly initialised one (seed %d); "
                "its scores mean nothing until the teacher is fitted",
                model,
                HEAD_INIT_SEED,
            )
        num_labels = self.model.num_labels
        class_names = () if num_labels == 1 else self._class_names(num_labels)
        config = {
            "tokenizer": tokenizer_fingerprint(self.model.tokenizer),
            "max_length": self.model.max_length,
            "dtype": str(torch_dtype),
        }
        if isinstance(self.model, CompiledCrossEncoder):
            config |= {"runtime": runtime, "dtype": self.model.precision}
            version = file_version(self.kind, self.model.digest(), config)
        else:  # torch: the version every earlier label was stored under
            self.model.eval()
            version = teacher_version(self.kind, self.model.model, config)
        super().__init__(str(model), version, class_names)

    def _class_names(self, num_labels: int) -> tuple[str, ...]:
        id2label = self.model.config.id2label or {}
        return tuple(str(id2label.get(i, f"LABEL_{i}")) for i in range(num_labels))

    def score(self, queries: list[str], documents: list[str]) -> Scores:
        pairs = list(zip(queries, documents, strict=False))
        if isinstance(self.model, CompiledCrossEncoder):
            logits = self.model.predict(pairs, batch_size=FORWARD_BATCH, apply_sigmoid=False)
        else:
            logits = self.model.predict(
                pairs,
                batch_size=FORWARD_BATCH,
                activation_fn=torch.nn.Identity(),
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        logits = np.asarray(logits, dtype=np.float64)
        if logits.ndim == 1 or logits.shape[1] == 1:
            return Scores(1.0 / (1.0 + np.exp(-logits.reshape(-1))))
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        probabilities = shifted / shifted.sum(axis=1, keepdims=True)
        return Scores(expected_grade(probabilities), probabilities)
