"""What every teacher backend provides: scores in 0..1, a version, and optionally rewrites."""

from __future__ import annotations

import hashlib
import json
import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

# Pairs (or texts) a forward pass takes: the batcher hands a backend up to hundreds at a time, and
# one pass over them all pads each to the longest; passes of this many, sorted by length, pad
# less (2 CPU cores: 1.25-1.4x the rate of one 256-pair pass, measured on Home Depot titles).
FORWARD_BATCH = 32


@dataclass(frozen=True)
class Scores:
    """What a backend answers for a batch of n pairs.

    Args:
        scores: (n,) relevance in 0..1, one a pair, in the batch's order.
        class_probabilities: (n, k) probability of each of the teacher's k grades, or None for a
            teacher with one score.
        methods: for an LLM endpoint, how many scores were read each way (``llm_answers``).

    Example::

        Scores(np.array([0.9, 0.1]), class_probabilities=np.array([[0.05, 0.05, 0.9], [0.8, 0.1, 0.1]]))
    """

    scores: np.ndarray
    class_probabilities: np.ndarray | None = None
    methods: dict[str, int] | None = None


class BackendUnavailable(RuntimeError):
    """The backend's upstream (an LLM endpoint) does not answer: the service is NOT_SERVING and its
    calls UNAVAILABLE until it does; the message carries the upstream's error."""


class BackendRefused(ValueError):
    """The backend's upstream answered that it will not serve protege as configured (a wrong key,
    a model or path it does not have): waiting will not help, so serving stops or the call fails
    with FAILED_PRECONDITION, carrying what the upstream said."""


class Backend(ABC):
    """A teacher model behind the service. ``score`` is called from one model worker thread at a
    time; ``refine`` only where ``supports_refine``.

    Args:
        model_name: the model as ``Describe`` reports it (a folder, hub id or served name).
        version: the teacher version every label carries (a hash of weights and scoring config).
        class_names: the grades of a multi-class teacher, least relevant first; empty for one score.

    Example::

        class Constant(Backend):
            kind = "constant"

            def score(self, queries: list[str], documents: list[str]) -> Scores:
                return Scores(np.full(len(queries), 0.5))

        Constant("constant", "constant-v1").score(["drill"], ["Cordless drill"]).scores  # [0.5]
    """

    kind: ClassVar[str]
    supports_refine: ClassVar[bool] = False
    # A folder or hub id to load (checked for a missing folder first), or a name another server knows.
    model_is_a_path: ClassVar[bool] = True

    def __init__(self, model_name: str, version: str, class_names: tuple[str, ...] = ()) -> None:
        self.model_name = model_name
        self.version = version
        self.class_names = class_names

    @abstractmethod
    def score(self, queries: list[str], documents: list[str]) -> Scores:
        """Relevance of each (query, document) pair, in 0..1."""

    def refine(self, query: str, document: str, num_rewrites: int, seed: int) -> list[str]:
        """Rewrites of ``query`` (generative backends only)."""
        raise NotImplementedError(f"the {self.kind} backend does not generate rewrites")

    def check(self) -> None:
        """Raises ``BackendUnavailable`` while an upstream the backend calls is down (models in the
        process are always up)."""
        return None

    @property
    def scoring(self) -> str:
        """How scores are read, where there is a choice (an LLM endpoint's log-probabilities or its
        generated label): "" for models scored in the process."""
        return ""


def resolve_device(device: str | None) -> str:
    """``None``/``"auto"`` → ``"cuda"`` when a GPU is visible, else ``"cpu"``."""
    if device in (None, "auto"):
        import torch  # here, not at the top: the configs that name backends load without it

        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def resolve_dtype(dtype: str | None, device: str) -> torch.dtype:
    """``None``/``"auto"`` → bfloat16 on a GPU that supports it, float32 otherwise."""
    import torch

    if dtype in (None, "auto"):
        if device.startswith("cuda") and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    try:
        return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[dtype]
    except KeyError:
        raise ValueError(f"unknown dtype {dtype!r}: use auto, float32, bfloat16 or float16") from None


def tokenizer_fingerprint(tokenizer: Any) -> str:
    """Hash of a tokenizer's full definition (vocabulary, normalisation, special tokens)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    text = backend.to_str() if backend is not None else json.dumps(sorted(tokenizer.get_vocab().items()))
    return hashlib.sha256(text.encode()).hexdigest()


def teacher_version(kind: str, module: torch.nn.Module, config: dict[str, Any]) -> str:
    """Stable hash of a model's weights and the backend config that shapes its labels.

    Two servers with the same weights and settings report the same version wherever the
    files live, so labels cached or stored by one are valid for the other; any change to
    either (weights, tokenizer, prompt, length limit, dtype) changes it.

    Example::

        >>> teacher_version("bi-encoder", torch.nn.Linear(2, 1), {"max_length": 8})[:3]
        'bi-'
    """
    import torch

    digest = hashlib.sha256()
    digest.update(json.dumps({"kind": kind, **config}, sort_keys=True, default=str).encode())
    for name, tensor in sorted(module.state_dict().items()):
        flat = tensor.detach().to("cpu").contiguous().reshape(-1)
        digest.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype}".encode())
        digest.update(flat.view(torch.uint8).numpy().tobytes())
    return f"{kind.split('-')[0]}-{digest.hexdigest()[:20]}"


def file_version(kind: str, digest: str, config: dict[str, Any]) -> str:
    """``teacher_version`` of a model run from a file (ONNX, OpenVINO): its ``digest`` stands for
    the weights."""
    payload = json.dumps({"kind": kind, "file": digest, **config}, sort_keys=True, default=str)
    return f"{kind.split('-')[0]}-{hashlib.sha256(payload.encode()).hexdigest()[:20]}"


def expected_grade(probabilities: np.ndarray) -> np.ndarray:
    """Score of class probabilities over ordered grades: the expected grade mapped to 0..1."""
    grades = np.linspace(0.0, 1.0, probabilities.shape[1])
    return probabilities @ grades
