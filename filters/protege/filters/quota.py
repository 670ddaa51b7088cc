"""The quota: which of the pairs every other filter kept the student trains on, when it may keep
only ``max_pairs``.

Rules (``QuotaRule.rule``):

* ``top-ifd`` — single pairs, highest ``ifd`` first (protege's first rule; on Home Depot it kept the
  teacher-uncertain middle and lost to a random quarter, docs/filters.md);
* ``random`` — whole queries in random order;
* ``excess`` — whole queries, the highest mean excess loss first (``nll − H(y)``: what the student
  can still learn of the label), after the hardest ``noise_tail`` of them is dropped;
* ``strata`` — coverage-centric stratification (CCS, Zheng et al., ICLR 2023) over whole queries:
  drop the hardest ``noise_tail`` as likely teacher noise, cut the rest into ``strata``
  equal-width bands of difficulty, give every band an equal share of the quota (a band too small
  for its share passes the rest on), draw at random inside a band — or, with ``clusters``, in turns
  over k-means clusters of the query embeddings, so the pick spreads over the inputs (D2-pruning).

The query rules keep real (seed) queries at least at their share of the rows: seeds and generated
queries each get their part of the quota, and rewrites compete only with rewrites.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .base import Candidates, no_reasons, seed_rows
from .grouping import interleaved, query_clusters, query_groups, take_in_order
from .profile import Profile
from .queries import Embed
from .settings import QuotaRule

OVER_QUOTA = "over quota"


@dataclass
class Quota:
    """Keeps at most ``max_pairs`` of the rows still alive, by ``rule`` (module docstring);
    ``embed`` compares queries for ``rule.clusters``.

    Example::

        Quota(5_000, QuotaRule("strata", clusters=16), embed)(candidates, alive, profile)
    """

    max_pairs: int
    rule: QuotaRule = field(default_factory=QuotaRule)
    embed: Embed | None = None

    def __post_init__(self) -> None:
        if self.rule.clusters and self.embed is None:
            raise ValueError("a quota spread over query clusters needs a query embedder")

    def __call__(self, candidates: Candidates, alive: np.ndarray, profile: Profile) -> np.ndarray:
        reasons = no_reasons(len(candidates))
        rows = np.flatnonzero(alive)
        if len(rows) <= self.max_pairs:
            return reasons
        if self.rule.rule == "top-ifd":
            kept = rows[np.argsort(-candidates["ifd"][rows], kind="stable")][: self.max_pairs]
        else:
            kept = self._by_queries(candidates, rows)
        reasons[rows[~np.isin(rows, kept)]] = OVER_QUOTA
        return reasons

    def _by_queries(self, candidates: Candidates, rows: np.ndarray) -> np.ndarray:
        """Rows of whole queries: seeds and generated queries each within their share of the quota."""
        rng = np.random.default_rng(self.rule.seed)
        seed = seed_rows(candidates)[rows]
        seed_quota = round(self.max_pairs * seed.mean())
        seeds = self._pick(candidates, rows[seed], seed_quota, rng)
        generated = self._pick(candidates, rows[~seed], self.max_pairs - len(seeds), rng)
        if len(seeds) + len(generated) < self.max_pairs:  # generated ran short: seeds fill the rest
            seeds = self._pick(candidates, rows[seed], self.max_pairs - len(generated), rng)
        return np.concatenate([seeds, generated])

    def _pick(
        self, candidates: Candidates, rows: np.ndarray, quota: int, rng: np.random.Generator
    ) -> np.ndarray:
        """At most ``quota`` of ``rows``, by whole queries in the rule's order."""
        if quota <= 0 or not len(rows):
            return rows[:0]
        groups = query_groups(candidates["query"][rows])
        order = self._order(candidates, rows, groups, quota, rng)
        return take_in_order([rows[groups[i]] for i in order], quota)

    def _order(
        self,
        candidates: Candidates,
        rows: np.ndarray,
        groups: list[np.ndarray],
        quota: int,
        rng: np.random.Generator,
    ) -> list[int]:
        """The queries (indices into ``groups``) in the order they are taken."""
        if self.rule.rule == "random":
            return rng.permutation(len(groups)).tolist()
        excess = candidates["excess"][rows]
        difficulty = np.array([excess[group].mean() for group in groups])
        eligible = np.flatnonzero(difficulty <= np.quantile(difficulty, 1.0 - self.rule.noise_tail))
        if self.rule.rule == "excess":
            return eligible[np.argsort(-difficulty[eligible], kind="stable")].tolist()
        sizes = np.array([len(group) for group in groups])
        queries = [str(candidates["query"][rows[group[0]]]) for group in groups]
        clusters = query_clusters(queries, self.rule.clusters, self.embed, rng)
        return stratified_order(difficulty, sizes, eligible, self.rule.strata, quota, clusters, rng)


def stratified_order(
    difficulty: np.ndarray,
    sizes: np.ndarray,
    eligible: np.ndarray,
    strata: int,
    quota: int,
    clusters: np.ndarray,
    rng: np.random.Generator,
) -> list[int]:
    """CCS's draw over the ``eligible`` queries: equal-width bands of ``difficulty``, each given an
    equal share of ``quota`` rows (``sizes``: rows per query), the smallest bands first so what
    they cannot use passes to the rest; inside a band, queries in turns over ``clusters``.

    Example::

        order = stratified_order(difficulty, sizes, np.arange(len(sizes)), 8, 1_000, clusters, rng)
    """
    values = difficulty[eligible]
    edges = np.linspace(values.min(), values.max(), strata + 1)[1:-1]
    band = np.searchsorted(edges, values, side="right")
    bands = [eligible[band == b] for b in range(strata) if (band == b).any()]
    bands.sort(key=lambda members: sizes[members].sum())
    order: list[int] = []
    left = quota
    for number, members in enumerate(bands):
        share = left // (len(bands) - number)
        shuffled = rng.permutation(members).tolist()
        drawn = interleaved(shuffled, clusters, rng.permutation(np.unique(clusters[members])).tolist())
        taken = 0
        for query in drawn:
            if taken >= share:
                break
            order.append(int(query))
            taken += int(sizes[query])
        left -= taken
    return order
