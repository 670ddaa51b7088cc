"""What one study runs: the sizes of its parts and the models it compares."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

from protege.client.training.config import LOSSES
from protege.common.runtimes import RUNTIMES
from protege.common.setting_names import SettingError
from protege.filters.settings import FilterSettings
from protege.teacher_fitting import RECIPES

# The students keep the first 4 of the 6 layers of the teacher's cross-encoder: on Home Depot's
# validation pairs, 4 layers learned from 3,680 teacher labels what 3 did not (RMSE 0.4805 against
# 0.5120, zero-shot 0.4923), at about a fifth of the ensemble teacher's per-pair cost; 2 layers
# learned next to nothing (docs/study.md).
DEFAULT_LAYERS = 4
# The students' learning rate: 1e-4 was as good or better than 5e-5 on validation (docs/study.md).
STUDENT_LEARNING_RATE = 1e-4
# Pairs a student step: at 32 a student of a few thousand rows takes ~150 steps and can stay where
# BCE's first steps put it, near one score for every pair (the --quick selector did: score sd 0.008,
# Spearman 0.23 with the teacher on held-out pool pairs); 16 at the same epochs gave sd 0.10 and
# Spearman 0.78, while 2e-4 at 32 did not help (docs/study.md, 2026-12-07 night).
STUDENT_BATCH_SIZE = 16
# What every student of a study shares, recorded in its settings: a study begun under others (batch 32
# before 2026-12-07) is refused on resume rather than mixed with students of these.
STUDENT_DEFAULTS = {
    "layers": DEFAULT_LAYERS,
    "learning_rate": STUDENT_LEARNING_RATE,
    "batch_size": STUDENT_BATCH_SIZE,
}
# A full study reads at most this many graded rows (Home Depot has 74,067): more take queries in
# hash order (``split.rows_within``), so a file of millions of rows gives a study of hours, not days.
MAX_ROWS = 80_000
MAX_STUDENT_EPOCHS = 4.0


@dataclass(frozen=True)
class Sizes:
    """How much of each split one run uses (``None``: all of it), and the label budgets of the
    learning curves, as shares of the pool's pairs (all of them is the unfiltered plateau)."""

    teacher_pairs: int | None = None
    pool_pairs: int | None = None
    test_queries: int | None = None
    teacher_epochs: float = 1.0
    label_budgets: tuple[float, ...] = (1 / 16, 1 / 8, 1 / 4, 1 / 2)
    rounds: int = 2  # distillation rounds after round 0
    warmup_share: float = 1 / 3  # of a distillation run's labels, random pool pairs for round 0
    per_seed: int = 2  # queries generated from each seed query
    # A student passes over at least this many training rows (up to MAX_STUDENT_EPOCHS epochs of its
    # labels): one pass over a few hundred labels leaves its head where it started (docs/study.md).
    student_rows: int = 5000
    # The volume arm (``volume``): teacher labels each volume student trains on (none: no volume arm),
    # the share of its queries cut from product titles, the catalog products a query is paired with,
    # and the share of the largest volume the student's own selection keeps.
    volumes: tuple[int, ...] = ()
    product_share: float = 0.25
    top_k: int = 8
    negatives: int = 2
    quarter: float = 0.25
    # The seeds after the first train this many of the smallest volumes again (a seed's spread is
    # widest there; the large students take most of a run: 100,000 labels about 17 minutes here).
    repeated_volumes: int = 2

    def __post_init__(self) -> None:
        for name in ("rounds", "per_seed"):
            if getattr(self, name) < 1:
                raise SettingError(f"{{{name}}} must be at least 1, not {getattr(self, name)}", name)
        if self.teacher_epochs <= 0 or any(not 0 < share <= 1 for share in self.label_budgets):
            raise ValueError("teacher_epochs must be above 0 and every label budget a share in (0, 1]")
        if any(volume < 1 for volume in self.volumes) or not 0 < self.quarter < 1:
            raise ValueError("volumes must be positive label counts and quarter a share in (0, 1)")
        if self.repeated_volumes < 1:
            raise ValueError(f"repeated_volumes must be at least 1, not {self.repeated_volumes}")

    def student_epochs(self, labels: int) -> float:
        """Epochs over ``labels`` training pairs that make ``student_rows`` rows, within 1..MAX."""
        return min(MAX_STUDENT_EPOCHS, max(1.0, self.student_rows / max(1, labels)))


# Full: every teacher-train, validation and test pair, and 5,000 pool pairs by whole queries, so that
# three seeds run in one session on 2 cores (10,000 took about 50 minutes a seed, 3 h 10 in all, and
# a session's files do not outlive it; all 29,439 would take days; docs/study.md has the times).
FULL = Sizes(pool_pairs=5_000)
QUICK = Sizes(teacher_pairs=3000, pool_pairs=2500, test_queries=300, label_budgets=(1 / 8, 1 / 4, 1 / 2))
# The demo: the volume study on a generated catalog, in minutes (volumes cut to the labels there are):
# up to 8,000 teacher labels of a 600-query catalog (with 2,000 on 300 queries its headline
# student was behind zero-shot on NDCG@10, 0.9541 against 0.9602; docs/study.md, 2026-12-07).
DEMO = Sizes(teacher_epochs=2.0, student_rows=1000, volumes=(500, 2_000, 8_000))
DEMO_QUERIES = 600
# The volume study: every validation pair (grade maps on 7,527 Home Depot pairs, not 1,015), and four
# log-spaced volumes from about today's 4,000 labels to 100,000.
VOLUME = Sizes(volumes=(4_000, 11_700, 34_200, 100_000))
VOLUME_QUICK = replace(QUICK, volumes=(1_500, 4_000, 10_000, 25_000))


@dataclass(frozen=True)
class Models:
    """The teacher's recipe and the students' shape (``max_length=None``: what fits the data)."""

    teacher: str = field(
        default="ensemble",
        metadata={
            "help": "the teacher's recipe (ensemble: a cross-encoder, a bi-encoder and the zero-shot model "
            "blended; llm-judge needs --teacher-base)",
            "choices": RECIPES,
        },
    )
    teacher_base: str | None = field(
        default=None, metadata={"help": "the teacher's backbone (default: packaged all-MiniLM-L6-v2)"}
    )
    student_base: str | None = field(
        default=None,
        metadata={
            "help": "the students' backbone (default: the teacher's cross-encoder, its first --layers layers "
            "and head; the packaged all-MiniLM-L6-v2 for an LLM-judge teacher)"
        },
    )
    layers: int | None = field(
        default=None,
        metadata={
            "help": f"student transformer layers to keep (default {DEFAULT_LAYERS}, or all the base has)"
        },
    )
    max_length: int | None = field(
        default=None, metadata={"help": "student tokens per pair (default: what fits the data)"}
    )
    # bench/train.py: margin-MSE with each label passed once a step, 3.2x the labels/s
    loss: str = field(
        default="group-margin-mse",
        metadata={
            "help": "student loss (group-margin-mse: score margins between products of one query, each "
            "product scored once a step)",
            "choices": LOSSES,
        },
    )
    warm_start: bool = field(
        default=False,
        metadata={
            "help": "students start from one warm-started on the zero-shot cosine of the pool's unlabelled "
            "pairs (client.training.warm_start)"
        },
    )
    noise: float = field(
        default=0.2,
        metadata={"help": "share of pairs the noisy teacher flips, in [0, 0.5) (0: no noisy arm)"},
    )
    strategies: tuple[str, ...] = field(
        default=("drop", "reorder", "typo"),
        metadata={"help": "augmentation strategies, comma-separated; empty for none"},
    )
    filters: FilterSettings | None = field(default_factory=FilterSettings)
    # On these CPUs OpenVINO labelled Home Depot's volume pairs at 250 pairs/s against torch's 90 and
    # scores students 2.3x as fast; the teacher's test RMSE moved by +0.0001 (docs/study.md).
    # Fitting and training stay in torch.
    runtime: str = field(
        default="torch",
        metadata={
            "help": "what runs the fitted teacher's cross-encoders and the students when they score; "
            "pip install 'protege[openvino]' or 'protege[onnx]'",
            "choices": RUNTIMES,
        },
    )

    def __post_init__(self) -> None:
        if self.runtime not in RUNTIMES:
            raise ValueError(f"unknown runtime {self.runtime!r}: choose one of {', '.join(RUNTIMES)}")
        if self.runtime != "torch" and self.teacher == "llm-judge":
            raise SettingError(
                f"{{runtime}} {self.runtime} runs cross-encoders; an llm-judge teacher runs in torch",
                "runtime",
            )
        if self.teacher not in RECIPES:
            raise ValueError(f"unknown teacher recipe {self.teacher!r}: choose one of {', '.join(RECIPES)}")
        if self.teacher == "llm-judge" and not self.teacher_base:
            raise SettingError(
                "an llm-judge teacher is fine-tuned from a causal LM: give it as {teacher_base}",
                "teacher_base",
            )
        if not 0 <= self.noise < 0.5:
            raise SettingError(
                f"{{noise}} is the share of labels the noisy teacher flips, in [0, 0.5), not {self.noise:g}",
                "noise",
            )
        if self.loss not in LOSSES:
            raise ValueError(f"unknown loss {self.loss!r}: choose from {', '.join(LOSSES)}")
        if self.layers is not None and self.layers < 1:
            raise SettingError(f"{{layers}} must be at least 1, not {self.layers}", "layers")

    def as_dict(self) -> dict:
        record = asdict(self)
        record["filters"] = self.filters.as_dict() if self.filters is not None else None
        record["strategies"] = list(self.strategies)
        return record
