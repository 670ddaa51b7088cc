"""Labelling with a teacher: the gRPC client, and jobs that label every pair of a large input
exactly once, resumable after a stop.

Example::

    from protege.client.data import Columns
    from protege.client.labelling import LabelJob, TeacherClient, read_labels

    with TeacherClient("localhost:50051") as teacher:
        LabelJob(Path("pairs.parquet"), Columns(), Path("labels/")).run(teacher)
    labels = read_labels("labels/")
"""

from .jobs import JobError, LabelJob, read_labels
from .teacher_client import Pair, TeacherClient, TeacherError, TeacherLabel, teacher_scores

__all__ = [
    "JobError",
    "LabelJob",
    "Pair",
    "TeacherClient",
    "TeacherError",
    "TeacherLabel",
    "read_labels",
    "teacher_scores",
]
