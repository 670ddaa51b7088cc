"""Fine-tuning a causal LM into an ``llm-judge`` teacher on graded pairs.

Training reads the label distribution exactly where the served backend reads it: the
backend's own prompt, chat template and label tokens, the next-token mass of each label
normalised over the labels. The loss is the cross-entropy between that distribution and the
grade spread over the two nearest labels (for ``no,yes``: soft binary cross-entropy), so the
served score, the expected grade, learns to match the gold grade. Runs on Hugging Face's
``Trainer``: GPU with bf16 where supported, CPU otherwise.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from transformers import Trainer, TrainingArguments
from transformers.trainer_utils import TrainOutput

from protege.common.stage import PROVENANCE
from protege.common.trainer_arguments import quiet, shared_arguments
from protege.server.backends.llm_judge import LLMJudgeBackend

logger = logging.getLogger(__name__)


def label_targets(grades: Sequence[float], labels: int) -> np.ndarray:
    """Grades in 0..1 as distributions over ``labels`` ordered labels whose expected grade is
    the grade: each grade splits between its two nearest labels.

    Example::

        >>> label_targets([0.0, 0.25, 1.0], 3).tolist()
        [[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.0, 0.0, 1.0]]
    """
    if labels < 2:
        raise ValueError(f"a judge needs at least two labels, not {labels}")
    values = np.asarray(grades, dtype=np.float64)
    if not np.isfinite(values).all() or values.min() < 0 or values.max() > 1:
        raise ValueError("judge targets must be finite grades within 0..1")
    position = values * (labels - 1)
    lower = np.minimum(np.floor(position).astype(int), labels - 2)
    upper_share = position - lower
    targets = np.zeros((len(values), labels))
    rows = np.arange(len(values))
    targets[rows, lower] = 1 - upper_share
    targets[rows, lower + 1] = upper_share
    return targets


class JudgeTrainer(Trainer):
    """``Trainer`` whose loss is the cross-entropy of the judge's label distribution against
    soft targets (the batch's ``targets``)."""

    def __init__(self, judge: LLMJudgeBackend, **kwargs) -> None:
        super().__init__(**kwargs)
        self.judge = judge

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        targets = inputs.pop("targets")
        log_probabilities = self.judge.label_log_probabilities(model, inputs)
        loss = -(targets * log_probabilities).sum(-1).mean()
        return (loss, None) if return_outputs else loss


def _drop_gguf_record(model: torch.nn.Module) -> None:
    """A GGUF checkpoint loads dequantized into plain float weights, but the model keeps a
    record of the quantizer: ``Trainer`` would refuse to train it and ``save_pretrained``
    would write a quantization it no longer has."""
    if getattr(model, "hf_quantizer", None) is not None:
        model.hf_quantizer = None
        model.is_quantized = False
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config


def train_llm_judge(
    queries: Sequence[str],
    documents: Sequence[str],
    targets: Sequence[float],
    *,
    base: str,
    out: str | Path,
    labels: tuple[str, ...] = ("no", "yes"),
    epochs: float = 1.0,
    batch_size: int = 16,
    learning_rate: float = 5e-5,
    max_length: int = 256,
    seed: int = 0,
    provenance: dict | None = None,
    progress: bool = True,
) -> Path:
    """Fine-tunes ``base`` (a causal LM folder, hub id or GGUF file) as a judge of graded pairs
    (``targets`` in 0..1) and saves it to ``out``, a folder ``protege serve --backend
    llm-judge --model out`` serves with the same ``labels``.

    Example::

        train_llm_judge(queries, documents, (grades - 1) / 2, base="SmolLM2-135M-Instruct.gguf", out="judge/")
        load_backend("llm-judge", "judge/").score(["cordless drill"], ["DEWALT 20V Drill"]).scores
    """
    if not (len(queries) == len(documents) == len(targets)):
        raise ValueError("queries, documents and targets must have the same length")
    if not len(queries):
        raise ValueError("no training pairs")
    distributions = label_targets(targets, len(labels))
    torch.manual_seed(seed)
    gpu = torch.cuda.is_available()
    # Weights stay float32 for the optimizer; on a GPU the trainer computes in bf16.
    judge = LLMJudgeBackend(
        base, device="cuda" if gpu else "cpu", dtype="float32", labels=labels, max_length=max_length
    )
    _drop_gguf_record(judge.model)
    judge.model.train()
    prompts = judge.prompts(list(queries), list(documents))
    rows = [{"prompt": p, "targets": t} for p, t in zip(prompts, distributions.tolist(), strict=True)]
    started = time.perf_counter()
    options = {"epochs": epochs, "batch_size": batch_size, "learning_rate": learning_rate, "seed": seed}
    result = _train(judge, rows, progress=progress, **options)
    record = {
        "base": base,
        "backend": "llm-judge",
        "labels": list(labels),
        **options,
        "max_length": max_length,
    }
    record |= {
        "training_rows": len(rows),
        "train_loss": round(float(result.training_loss), 6),
        "train_seconds": round(time.perf_counter() - started, 2),
        **(provenance or {}),
    }
    out = _save(judge, Path(out), record)
    logger.info("llm-judge fine-tuned on %d pairs in %.0f s: %s", len(rows), record["train_seconds"], out)
    return out


def _save(judge: LLMJudgeBackend, out: Path, record: dict) -> Path:
    """The judge's model, tokenizer and ``record`` (``provenance.json``) in ``out``."""
    judge.model.eval()
    judge.model.save_pretrained(out)
    judge.tokenizer.save_pretrained(out)
    (out / PROVENANCE).write_text(json.dumps(record, indent=2, default=str))
    return out


def _train(
    judge: LLMJudgeBackend,
    rows: list[dict],
    *,
    epochs: float,
    batch_size: int,
    learning_rate: float,
    seed: int,
    progress: bool,
) -> TrainOutput:
    """Runs the trainer over ``rows`` (a prompt and its label distribution each)."""

    def collate(batch: list[dict]) -> dict[str, torch.Tensor]:
        encoded = judge.encode([row["prompt"] for row in batch])
        encoded["targets"] = torch.tensor([row["targets"] for row in batch], dtype=torch.float32)
        return encoded

    with tempfile.TemporaryDirectory(prefix="protege-judge-") as scratch:
        arguments = TrainingArguments(
            output_dir=scratch,
            **shared_arguments(
                rows=len(rows),
                epochs=epochs,
                batch_size=batch_size,
                learning_rate=learning_rate,
                seed=seed,
                progress=progress,
            ),
            save_strategy="no",
            remove_unused_columns=False,  # the collator reads the prompt text
        )
        trainer = JudgeTrainer(
            judge, model=judge.model, args=arguments, train_dataset=rows, data_collator=collate
        )
        return quiet(trainer).train()
