"""The teacher recipes and the training each starts from, importable without torch (the commands
make their choices from ``RECIPES``; ``recipes.fit_teacher`` fits them).

Example::

    training_for("ensemble", epochs=2)  # TrainingConfig(batch_size=32, max_length=128, loss="bce", epochs=2)
"""

from __future__ import annotations

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
