"""The student side: what a user calls to label with a teacher, train a student and distill one.

Example::

    from protege.client import Distiller, DistillConfig, TeacherClient

    with TeacherClient("localhost:50051") as teacher:
        labels = teacher.label([("p1", "cordless drill", "DEWALT 20V MAX Cordless Drill")])
        report = Distiller(teacher, pool, "runs/distill", DistillConfig(label_budget=5000)).run()
"""

from __future__ import annotations

import importlib

from .teacher_client import Pair, TeacherClient, TeacherError, TeacherLabel

# Imported when first used: they load torch and sentence-transformers, which a client that only
# labels (and `protege health`, a container's probe) does not need.
_LAZY = {
    "Distiller": ".distill",
    "DistillConfig": ".distill_config",
    "TrainingConfig": ".training_config",
    "train_cross_encoder": ".training",
}

__all__ = ["DistillConfig", "Distiller", "Pair", "TeacherClient", "TeacherError", "TeacherLabel"]
__all__ += ["TrainingConfig", "train_cross_encoder"]


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_LAZY[name], __name__), name)
