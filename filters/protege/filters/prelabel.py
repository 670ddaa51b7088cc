"""Selection before labelling: which candidate pairs the teacher is asked about when its labels
cannot pay for all, chosen by the student from what it has without a label.

Rules (``PrelabelRule.prelabel_rule``), each over whole queries (a query's products stay together):

* ``random`` — queries in random order;
* ``uncertainty`` — the queries whose pairs the student is least sure of first (mean binary
  entropy of its sigmoid score: uncertainty sampling);
* ``disagreement`` — the queries where the student and a cheap signal (the zero-shot embedding's
  cosine) order the products most differently first (mean gap between their within-query rank
  quantiles: query-by-committee with a free committee member).

With ``prelabel_clusters`` the queries are taken in turns over k-means clusters of their embeddings,
each cluster in the rule's order, so the pick also spreads over the inputs.

Example::

    rows = prelabel(queries, student_logits, cosines, 8_000, PrelabelRule("uncertainty"), embed)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .grouping import interleaved, query_clusters, query_groups, take_in_order
from .likelihood import StudentLikelihood
from .queries import Embed
from .settings import PrelabelRule


def prelabel(
    queries: Sequence[str],
    logits: np.ndarray | None,
    cheap: np.ndarray | None,
    label_budget: int,
    rule: PrelabelRule,
    embed: Embed | None = None,
) -> np.ndarray:
    """The rows (sorted) of at most ``label_budget`` candidate pairs, by whole queries in ``rule``'s order.
    ``logits``: the student's on each pair (for ``uncertainty`` and ``disagreement``); ``cheap``:
    the cheap signal's score of each pair (``disagreement``); ``embed``: for ``prelabel_clusters``."""
    if label_budget < 0:
        raise ValueError(f"a pre-label budget is at least 0 pairs, not {label_budget}")
    needs = {"uncertainty": {"student": logits}, "disagreement": {"student": logits, "cheap": cheap}}
    missing = [name for name, values in needs.get(rule.prelabel_rule, {}).items() if values is None]
    if missing:
        raise ValueError(f"the {rule.prelabel_rule} pre-label rule needs the {' and '.join(missing)} scores")
    groups = query_groups(np.asarray(queries, dtype=object))
    rng = np.random.default_rng(rule.seed)
    order = rng.permutation(len(groups))
    if rule.prelabel_rule != "random":
        value = _query_values(rule.prelabel_rule, groups, logits, cheap)
        order = order[np.argsort(-value[order], kind="stable")]  # ties in random order
    order = order.tolist()
    if rule.prelabel_clusters:
        firsts = [str(queries[group[0]]) for group in groups]
        order = interleaved(order, query_clusters(firsts, rule.prelabel_clusters, embed, rng))
    return np.sort(take_in_order([groups[i] for i in order], label_budget))


def prelabel_pairs(
    student,
    queries: Sequence[str],
    documents: Sequence[str],
    label_budget: int,
    rule: PrelabelRule,
    embed: Embed,
) -> np.ndarray:
    """``prelabel``'s pick of at most ``label_budget`` of the candidate pairs, from the signals ``rule``
    reads (``prelabel_signals``)."""
    signals = prelabel_signals(rule.prelabel_rule, student, queries, documents, embed)
    return prelabel(queries, *signals, label_budget, rule, embed)


def prelabel_signals(
    rule: str, student, queries: Sequence[str], documents: Sequence[str], embed: Embed
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """What ``rule`` reads of each candidate pair: the ``student``'s logit (``uncertainty``,
    ``disagreement``) and the cosine of ``embed``'s unit vectors of query and document
    (``disagreement``); None for what it does not read.

    Example::

        logits, cheap = prelabel_signals("disagreement", student, queries, documents, embed)
    """
    logits, cheap = None, None
    if rule != "random":
        logits = StudentLikelihood(student, batch_size=64).logits(queries, documents)
    if rule == "disagreement":
        cheap = np.sum(embed(queries) * embed(documents), axis=1)
    return logits, cheap


def _query_values(
    rule: str, groups: list[np.ndarray], logits: np.ndarray, cheap: np.ndarray | None
) -> np.ndarray:
    """Each query's mean uncertainty or disagreement (higher: labelled sooner)."""
    if rule == "uncertainty":
        p = 1.0 / (1.0 + np.exp(-np.asarray(logits, dtype=np.float64)))
        with np.errstate(divide="ignore", invalid="ignore"):
            entropy = -np.nan_to_num(p * np.log(p)) - np.nan_to_num((1 - p) * np.log1p(-p))
        return np.array([entropy[group].mean() for group in groups])
    gaps = np.zeros(len(groups))
    for number, group in enumerate(groups):
        if len(group) > 1:  # one product has no order to disagree on
            gaps[number] = np.abs(_rank_quantiles(logits[group]) - _rank_quantiles(cheap[group])).mean()
    return gaps


def _rank_quantiles(values: np.ndarray) -> np.ndarray:
    """Each value's rank among ``values`` as a share in 0..1."""
    ranks = np.argsort(np.argsort(values, kind="stable"), kind="stable")
    return ranks / (len(values) - 1)
