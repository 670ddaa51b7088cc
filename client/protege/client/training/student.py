"""``protege train``'s job: a cross-encoder trained on a table's label column (teacher scores,
or gold grades mapped to 0..1) and saved with the profile the filters read.

Example::

    rows = training_rows(Path("labels/"), Columns(label="score"))
    train_student(rows, TrainingConfig(layers=3), Path("student/"))
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
from datasets import Dataset
from sentence_transformers.cross_encoder import CrossEncoder

from protege.client.data import Columns, DataError, read_table
from protege.client.data.grades import normalise_grades
from protege.client.labelling.jobs import pair_files
from protege.client.training.config import CurriculumConfig, TrainingConfig
from protege.client.training.curriculum import curriculum_rows, train_curriculum
from protege.client.training.saving import data_hash
from protege.client.training.trainer import train_cross_encoder
from protege.filters.profile import PROFILE
from protege.filters.select import training_profile
from protege.filters.settings import FilterSettings

PROFILE_PAIRS = 10_000  # training pairs profiled after training: quantiles to ~1%, a bounded cost


def training_rows(path: Path, columns: Columns, encoding: str = "auto") -> pa.Table:
    """Rows with query, document and ``label`` (``columns.label``, renamed) from a data file, a
    ``protege label`` folder (its labels) or a ``protege filter`` folder (its accepted pairs); a
    folder's parquet is converted once into the datasets cache and memory-mapped, not loaded."""
    if not path.is_dir():
        return read_table(path, columns, encoding=encoding)
    table = mapped_parquet(pair_files(path))
    if columns.label not in table.column_names:
        raise DataError(f"{path} has no column {columns.label!r} (it has: {', '.join(table.column_names)})")
    return table.rename_columns(["label" if name == columns.label else name for name in table.column_names])


def train_student(
    rows: pa.Table,
    config: TrainingConfig,
    out: Path,
    *,
    label_range: tuple[float, float] | None = None,
    provenance: dict | None = None,
    curriculum: CurriculumConfig | None = None,
    filters: FilterSettings | None = None,
) -> CrossEncoder:
    """A cross-encoder trained on ``rows``' label (mapped from ``label_range`` to 0..1 when given)
    and saved to ``out``, with ``profile.json``: what its own training set looks like to it. With
    ``curriculum`` rounds, trained in rounds, each drawn by ``filters`` (``client.training.curriculum``)."""
    queries, documents = rows["query"], rows["document"]  # Arrow columns: not copied into Python
    targets = normalise_grades(rows["label"].to_numpy(), label_range)
    record = {"data_hash": data_hash(queries, documents, targets), "label_range": label_range}
    if "teacher_version" in rows.column_names:
        record["teacher_version"] = rows["teacher_version"][0].as_py()
    record |= provenance or {}
    if curriculum and curriculum.curriculum_rounds:
        model = train_curriculum(rows, targets, config, curriculum, filters, out, provenance=record)
    else:
        model = train_cross_encoder(queries, documents, targets, config, out=out, provenance=record)
    if int(os.environ.get("RANK", "0")) == 0:  # under torchrun, the first process writes
        trained = (
            curriculum_rows(out) if curriculum and curriculum.curriculum_rounds else np.arange(len(queries))
        )
        sample = np.random.default_rng(config.seed).permutation(trained)[:PROFILE_PAIRS]
        taken = pa.array(sample)
        chosen = queries.take(taken).to_pylist(), documents.take(taken).to_pylist(), targets[sample]
        training_profile(model, *chosen).save(out / PROFILE)
    return model


def mapped_parquet(files: list[Path]) -> pa.Table:
    """The rows of ``files``, in order, memory-mapped from the Arrow copy that ``datasets`` keeps
    in its cache (``HF_DATASETS_CACHE``): a table of any size costs its pages, not its memory."""
    return Dataset.from_parquet([str(file) for file in files]).data.table
