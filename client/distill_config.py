"""What one run of the distillation loop (``distill.Distiller``) does, and how it stops."""

from __future__ import annotations

from dataclasses import dataclass, field

from protege.filters.settings import FilterSettings

from .export import ExportSpec
from .training import TrainingConfig


class DistillError(RuntimeError):
    """A distillation run that cannot go on as asked."""


@dataclass
class DistillConfig:
    """What one distillation run does; ``filters=None`` keeps every labelled pair."""

    rounds: int = 2
    warmup_pairs: int = 500
    seeds_per_round: int = 200
    per_seed: int = 2
    strategies: tuple[str, ...] = ("drop", "reorder", "typo")
    top_k: int = 4
    negatives: int = 2
    budget: int | None = None  # accepted pairs per round, the most informative first
    label_budget: int | None = None  # teacher labels for the whole run, shared evenly by rounds 1..
    allow_mixed_teachers: bool = False  # go on after earlier rounds labelled by another teacher version
    retry_seconds: float = 300.0  # how long labelling waits for an unreachable teacher before stopping
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

    def __post_init__(self) -> None:
        if self.rounds < 0 or self.warmup_pairs < 1:
            raise ValueError("a distillation run needs rounds >= 0 and a warm-up of at least one pair")
        if self.label_budget is not None and self.rounds and self.warmup_pairs >= self.label_budget:
            raise ValueError(
                f"the warm-up's {self.warmup_pairs} pairs take the whole label budget of "
                f"{self.label_budget}, leaving none for rounds 1-{self.rounds}: give a --warmup below "
                "--label-budget (which includes it)"
            )
