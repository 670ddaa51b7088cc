"""Training a student (or a teacher's cross-encoder): its settings, the trainer, its losses and
batches, the curriculum and the zero-shot warm start; each name imported when first used.

Example::

    from protege.client.training import TrainingConfig, train_cross_encoder

    config = TrainingConfig(layers=4, loss="bce", epochs=2)
    model = train_cross_encoder(queries, documents, teacher_scores, config, out="student/")
"""

from typing import TYPE_CHECKING

from protege.common.lazy import lazy_exports

HOMES = {
    "CurriculumConfig": ".config",
    "TrainingConfig": ".config",
    "load_student": ".trainer",
    "train_cross_encoder": ".trainer",
    "train_curriculum": ".curriculum",
    "train_student": ".student",
    "warm_start_student": ".warm_start",
}
__all__ = [
    "CurriculumConfig",
    "TrainingConfig",
    "load_student",
    "train_cross_encoder",
    "train_curriculum",
    "train_student",
    "warm_start_student",
]
__getattr__ = lazy_exports(__name__, HOMES)

if TYPE_CHECKING:  # what static tools read; HOMES is what runs (tests/test_layout.py checks both)
    from .config import CurriculumConfig, TrainingConfig
    from .curriculum import train_curriculum
    from .student import train_student
    from .trainer import load_student, train_cross_encoder
    from .warm_start import warm_start_student
