"""Labelling with a teacher: the gRPC client, and jobs that label every pair of a large input
exactly once, resumable after a stop (imported when first used: they read parquet, which a
container's health probe does not need).

Example::

    from protege.client.data import Columns
    from protege.client.labelling import LabelJob, TeacherClient, read_labels

    with TeacherClient("localhost:50051") as teacher:
        LabelJob(Path("pairs.parquet"), Columns(), Path("labels/")).run(teacher)
    labels = read_labels("labels/")
"""

from typing import TYPE_CHECKING

from protege.common.lazy import lazy_exports

from .teacher_client import Pair, TeacherClient, TeacherError, TeacherLabel, teacher_scores

HOMES = {"JobError": ".jobs", "LabelJob": ".jobs", "label_table": ".jobs", "read_labels": ".jobs"}
__all__ = [
    "JobError",
    "LabelJob",
    "Pair",
    "TeacherClient",
    "TeacherError",
    "TeacherLabel",
    "label_table",
    "read_labels",
    "teacher_scores",
]
__getattr__ = lazy_exports(__name__, HOMES)

if TYPE_CHECKING:  # what static tools read; HOMES is what runs (tests/test_layout.py checks both)
    from .jobs import JobError, LabelJob, label_table, read_labels
