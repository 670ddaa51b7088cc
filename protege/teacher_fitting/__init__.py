"""Fitting a teacher on gold grades, in one place: the recipes (``recipes``: cross-encoder,
ensemble, LLM judge, one ``fit_teacher``), the ensemble's members and blend (``ensemble``,
``bi_encoder``) and the LLM judge's fine-tuning (``llm_judge``).

Example::

    from protege.teacher_fitting import fit_teacher

    fit_teacher("ensemble", queries, documents, (grades - 1) / 2, Path("teacher/"))
"""

from .recipes import RECIPES, fit_teacher, training_for

__all__ = ["RECIPES", "fit_teacher", "training_for"]
