"""How a cross-encoder student trains: ``TrainingConfig`` and, in rounds from its own frontier,
``CurriculumConfig``, importable without torch (the ``protege`` command makes its flags from them;
``client.training.trainer`` and ``client.training.curriculum`` run them).

Example::

    TrainingConfig(layers=4, loss="bce", epochs=2, learning_rate=1e-4)
    CurriculumConfig(curriculum_rounds=4, curriculum_share=0.25)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from protege.common.runtimes import PRECISIONS
from protege.common.setting_names import SettingError

# The losses a student trains with (``client.training.rows`` makes each one's rows).
LOSSES = ("bce", "mse", "margin-mse", "group-margin-mse")


@dataclass(frozen=True)
class TrainingConfig:
    """How a cross-encoder trains, as sentence-transformers' training arguments say it.

    ``loss``: ``bce`` (soft binary cross-entropy: calibrated scores, which the filters read),
    ``mse`` (on sigmoid scores), or ``margin-mse`` (score differences between documents of
    one query, in logit space; Hofstätter et al.). ``base`` (default: the packaged MiniLM-L6)
    keeps its first ``layers`` transformer layers when given. ``checkpoint_steps`` defaults to
    a tenth of the run, at least 50 steps. ``precision``: ``auto`` computes in bf16 (autocast)
    where the GPU or CPU does it in hardware. ``freeze_embeddings`` keeps the word-embedding
    matrix as it is (most of a small student's weights: its optimizer step is most of a CPU
    step's cost); ``compile`` runs the model through ``torch.compile``.

    Example::

        TrainingConfig(layers=3, loss="margin-mse", epochs=2, learning_rate=1e-4)
    """

    base: str | None = field(
        default=None,
        metadata={"help": "model to start from (default: the packaged all-MiniLM-L6-v2)"},
    )
    layers: int | None = field(
        default=None, metadata={"help": "keep only the first N transformer layers (a smaller student)"}
    )
    loss: str = field(default="bce", metadata={"help": "training loss", "choices": LOSSES})
    epochs: float = field(default=1.0, metadata={"help": "passes over the training pairs"})
    batch_size: int = field(default=32, metadata={"help": "pairs per step"})
    learning_rate: float = field(default=5e-5, metadata={"help": "AdamW's learning rate"})
    max_length: int = field(default=128, metadata={"help": "tokens per (query, document) pair"})
    seed: int = field(default=0, metadata={"help": "seed of the initialisation and the data order"})
    length_grouping: bool = True
    precision: str = field(
        default="auto",
        metadata={
            "help": "auto: bf16 autocast where the GPU or CPU computes bf16 in hardware (avx512_bf16, AMX)",
            "choices": PRECISIONS,
        },
    )
    freeze_embeddings: bool = field(
        default=False,
        metadata={"help": "leave the word-embedding matrix as it is (a faster step on CPU; bench/train.py)"},
    )
    compile: bool = False
    checkpoint_steps: int | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"unknown loss {self.loss!r}: choose from {', '.join(LOSSES)}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"unknown precision {self.precision!r}: choose from {', '.join(PRECISIONS)}")


@dataclass(frozen=True)
class CurriculumConfig:
    """How many rounds a curriculum has and how much of the labels each trains on
    (``training.curriculum``); each field's help says what it sets.

    Example::

        CurriculumConfig(curriculum_rounds=4, curriculum_share=0.25)
    """

    curriculum_rounds: int = field(
        default=0,
        metadata={
            "help": "train in this many rounds, each on a share of the labels the student draws from its "
            "own frontier after the round before (0: all labels at once)"
        },
    )
    curriculum_share: float = field(
        default=0.25, metadata={"help": "share of the labelled pairs each curriculum round trains on"}
    )

    def __post_init__(self) -> None:
        if self.curriculum_rounds < 0 or not 0 < self.curriculum_share <= 1:
            raise SettingError(
                "{curriculum_rounds} is at least 0 and {curriculum_share} a share in (0, 1], not "
                f"{self.curriculum_rounds} and {self.curriculum_share:g}",
                "curriculum_rounds",
                "curriculum_share",
            )
