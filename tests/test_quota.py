"""The quota rules on constructed candidates whose right pick is known."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from protege.filters.base import Candidates
from protege.filters.likelihood import label_entropy, label_nll
from protege.filters.profile import Profile
from protege.filters.quota import Quota, stratified_order
from protege.filters.settings import QuotaRule

NO_PROFILE = Profile({})


def pairs_of(difficulty: list[float], per_query: int = 4, generated: int = 0) -> Candidates:
    """``per_query`` rows for each query, every row of query i with excess ``difficulty[i]``; the
    last ``generated`` queries are rewrites of the first."""
    queries, excess, origins = [], [], []
    for i, value in enumerate(difficulty):
        rewrite = i >= len(difficulty) - generated
        for _ in range(per_query):
            queries.append(f"q{i}")
            excess.append(value)
            origins.append("q0" if rewrite else "")
    return Candidates(
        {"query": np.array(queries), "excess": np.array(excess), "origin_query": np.array(origins, object)}
    )


def kept_queries(pairs: Candidates, reasons: np.ndarray) -> Counter:
    return Counter(pairs["query"][reasons == ""].tolist())


def test_excess_loss_is_what_the_student_can_still_learn_not_the_labels_entropy() -> None:
    targets = np.array([0.5, 0.5, 0.98])
    logits = np.array([0.0, 3.0, np.log(0.98 / 0.02)])  # right, wrong, right
    nll, entropy = label_nll(logits, targets), label_entropy(targets)
    assert nll[0] > nll[2] * 5  # raw nll calls the learned 0.5 label hard
    excess = nll - entropy
    assert excess[0] == pytest.approx(0, abs=1e-9) and excess[2] == pytest.approx(0, abs=1e-9)
    assert excess[1] > 0.5


@pytest.mark.parametrize("rule", ["random", "excess", "strata"])
def test_query_rules_keep_whole_queries_within_the_quota(rule: str) -> None:
    pairs = pairs_of(list(np.linspace(0, 1, 40)))
    reasons = Quota(40, QuotaRule(rule, noise_tail=0.1))(pairs, np.ones(len(pairs), bool), NO_PROFILE)
    assert (reasons == "").sum() == 40
    assert set(kept_queries(pairs, reasons).values()) == {4}  # ten queries, each with all four rows
    assert set(reasons[reasons != ""]) == {"over quota"}


def test_excess_takes_the_hardest_queries_below_the_noise_tail() -> None:
    pairs = pairs_of([0.1 * i for i in range(10)], per_query=2)
    reasons = Quota(4, QuotaRule("excess", noise_tail=0.1))(pairs, np.ones(20, bool), NO_PROFILE)
    assert set(kept_queries(pairs, reasons)) == {"q7", "q8"}  # q9, the hardest tenth, is dropped


def test_strata_spread_the_quota_over_difficulty() -> None:
    # 90 easy queries and 10 hard ones: a random pick is nine-tenths easy, strata half and half.
    pairs = pairs_of([0.0] * 90 + [1.0] * 10, per_query=1)
    rule = QuotaRule("strata", noise_tail=0.0, strata=2)
    reasons = Quota(10, rule)(pairs, np.ones(100, bool), NO_PROFILE)
    kept = pairs["excess"][reasons == ""]
    assert len(kept) == 10 and (kept == 1.0).sum() == 5


def test_a_small_stratum_passes_its_unused_share_on() -> None:
    difficulty = np.array([0.0] * 20 + [1.0])
    sizes = np.ones(21, dtype=int)
    order = stratified_order(
        difficulty, sizes, np.arange(21), 2, 10, np.zeros(21, int), np.random.default_rng(0)
    )
    assert len(order) == 10 and 20 in order


def test_strata_draw_in_turns_over_query_clusters() -> None:
    pairs = pairs_of([0.5] * 20, per_query=1)
    # Queries q0..q15 sit in one region of the embedding space, q16..q19 in another.
    embed = lambda texts: np.array([[1.0, 0.0] if int(t[1:]) < 16 else [0.0, 1.0] for t in texts])  # noqa: E731
    reasons = Quota(8, QuotaRule("strata", clusters=2), embed)(pairs, np.ones(20, bool), NO_PROFILE)
    kept = [int(q[1:]) for q in kept_queries(pairs, reasons)]
    assert sum(q >= 16 for q in kept) == 4  # half the pick from the small cluster, not a fifth


def test_seed_queries_keep_their_share_and_rewrites_compete_only_with_rewrites() -> None:
    # Rewrites are all harder than seeds: ranked together, they would take the whole quota.
    pairs = pairs_of([0.1] * 10 + [0.9] * 10, per_query=2, generated=10)
    reasons = Quota(8, QuotaRule("excess", noise_tail=0.0))(pairs, np.ones(40, bool), NO_PROFILE)
    kept = pairs["origin_query"][reasons == ""]
    assert (kept == "").sum() == 4 and (kept == "q0").sum() == 4


def test_the_first_rule_keeps_single_pairs_by_ifd() -> None:
    pairs = Candidates({"query": np.array(["a", "a", "b", "b"]), "ifd": np.array([0.2, 0.9, 0.5, 0.7])})
    reasons = Quota(2, QuotaRule("top-ifd"))(pairs, np.ones(4, bool), NO_PROFILE)
    assert reasons.tolist() == ["over quota", "", "over quota", ""]


def test_rules_are_checked_where_they_are_made() -> None:
    with pytest.raises(ValueError, match="unknown quota rule 'hardest'"):
        QuotaRule("hardest")
    with pytest.raises(ValueError, match="query embedder"):
        Quota(10, QuotaRule("strata", clusters=4))
