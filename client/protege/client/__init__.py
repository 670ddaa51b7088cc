"""The student side: what a user calls to label with a teacher, train a student and distill one.

Example::

    from protege.client import Distiller, DistillConfig, TeacherClient

    with TeacherClient("localhost:50051") as teacher:
        labels = teacher.label([("p1", "cordless drill", "DEWALT 20V MAX Cordless Drill")])
        report = Distiller(teacher, pool, "runs/distill", DistillConfig(label_budget=5000)).run()
"""

from typing import TYPE_CHECKING

from protege.client.labelling import Pair, TeacherClient, TeacherError, TeacherLabel
from protege.common.lazy import lazy_exports

# Imported when first used: they load torch and sentence-transformers, which a client that only
# labels (and `protege health`, a container's probe) does not need.
HOMES = {
    "Distiller": ".distill",
    "DistillConfig": ".distill_config",
    "TrainingConfig": ".training.config",
    "train_cross_encoder": ".training.trainer",
}
__all__ = [
    "DistillConfig",
    "Distiller",
    "Pair",
    "TeacherClient",
    "TeacherError",
    "TeacherLabel",
    "TrainingConfig",
    "train_cross_encoder",
]
__getattr__ = lazy_exports(__name__, HOMES)

if TYPE_CHECKING:  # what static tools read; HOMES is what runs (tests/test_layout.py checks both)
    from .distill import Distiller
    from .distill_config import DistillConfig
    from .training.config import TrainingConfig
    from .training.trainer import train_cross_encoder
