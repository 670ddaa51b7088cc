"""The Hugging Face trainer settings every protege model shares (student, cross-encoder
teacher, LLM judge): one schedule, and precision by hardware (bf16 on a GPU that has it,
float32 on the CPU unless a cross-encoder asks for bf16 where the CPU computes it natively)."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import torch
from transformers import Trainer, TrainingArguments
from transformers.trainer_callback import PrinterCallback, ProgressCallback, TrainerControl, TrainerState

from . import verbosity
from .runtimes import PRECISIONS


@cache
def cpu_has_bf16() -> bool:
    """Whether this CPU computes bf16 in hardware (``avx512_bf16`` or AMX): there autocast to bf16
    trains faster; elsewhere bf16 is emulated and slower than float32."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return re.search(r"\b(avx512_bf16|amx_bf16)\b", flags) is not None


def uses_bf16(precision: str = "auto") -> bool:
    """Whether training computes in bf16: ``auto`` where the GPU, or else the CPU, does it in
    hardware (weights and optimizer stay float32 either way: autocast).

    Example::

        uses_bf16("auto")  # True on an H100, or on a CPU with avx512_bf16
    """
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}: choose from {', '.join(PRECISIONS)}")
    if precision != "auto":
        return precision == "bf16"
    return torch.cuda.is_bf16_supported() if torch.cuda.is_available() else cpu_has_bf16()


def shared_arguments(
    *,
    rows: int,
    epochs: float,
    batch_size: int,
    learning_rate: float,
    seed: int,
    progress: bool,
    bf16: bool | None = None,
) -> dict:
    """Keyword arguments for ``TrainingArguments`` (or sentence-transformers' subclass):
    10% warmup, about ten loss logs per epoch with ``--verbose``, no reporting service;
    ``bf16`` autocast (default: on a GPU that has it).

    Example::

        TrainingArguments(output_dir="out", **shared_arguments(
            rows=1000, epochs=1, batch_size=32, learning_rate=5e-5, seed=0, progress=False))
    """
    gpu = torch.cuda.is_available()
    return {
        "num_train_epochs": epochs,
        "per_device_train_batch_size": batch_size,
        "learning_rate": learning_rate,
        "warmup_steps": 0.1,
        "seed": seed,
        "bf16": (gpu and torch.cuda.is_bf16_supported()) if bf16 is None else bf16,
        "report_to": "none",
        # About ten loss logs an epoch with --verbose; none otherwise (the bar shows progress).
        "logging_strategy": "steps" if verbosity.verbose() else "no",
        "logging_steps": max(1, rows // batch_size // 10),
        "dataloader_pin_memory": gpu,
        "use_cpu": not gpu,  # also what lets torchrun on CPU run DDP (gloo)
        "disable_tqdm": not progress,
    }


class _BarWithoutLogs(ProgressCallback):
    """The trainer's progress bar without the dictionaries of its logs."""

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict | None = None,
        **_: object,
    ) -> None:
        pass


def quiet(trainer: Trainer) -> Trainer:
    """``trainer`` showing its progress bar but printing no log dictionary (its losses, its final
    metrics), unless ``--verbose``.

    Example::

        quiet(CrossEncoderTrainer(model=model, args=arguments, train_dataset=data)).train()
    """
    if verbosity.verbose():
        return trainer
    trainer.pop_callback(PrinterCallback)  # what prints logs when the bar is off
    if trainer.pop_callback(ProgressCallback) is not None:
        trainer.add_callback(_BarWithoutLogs)
    return trainer
