"""The budget: which of the pairs every other filter kept the student trains on, when it may keep
only ``max_pairs``.

Rules (``BudgetRule.rule``):

* ``top-ifd`` — single pairs, highest ``ifd`` first (protege's first rule; on Home Depot it kept the
  teacher-uncertain middle and lost to a random quarter, docs/filters.md);
* ``random`` — whole queries in random order;
* ``excess`` — whole queries, the highest mean excess loss first (``nll − H(y)``: what the student
  can still learn of the label), after the hardest ``noise_tail`` of them is dropped;
* ``strata`` — coverage-centric stratification (CCS, Zheng et al., ICLR 2023) over whole queries:
  drop the hardest ``noise_tail`` as likely teacher noise, cut the rest into ``strata``
  equal-width bands of difficulty, give every band an equal share of the budget (a band too small
  for its share passes the rest on), draw at random inside a band — or, with ``clusters``, in turns
  over k-means clusters of the query embeddings, so the pick spreads over the inputs (D2-pruning).

The query rules keep real (seed) queries at least at their share of the rows: seeds and generated
queries each get their part of the budget, and rewrites compete only with rewrites.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import faiss
import numpy as np

from .base import Candidates, no_reasons, seed_rows
from .profile import Profile
from .queries import Embed
from .settings import BudgetRule

OVER_BUDGET = "over budget"


@dataclass
class Budget:
    """Keeps at most ``max_pairs`` of the rows still alive, by ``rule`` (module docstring);
    ``embed`` compares queries for ``rule.clusters``.

    Example::

        Budget(5_000, BudgetRule("strata", clusters=16), embed)(candidates, alive, profile)
    """

    max_pairs: int
    rule: BudgetRule = field(default_factory=BudgetRule)
    embed: Embed | None = None

    def __post_init__(self) -> None:
        if self.rule.clusters and self.embed is None:
            raise ValueError("a budget spread over query clusters needs a query embedder")

    def __call__(self, candidates: Candidates, alive: np.ndarray, profile: Profile) -> np.ndarray:
        reasons = no_reasons(len(candidates))
        rows = np.flatnonzero(alive)
        if len(rows) <= self.max_pairs:
            return reasons
        if self.rule.rule == "top-ifd":
            kept = rows[np.argsort(-candidates["ifd"][rows], kind="stable")][: self.max_pairs]
        else:
            kept = self._by_queries(candidates, rows)
        reasons[rows[~np.isin(rows, kept)]] = OVER_BUDGET
        return reasons

    def _by_queries(self, candidates: Candidates, rows: np.ndarray) -> np.ndarray:
        """Rows of whole queries: seeds and generated queries each within their share of the budget."""
        rng = np.random.default_rng(self.rule.seed)
        seed = seed_rows(candidates)[rows]
        seed_budget = round(self.max_pairs * seed.mean())
        seeds = self._pick(candidates, rows[seed], seed_budget, rng)
        generated = self._pick(candidates, rows[~seed], self.max_pairs - len(seeds), rng)
        if len(seeds) + len(generated) < self.max_pairs:  # generated ran short: seeds fill the rest
            seeds = self._pick(candidates, rows[seed], self.max_pairs - len(generated), rng)
        return np.concatenate([seeds, generated])

    def _pick(
        self, candidates: Candidates, rows: np.ndarray, budget: int, rng: np.random.Generator
    ) -> np.ndarray:
        """At most ``budget`` of ``rows``, by whole queries in the rule's order."""
        if budget <= 0 or not len(rows):
            return rows[:0]
        groups = query_groups(candidates["query"][rows])
        order = self._order(candidates, rows, groups, budget, rng)
        return take_in_order([rows[groups[i]] for i in order], budget)

    def _order(
        self,
        candidates: Candidates,
        rows: np.ndarray,
        groups: list[np.ndarray],
        budget: int,
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
        return stratified_order(difficulty, sizes, eligible, self.rule.strata, budget, clusters, rng)


def query_clusters(
    queries: list[str], count: int, embed: Embed | None, rng: np.random.Generator
) -> np.ndarray:
    """A spherical k-means cluster of each query's embedding, ``count`` clusters (all 0 below 2)."""
    count = min(count, len(queries))
    if count < 2:
        return np.zeros(len(queries), dtype=np.int64)
    if embed is None:
        raise ValueError("spreading over query clusters needs a query embedder")
    vectors = np.ascontiguousarray(embed(queries), np.float32)
    kmeans = faiss.Kmeans(vectors.shape[1], count, niter=20, seed=int(rng.integers(2**31)), spherical=True)
    kmeans.train(vectors)
    return kmeans.index.search(vectors, 1)[1][:, 0]


def query_groups(queries: np.ndarray) -> list[np.ndarray]:
    """Positions of each distinct query's rows, queries in order of first appearance."""
    positions: dict[str, list[int]] = defaultdict(list)
    for position, query in enumerate(queries.tolist()):
        positions[query].append(position)
    return [np.asarray(group, dtype=np.int64) for group in positions.values()]


def take_in_order(groups: list[np.ndarray], budget: int) -> np.ndarray:
    """The rows of ``groups`` in turn until ``budget`` are taken, the last group cut to fit."""
    taken: list[np.ndarray] = []
    left = budget
    for group in groups:
        if left <= 0:
            break
        taken.append(group[:left])
        left -= len(taken[-1])
    return np.concatenate(taken) if taken else np.zeros(0, dtype=np.int64)


def stratified_order(
    difficulty: np.ndarray,
    sizes: np.ndarray,
    eligible: np.ndarray,
    strata: int,
    budget: int,
    clusters: np.ndarray,
    rng: np.random.Generator,
) -> list[int]:
    """CCS's draw over the ``eligible`` queries: equal-width bands of ``difficulty``, each given an
    equal share of ``budget`` rows (``sizes``: rows per query), the smallest bands first so what
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
    left = budget
    for number, members in enumerate(bands):
        share = left // (len(bands) - number)
        drawn = interleaved(rng.permutation(members).tolist(), clusters)
        taken = 0
        for query in drawn:
            if taken >= share:
                break
            order.append(int(query))
            taken += int(sizes[query])
        left -= taken
    return order


def interleaved(order: list[int], clusters: np.ndarray) -> list[int]:
    """``order`` (queries) rearranged so consecutive ones come from different ``clusters``, each
    cluster's own queries kept in ``order``, clusters in order of their first query.

    Example::

        >>> interleaved([0, 1, 2, 3], np.array([0, 0, 1, 1]))
        [0, 2, 1, 3]
    """
    queues: dict[int, list[int]] = defaultdict(list)
    for query in order:
        queues[int(clusters[query])].append(query)
    turns: list[int] = []
    for turn in range(max((len(queue) for queue in queues.values()), default=0)):
        turns += [queue[turn] for queue in queues.values() if turn < len(queue)]
    return turns
