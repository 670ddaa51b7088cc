"""The student-side filters applied to a table of teacher labels, and what they decide written
out: the calls ``protege filter`` and ``distill`` share.

Example::

    selection = filter_labels(CrossEncoder("student/"), read_labels(Path("labels/")), FilterSettings())
    write_selection(labels, selection, Path("filtered/"))  # accepted.parquet, rejected.parquet, profile.json
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pyarrow as pa
from sentence_transformers.cross_encoder import CrossEncoder

from protege.client.data.outputs import ACCEPTED, REJECTED
from protege.client.labelling.jobs import read_labels
from protege.common.files import write_parquet_atomic
from protege.filters.base import Decision
from protege.filters.profile import PROFILE, Profile
from protege.filters.queries import Embed
from protege.filters.select import Selection, screen_queries, select
from protege.filters.settings import FilterSettings

# Columns `protege augment` writes that the refinement and query filters read, where a table has them.
PROVENANCE_COLUMNS = ("origin_query", "strategy", "doc_id")
STATISTICS = ("nll", "nll_blank", "ifd", "excess")


def filter_labels(
    student: CrossEncoder,
    labels: pa.Table,
    settings: FilterSettings,
    *,
    embed_queries: Embed | None = None,
    reference: Profile | None = None,
    batch_size: int = 64,
) -> Selection:
    """The filters' decision on ``labels`` (columns query, document, score, and those of
    ``PROVENANCE_COLUMNS`` it has) for ``student``; see ``filters.select.select``."""
    given = {name: labels[name].to_pylist() for name in PROVENANCE_COLUMNS if name in labels.column_names}
    return select(
        student,
        labels["query"].to_pylist(),
        labels["document"].to_pylist(),
        labels["score"].to_pylist(),
        settings=settings,
        embed_queries=embed_queries,
        reference=reference,
        batch_size=batch_size,
        **given,
    )


def screen_pairs(
    pairs: pa.Table, settings: FilterSettings, embed_queries: Embed, trained: list[str], record: Path
) -> tuple[pa.Table, dict[str, int]]:
    """``pairs`` less those whose query the query-only filters reject before any label is bought
    (``trained``: queries trained on already, which a generated one must not duplicate), and the
    rejections per reason; the rejected pairs go to ``record`` with their reason."""
    decision = screen_queries(
        pairs["query"].to_pylist(),
        embed_queries,
        origin_query=pairs["origin_query"].to_pylist(),
        strategy=pairs["strategy"].to_pylist(),
        settings=settings,
        accepted=trained,
    )
    record.parent.mkdir(parents=True, exist_ok=True)
    write_rejected(pairs, decision, record)  # before the round's pairs.parquet, which marks the choice made
    counts = decision.counts()
    counts.pop("accepted")
    return pairs.filter(pa.array(decision.accepted)), counts


def write_rejected(table: pa.Table, decision: Decision, path: Path) -> None:
    """The rows of ``table`` that ``decision`` rejects, each with its reason, to ``path``."""
    rejected = ~decision.accepted
    reasons = pa.array(decision.reasons[rejected].tolist(), pa.string())
    write_parquet_atomic(table.filter(pa.array(rejected)).append_column("reason", reasons), path)


def write_selection(labels: pa.Table, selection: Selection, out: Path) -> None:
    """``accepted.parquet`` and ``rejected.parquet`` (with each reason) of ``labels``, each row with
    its ``STATISTICS``, and the profile the thresholds came from, in ``out``."""
    for name in STATISTICS:
        labels = labels.append_column(name, pa.array(selection.statistics[name], pa.float64()))
    out.mkdir(parents=True, exist_ok=True)
    write_parquet_atomic(labels.filter(pa.array(selection.decision.accepted)), out / ACCEPTED)
    write_rejected(labels, selection.decision, out / REJECTED)
    selection.profile.save(out / PROFILE)


def filter_folder(
    student: str,
    labels: Path,
    out: Path,
    settings: FilterSettings,
    *,
    profile: Path | None = None,
    embed_queries: Embed | None = None,
    batch_size: int = 64,
) -> Selection:
    """``protege filter``: the labels of a ``protege label`` folder filtered for ``student`` (a
    CrossEncoder folder or hub id) against ``profile`` (default: the student's own
    ``profile.json``, else the seed pairs among the labels), written to ``out`` with
    ``summary.json``."""
    profile_file = profile or Path(student) / PROFILE
    if profile and not profile.exists():
        raise FileNotFoundError(f"{profile}: no such profile")
    reference = Profile.load(profile_file) if profile_file.exists() else None
    table = read_labels(labels)
    started = time.perf_counter()
    selection = filter_labels(
        CrossEncoder(student),
        table,
        settings,
        embed_queries=embed_queries,
        reference=reference,
        batch_size=batch_size,
    )
    write_selection(table, selection, out)
    summary = {
        "student": student,
        "labels": str(labels),
        "settings": settings.as_dict(),
        "counts": selection.decision.counts(),
        "reference_profile": str(profile_file) if reference is not None else "seed pairs",
        "student_forward_pairs": selection.forward_pairs,
        "seconds": round(time.perf_counter() - started, 2),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return selection
