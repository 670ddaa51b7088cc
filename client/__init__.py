"""The student side: the teacher client (jobs, augmentation, training and coverage follow).

Example::

    from protege.client import TeacherClient

    with TeacherClient("localhost:50051") as teacher:
        labels = teacher.label([("p1", "cordless drill", "DEWALT 20V MAX Cordless Drill")])
"""

from .teacher_client import Pair, TeacherClient, TeacherError, TeacherLabel

__all__ = ["Pair", "TeacherClient", "TeacherError", "TeacherLabel"]
