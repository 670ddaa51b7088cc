"""Student-side selection in one call: the student's statistics, its profile on the reference
set, then the filter pipeline. The distill loop and ``protege filter`` both use it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .base import Candidates, Decision, Filter, FilterPipeline, is_seed
from .frontier import FrontierBand, IfdCeiling
from .likelihood import StudentLikelihood
from .profile import Profile
from .queries import Embed, NearDuplicates, Plausibility, StudentQueryEmbedder, seed_distances
from .quota import Quota
from .refinement import RefinementAcceptance
from .settings import FilterSettings


@dataclass
class Selection:
    decision: Decision
    profile: Profile
    statistics: dict[str, np.ndarray]
    forward_pairs: int


def _likelihood_filters(settings: FilterSettings) -> list[Filter]:
    """The filters on the student's likelihood of a label: the frontier band, the IFD ceiling."""
    filters: list[Filter] = []
    if settings.band_low is not None or settings.band_high is not None:
        filters.append(FrontierBand(settings.band_low or 0.0, settings.band_high or 1.0))
    if settings.ifd_margin is not None:
        filters.append(IfdCeiling(settings.ifd_margin))
    return filters


def _last_filters(settings: FilterSettings, refinements: bool, embed: Embed | None) -> list[Filter]:
    """What runs after every other filter: refinement acceptance (where pairs have origins), the quota."""
    filters: list[Filter] = [RefinementAcceptance()] if settings.refinement and refinements else []
    if settings.quota is not None:
        filters.append(Quota(settings.quota, settings.quota_rule, embed))
    return filters


def select(
    student,
    queries: Sequence[str],
    documents: Sequence[str],
    scores: Sequence[float],
    *,
    origin_query: Sequence[str | None] | None = None,
    strategy: Sequence[str | None] | None = None,
    doc_id: Sequence[str | None] | None = None,
    settings: FilterSettings | None = None,
    embed_queries: Embed | None = None,
    reference: Profile | None = None,
    batch_size: int = 64,
) -> Selection:
    """Decides which teacher-labelled pairs ``student`` (a one-label CrossEncoder) learns from.

    Thresholds on ``nll`` and ``ifd`` are quantiles of ``reference``, the profile of the
    student's own training set (``training_profile``, saved as ``profile.json`` beside a
    student that protege trained); without one, of the seed pairs among the candidates (all
    pairs when none is marked), from the same forward passes. Queries are
    compared (plausibility, near-duplicates) with ``embed_queries``, by default the student's
    own encoder; ``bench/filter_quality.py`` measured its backbone's sentence embeddings to
    catch about twice the gibberish at the same false-rejection rate.

    Example::

        selection = select(CrossEncoder("student/"), labels["query"], labels["document"], labels["score"])
        selection.decision.counts()
    """
    settings = settings or FilterSettings()
    size = len(queries)
    likelihood = StudentLikelihood(student, batch_size=batch_size)
    statistics = likelihood.statistics(queries, documents, scores)
    seeds = is_seed(origin_query, strategy, size)
    if reference is None:
        rows = seeds if seeds.any() else np.ones(size, dtype=bool)
        profile_input = {name: statistics[name][rows] for name in ("nll", "nll_blank", "ifd")}
    else:
        profile_input = {name: reference.values[name] for name in ("nll", "nll_blank", "ifd")}
    columns = {
        **_object_columns(
            query=queries, document=documents, origin_query=origin_query, strategy=strategy, doc_id=doc_id
        ),
        **statistics,
    }
    filters = _likelihood_filters(settings)
    embed = embed_queries
    if embed is None and _compares_queries(settings):
        embed = StudentQueryEmbedder(student)  # only when a filter will use it
    on_queries, seed_profile = query_filters(queries, seeds, settings, embed)
    filters += on_queries + _last_filters(settings, origin_query is not None, embed)
    profile_input.update(seed_profile)
    profile = Profile.from_statistics(profile_input)
    if reference is not None:
        kept = profile_input.keys() & reference.counts.keys()
        profile.counts.update({name: reference.counts[name] for name in kept})
    decision = FilterPipeline(filters)(Candidates(columns), profile)
    return Selection(decision, profile, statistics, likelihood.forward_pairs)


def _compares_queries(settings: FilterSettings) -> bool:
    """Whether a filter of ``settings`` embeds queries."""
    clusters = settings.quota is not None and settings.quota_rule.clusters > 0
    return clusters or settings.plausibility_quantile is not None or settings.dedup_threshold is not None


def query_filters(
    queries: Sequence[str],
    seeds: np.ndarray,
    settings: FilterSettings,
    embed: Embed | None,
    accepted: Sequence[str] = (),
) -> tuple[list[Filter], dict[str, np.ndarray]]:
    """The filters that judge a pair by its query alone (plausibility, near-duplicates, also of
    the ``accepted`` queries), and the seed-distance statistic plausibility needs; ``embed``
    may be ``None`` only when both are off in ``settings``."""
    filters: list[Filter] = []
    statistics: dict[str, np.ndarray] = {}
    seed_queries = list(dict.fromkeys(np.asarray(queries, dtype=object)[seeds].tolist()))
    if settings.plausibility_quantile is not None and len(seed_queries) >= 2 and not seeds.all():
        seed_vectors = embed(seed_queries)
        statistics["seed_distance"] = seed_distances(seed_vectors)
        filters.append(Plausibility(seed_vectors, embed, settings.plausibility_quantile))
    if settings.dedup_threshold is not None:
        filters.append(NearDuplicates(embed, settings.dedup_threshold, accepted))
    return filters, statistics


def screen_queries(
    queries: Sequence[str],
    embed_queries: Embed,
    *,
    origin_query: Sequence[str | None] | None = None,
    strategy: Sequence[str | None] | None = None,
    settings: FilterSettings | None = None,
    accepted: Sequence[str] = (),
) -> Decision:
    """The query-only filters of ``settings``, run before labelling: a pair they would reject
    after the teacher scored it costs no teacher label. ``accepted``: the queries trained on
    already, which a generated query must not duplicate. Then ``select`` with those filters
    off decides on the rest.

    Example::

        screened = screen_queries(pairs["query"], embed, origin_query=pairs["origin_query"],
                                  strategy=pairs["strategy"])
        to_label = pairs.filter(screened.accepted)
    """
    seeds = is_seed(origin_query, strategy, len(queries))
    filters, statistics = query_filters(queries, seeds, settings or FilterSettings(), embed_queries, accepted)
    columns = _object_columns(query=queries, origin_query=origin_query, strategy=strategy)
    return FilterPipeline(filters)(Candidates(columns), Profile.from_statistics(statistics))


def _object_columns(**columns: Sequence | None) -> dict[str, np.ndarray]:
    """The given columns as object arrays, the ones passed as ``None`` left out."""
    return {name: np.asarray(values, dtype=object) for name, values in columns.items() if values is not None}


def training_profile(
    student, queries: Sequence[str], documents: Sequence[str], scores: Sequence[float], batch_size: int = 64
) -> Profile:
    """The profile of the set ``student`` was trained on: what "known" and "beyond the
    frontier" mean for this student, whatever the noise rate of new candidates.

    Example::

        profile = training_profile(student, train["query"], train["document"], train["score"])
        profile.save("student/profile.json")
    """
    statistics = StudentLikelihood(student, batch_size=batch_size).statistics(queries, documents, scores)
    return Profile.from_statistics({name: statistics[name] for name in ("nll", "nll_blank", "ifd")})
