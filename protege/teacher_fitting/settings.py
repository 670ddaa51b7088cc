"""The teacher recipes, what ``protege teacher fit`` sets, and the training each starts from,
importable without torch (the commands make their flags from ``TeacherFitConfig``;
``recipes.fit_teacher`` fits them).

Example::

    training_for("ensemble", epochs=2)  # TrainingConfig(batch_size=32, max_length=128, loss="bce", epochs=2)
    TeacherFitConfig(recipe="llm-judge", base="SmolLM2.gguf").training()  # batch 16, 256 tokens
"""

from __future__ import annotations

from dataclasses import dataclass, field

from protege.client.training.config import TrainingConfig

# Per recipe: (pairs per step, tokens per pair) where not given.
RECIPE_DEFAULTS = {"cross-encoder": (32, 128), "ensemble": (32, 128), "llm-judge": (16, 256)}
RECIPES = tuple(RECIPE_DEFAULTS)


def training_for(recipe: str, **settings: object) -> TrainingConfig:
    """A ``TrainingConfig`` for ``recipe``: its batch size and max length unless given (``None``
    leaves a setting at its default), soft BCE."""
    batch_size, max_length = RECIPE_DEFAULTS[recipe]
    given = {name: value for name, value in settings.items() if value is not None}
    return TrainingConfig(**({"batch_size": batch_size, "max_length": max_length, "loss": "bce"} | given))


@dataclass(frozen=True)
class TeacherFitConfig:
    """What ``protege teacher fit`` fits: a recipe, the model it starts from, and its training (the
    training defaults are ``TrainingConfig``'s, the batch and length the recipe's); each field's
    help says what it sets.

    Example::

        TeacherFitConfig(recipe="ensemble", epochs=2)
    """

    recipe: str = field(
        default="cross-encoder",
        metadata={"help": "what to fit (served by the backend of the same name)", "choices": RECIPES,
                  "flag": "--backend"},
    )  # fmt: skip
    base: str | None = field(
        default=None,
        metadata={
            "help": "model to start from (cross-encoder and ensemble: a sentence-embedding checkpoint, "
            "default the packaged all-MiniLM-L6-v2; llm-judge: a causal LM folder, hub id or .gguf file, "
            "required)"
        },
    )
    labels: str = field(default="no,yes", metadata={"help": "llm-judge: answer labels, least relevant first"})
    epochs: float = field(default=TrainingConfig.epochs, metadata={"help": "passes over the graded pairs"})
    batch_size: int | None = field(
        default=None, metadata={"help": "pairs per step (default: 32, llm-judge 16)"}
    )
    learning_rate: float = field(
        default=TrainingConfig.learning_rate, metadata={"help": "AdamW's learning rate"}
    )
    max_length: int | None = field(
        default=None, metadata={"help": "tokens per pair (default: 128, llm-judge 256)"}
    )
    seed: int = field(
        default=TrainingConfig.seed, metadata={"help": "seed of the initialisation and data order"}
    )

    def __post_init__(self) -> None:
        if self.recipe not in RECIPES:
            raise ValueError(f"unknown teacher recipe {self.recipe!r}: choose from {', '.join(RECIPES)}")
        if self.recipe == "llm-judge" and not self.base:
            raise ValueError("an llm-judge teacher needs a base: a causal LM folder, hub id or .gguf file")

    def training(self) -> TrainingConfig:
        """The ``TrainingConfig`` this fit trains with."""
        return training_for(
            self.recipe,
            base=self.base,
            epochs=self.epochs,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            max_length=self.max_length,
            seed=self.seed,
        )
