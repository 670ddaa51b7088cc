"""Judging scores against gold grades: the yardstick (RMSE through a grade map, NDCG@10, paired
intervals), the baselines every table stands beside, and the scoreboard of a study's models.

Example::

    from protege.client.evaluation import GradeMap, yardstick

    grade_map = GradeMap(validation_scores, validation_grades)
    yardstick(test_queries, test_grades, test_scores, grade_map)["rmse"]
"""

from typing import TYPE_CHECKING

from protege.common.lazy import lazy_exports

HOMES = {
    "Board": ".scoreboard",
    "Evaluation": ".metrics",
    "GradeMap": ".metrics",
    "baseline_scores": ".baselines",
    "paired_difference": ".metrics",
    "yardstick": ".metrics",
}
__all__ = [
    "Board",
    "Evaluation",
    "GradeMap",
    "baseline_scores",
    "paired_difference",
    "yardstick",
]
__getattr__ = lazy_exports(__name__, HOMES)

if TYPE_CHECKING:  # what static tools read; HOMES is what runs (tests/test_layout.py checks both)
    from .baselines import baseline_scores
    from .metrics import Evaluation, GradeMap, paired_difference, yardstick
    from .scoreboard import Board
