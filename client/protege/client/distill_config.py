"""What one run of the distillation loop (``distill.Distiller``) does, and how it stops."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

from protege.client.export import ExportSpec
from protege.client.training.config import TrainingConfig
from protege.common.setting_names import SettingError, setting
from protege.filters.settings import FilterSettings, PrelabelRule


class DistillError(RuntimeError):
    """A distillation run that cannot go on as asked."""


logger = logging.getLogger(__name__)

# Settings (the config's and its training's) a rerun may change: they change no finished round's
# pairs, labels or student (more rounds extend a run; mixed teachers are checked on their own).
MAY_CHANGE = ("rounds", "allow_mixed_teachers", "retry_seconds", "progress", "export", "checkpoint_steps")


@dataclass
class DistillConfig:
    """What one distillation run does; ``filters=None`` keeps every labelled pair. Each field's help
    (``protege distill --help``) says what it sets.

    Example::

        DistillConfig(rounds=3, label_budget=8000, training=TrainingConfig(layers=4), filters=None)
    """

    rounds: int = field(default=2, metadata={"help": "rounds after round 0"})
    warmup_pairs: int = field(
        default=500, metadata={"help": "pool pairs labelled for round 0", "flag": "--warmup"}
    )
    seeds_per_round: int = field(default=200, metadata={"help": "seed queries a round augments"})
    per_seed: int = field(default=2, metadata={"help": "generated queries per seed"})
    strategies: tuple[str, ...] = field(
        default=("drop", "reorder", "typo"), metadata={"help": "augmentation strategies, comma-separated"}
    )
    top_k: int = 4
    negatives: int = 2
    quota: int | None = field(
        default=None, metadata={"help": "accepted pairs per round, chosen by the quota rule"}
    )
    label_budget: int | None = field(
        default=None,
        metadata={"help": "teacher labels for the whole run, the warm-up included"},
    )
    prelabel: PrelabelRule = field(
        default_factory=PrelabelRule, metadata={"nested": True}
    )  # which candidates a round sends to the teacher when --label-budget cannot pay for all
    allow_mixed_teachers: bool = field(
        default=False,
        metadata={"help": "go on where earlier rounds had another teacher version"},
    )
    retry_seconds: float = field(
        default=300.0,
        metadata={"help": "seconds to retry an unreachable teacher before stopping (finished work is kept)"},
    )
    filters: FilterSettings | None = field(default_factory=FilterSettings)
    training: TrainingConfig = field(
        default_factory=TrainingConfig
    )  # its seed: ``seed`` + the round's number
    tau: float = 0.8
    clusters: int = 20
    embedder: str | None = None
    seed: int = 0
    progress: bool = True
    export: ExportSpec | None = None  # the final student exported so too, into OUT/student-NAME

    def check_teacher(self, folder: Path, recorded: str | None, current: str) -> None:
        """Refuses to train one student on labels of two teacher versions (``folder``'s, recorded,
        and the teacher's now), unless ``allow_mixed_teachers``."""
        if not recorded or recorded == current:
            return
        if not self.allow_mixed_teachers:
            raise DistillError(
                f"{folder} was labelled by teacher version {recorded}, but the teacher now reports "
                f"{current}; one student is not trained on labels of two teacher versions: use a new output "
                f"folder ({setting('out')}), or set {setting('allow_mixed_teachers')}"
            )
        logger.warning("%s was labelled by teacher %s, the teacher is now %s", folder, recorded, current)

    def round_settings(self) -> dict:
        """What a round's pairs, labels and student depend on: these settings less ``MAY_CHANGE``."""
        settings = {k: v for k, v in asdict(self).items() if k not in MAY_CHANGE}
        settings["training"] = {k: v for k, v in settings["training"].items() if k not in MAY_CHANGE}
        settings["filters"] = self.filters and self.filters.as_dict()
        return settings

    def __post_init__(self) -> None:
        if self.rounds < 0 or self.warmup_pairs < 1:
            raise ValueError("a distillation run needs rounds >= 0 and a warm-up of at least one pair")
        if self.label_budget is not None and self.rounds and self.warmup_pairs >= self.label_budget:
            raise SettingError(
                f"the warm-up's {self.warmup_pairs} pairs take the whole label budget of "
                f"{self.label_budget}, leaving none for rounds 1-{self.rounds}: "
                "give a {warmup_pairs} below {label_budget} (which includes it)",
                "warmup_pairs",
                "label_budget",
            )
