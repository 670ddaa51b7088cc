"""The Hugging Face trainer settings every protege model shares (student, cross-encoder
teacher, LLM judge): one schedule, and precision by hardware (bf16 on a GPU that has it,
float32 on the CPU)."""

from __future__ import annotations

import torch
from transformers import Trainer, TrainingArguments
from transformers.trainer_callback import PrinterCallback, ProgressCallback, TrainerControl, TrainerState

from . import verbosity


def shared_arguments(
    *, rows: int, epochs: float, batch_size: int, learning_rate: float, seed: int, progress: bool
) -> dict:
    """Keyword arguments for ``TrainingArguments`` (or sentence-transformers' subclass):
    10% warmup, about ten loss logs per epoch with ``--verbose``, no reporting service.

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
        "bf16": gpu and torch.cuda.is_bf16_supported(),
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
