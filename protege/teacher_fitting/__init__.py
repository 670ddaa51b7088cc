"""Fitting a teacher on gold grades, in one place: the recipes (``recipes``: cross-encoder,
ensemble, LLM judge, one ``fit_teacher``), the ensemble's members and blend (``ensemble``,
``bi_encoder``) and the LLM judge's fine-tuning (``llm_judge``).

Example::

    from protege.teacher_fitting import fit_teacher

    fit_teacher("ensemble", queries, documents, (grades - 1) / 2, Path("teacher/"))
"""

import importlib

from .settings import RECIPES, training_for

__all__ = ["RECIPES", "fit_teacher", "training_for"]


def __getattr__(name: str):
    # fit_teacher is imported when first used: it loads torch, which RECIPES' readers do not need.
    if name != "fit_teacher":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return importlib.import_module(".recipes", __name__).fit_teacher
