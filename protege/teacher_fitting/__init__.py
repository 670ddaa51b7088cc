"""Fitting a teacher on gold grades, in one place: the recipes (``recipes``: cross-encoder,
ensemble, LLM judge, one ``fit_teacher``), the ensemble's members and blend (``ensemble``,
``bi_encoder``) and the LLM judge's fine-tuning (``llm_judge``).

Example::

    from protege.teacher_fitting import fit_teacher

    fit_teacher("ensemble", queries, documents, (grades - 1) / 2, Path("teacher/"))
"""

from typing import TYPE_CHECKING

from protege.common.lazy import lazy_exports

from .settings import RECIPES, TeacherFitConfig, training_for

# fit_teacher is imported when first used: it loads torch, which RECIPES' readers do not need.
HOMES = {"fit_teacher": ".recipes"}
__all__ = ["RECIPES", "TeacherFitConfig", "fit_teacher", "training_for"]
__getattr__ = lazy_exports(__name__, HOMES)

if TYPE_CHECKING:  # what static tools read; HOMES is what runs (tests/test_layout.py checks both)
    from .recipes import fit_teacher
