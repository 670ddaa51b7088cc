"""Each filter's decision on constructed cases where the right answer is known."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from stand_ins import DesignedStudent

from protege.filters.base import Candidates, FilterPipeline, counts_table
from protege.filters.frontier import FrontierBand, IfdCeiling
from protege.filters.likelihood import StudentLikelihood
from protege.filters.profile import Profile
from protege.filters.queries import NearDuplicates, Plausibility, StudentQueryEmbedder, seed_distances
from protege.filters.quota import Quota
from protege.filters.refinement import RefinementAcceptance
from protege.filters.settings import QuotaRule

EVERYONE = np.ones(1, dtype=bool)


def reference_profile(rng: np.random.Generator, centre: float = 1.0) -> Profile:
    nll = rng.uniform(0.5 * centre, 1.5 * centre, 1000)
    return Profile.from_statistics({"nll": nll, "ifd": rng.uniform(0, 1, 1000)})


def candidates(**columns) -> Candidates:
    return Candidates({name: np.asarray(values) for name, values in columns.items()})


def test_a_pair_the_student_already_knows_is_rejected_as_known() -> None:
    student = DesignedStudent(
        {
            ("drill", "DEWALT drill"): 6.0,
            ("", "DEWALT drill"): 0.0,
            ("saw", "saw blade"): 0.2,
            ("", "saw blade"): 0.0,
        }
    )
    stats = StudentLikelihood(student).statistics(["drill", "saw"], ["DEWALT drill", "saw blade"], [1.0, 1.0])
    profile = reference_profile(np.random.default_rng(0), centre=0.6)
    verdict = FrontierBand(0.1, 0.9)(candidates(**stats), np.ones(2, bool), profile)
    assert verdict.tolist() == ["known", ""]


def test_a_label_far_beyond_the_student_is_beyond_the_frontier() -> None:
    profile = reference_profile(np.random.default_rng(0))
    verdict = FrontierBand(0.1, 0.9)(candidates(nll=[1.0, 9.0]), np.ones(2, bool), profile)
    assert verdict.tolist() == ["", "beyond frontier"]


def test_a_contradictory_label_is_rejected() -> None:
    # The teacher says relevant (1.0); with the query the student is surer it is not than without.
    student = DesignedStudent({("odd", "doc"): -3.0, ("", "doc"): 0.0, ("fine", "doc"): 0.5})
    stats = StudentLikelihood(student).statistics(["odd", "fine"], ["doc", "doc"], [1.0, 1.0])
    profile = reference_profile(np.random.default_rng(0))
    verdict = IfdCeiling(margin=0.1)(candidates(**stats), np.ones(2, bool), profile)
    assert verdict.tolist() == ["contradictory", ""]


def fake_embed(table: dict[str, list[float]]):
    def embed(queries):
        vectors = np.array([table[query] for query in queries], dtype=np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    return embed


SPACE = {
    "cordless drill": [1.0, 0.1, 0.0],
    "drill driver": [1.0, 0.2, 0.0],
    "ceiling paint": [0.1, 1.0, 0.0],
    "white paint": [0.2, 1.0, 0.0],
    "drill cordless": [1.0, 0.12, 0.0],
    "xq zzv blorf": [0.0, 0.0, 1.0],
    "paint ceiling": [0.1, 1.0, 0.001],
}


def test_a_gibberish_query_is_implausible_and_seeds_always_pass() -> None:
    embed = fake_embed(SPACE)
    seed_vectors = embed(["cordless drill", "drill driver", "ceiling paint", "white paint"])
    profile = Profile.from_statistics({"seed_distance": seed_distances(seed_vectors)})
    pairs = candidates(
        query=["cordless drill", "drill cordless", "xq zzv blorf"], strategy=["seed", "reorder", "refine"]
    )
    verdict = Plausibility(seed_vectors, embed, quantile=0.99)(pairs, np.ones(3, bool), profile)
    assert verdict.tolist() == ["", "", "implausible query"]


def test_gibberish_is_far_in_a_real_students_embedding_space(minilm_path: Path) -> None:
    from sentence_transformers import CrossEncoder

    embed = StudentQueryEmbedder(CrossEncoder(str(minilm_path), device="cpu"))
    seed_vectors = embed(
        ["cordless drill", "drill bits", "ceiling paint", "white paint", "angle bracket", "brace"]
    )
    profile = Profile.from_statistics({"seed_distance": seed_distances(seed_vectors)})
    pairs = candidates(query=["power drill", "qxz vvbl zzkq"], strategy=["synonym", "refine"])
    verdict = Plausibility(seed_vectors, embed, quantile=0.95)(pairs, np.ones(2, bool), profile)
    assert verdict.tolist() == ["", "implausible query"]


def test_a_near_duplicate_query_is_rejected_but_not_its_other_products() -> None:
    pairs = candidates(
        query=["paint ceiling", "ceiling paint", "ceiling paint", "cordless drill"],
        strategy=["reorder", "seed", "seed", "seed"],
    )
    verdict = NearDuplicates(fake_embed(SPACE), threshold=0.98)(pairs, np.ones(4, bool), Profile({}))
    assert verdict.tolist() == ["duplicate query", "", "", ""]  # the seed wins its group


def test_a_generated_query_next_to_a_trained_one_is_a_duplicate_but_a_seed_is_not() -> None:
    pairs = candidates(
        query=["drill cordless", "cordless drill", "paint ceiling", "white paint", "xq zzv blorf"],
        strategy=["reorder", "seed", "seed", "typo", "typo"],
    )
    trained = ["cordless drill", "ceiling paint"]
    verdict = NearDuplicates(fake_embed(SPACE), 0.98, trained)(pairs, np.ones(5, bool), Profile({}))
    # The trained text itself comes back with other products, and a real pool query near a
    # trained one is still a query of its own; generated ones near a trained query are not.
    duplicate = "duplicate of a trained query"
    assert verdict.tolist() == [duplicate, "", "", duplicate, ""]


def test_a_refinement_worse_than_its_original_is_dropped_and_a_better_one_replaces_it() -> None:
    pairs = candidates(
        query=["angle bracket", "angle brace", "angle bracket", "corner brace"],
        origin_query=["", "angle bracket", "", "angle bracket"],
        doc_id=["p1", "p1", "p2", "p2"],
        ifd=[0.8, 0.5, 0.6, 0.9],
    )
    verdict = RefinementAcceptance()(pairs, np.ones(4, bool), Profile({}))
    assert verdict.tolist() == ["", "refinement not more informative", "replaced by refinement", ""]


def test_quota_keeps_the_most_informative() -> None:
    pairs = candidates(ifd=[0.2, 0.9, 0.5, 0.7])
    alive = np.array([True, True, True, False])
    assert Quota(2, QuotaRule("top-ifd"))(pairs, alive, Profile({})).tolist() == ["over quota", "", "", ""]


def test_the_band_moves_when_the_student_improves() -> None:
    rng = np.random.default_rng(1)
    pairs = [(f"q{i}", f"d{i}") for i in range(400)]
    targets = rng.uniform(0, 1, 400)
    blanks = {("", d): 0.0 for _, d in pairs}
    weak = DesignedStudent({pair: rng.normal(0, 0.3) for pair in pairs} | blanks)
    # The improved student's logits track the teacher's labels.
    clipped = np.clip(targets, 0.02, 0.98)
    logits = np.log(clipped / (1 - clipped)) + rng.normal(0, 0.3, 400)
    strong = DesignedStudent({pair: logits[i] for i, pair in enumerate(pairs)} | blanks)
    queries, documents = [q for q, _ in pairs], [d for _, d in pairs]
    before = Profile.from_statistics(StudentLikelihood(weak).statistics(queries, documents, targets))
    after = Profile.from_statistics(StudentLikelihood(strong).statistics(queries, documents, targets))
    assert after.quantile("nll", 0.9) < before.quantile("nll", 0.9)
    assert after.quantile("nll", 0.1) < before.quantile("nll", 0.1)
    probe = candidates(nll=[before.quantile("nll", 0.05)])
    band = FrontierBand(0.1, 0.9)
    assert band(probe, EVERYONE, before).tolist() == ["known"]
    assert band(probe, EVERYONE, after).tolist() == [""]


def test_pipeline_gives_each_rejection_its_first_reason() -> None:
    profile = reference_profile(np.random.default_rng(0))
    pairs = candidates(nll=[0.1, 1.0, 1.1, 1.2, 9.0], ifd=[0.5, 3.0, 0.9, 0.7, 5.0])
    decision = FilterPipeline([FrontierBand(), IfdCeiling(), Quota(1, QuotaRule("top-ifd"))])(pairs, profile)
    assert decision.reasons.tolist() == ["known", "contradictory", "", "over quota", "beyond frontier"]
    expected = {"accepted": 1, "known": 1, "contradictory": 1, "over quota": 1, "beyond frontier": 1}
    assert decision.counts() == expected
    assert "contradictory" in counts_table(decision, profile)


def test_candidate_columns_must_line_up() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        candidates(query=["a", "b"], nll=[1.0])


def test_filter_command_writes_accepted_rejected_and_profile(
    start_teacher, cross_encoder_backend, tiny_cross_encoder: Path, tmp_path: Path
) -> None:
    import json
    import subprocess
    import sys

    import pyarrow as pa
    import pyarrow.parquet as pq

    from protege.client.data import Columns
    from protege.client.labelling.jobs import LabelJob, read_labels

    seeds = [f"{thing} {n}" for thing in ("drill", "paint", "bracket", "bulb") for n in range(10)]
    rows = [
        {"query": q, "document": f"{q.split()[0]} product kit", "strategy": "seed", "origin_query": ""}
        for q in seeds
    ]
    rows += [
        {
            "query": f"{q} kit",
            "document": f"{q.split()[0]} product kit",
            "strategy": "drop",
            "origin_query": q,
        }
        for q in seeds[:20]
    ]
    data = tmp_path / "pairs.parquet"
    pq.write_table(pa.Table.from_pylist(rows), data)
    _, client = start_teacher(cross_encoder_backend)
    LabelJob(data, Columns(), tmp_path / "labels", progress=False).run(client)
    out = tmp_path / "selected"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "protege",
            "filter",
            "--student",
            str(tiny_cross_encoder),
            "--labels",
            str(tmp_path / "labels"),
            "--out",
            str(out),
            "--quota",
            "30",
            # A tiny random student embeds every query alike: leave the query filters to their own tests.
            "--off",
            "dedup,plausibility",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    accepted, rejected = pq.read_table(out / "accepted.parquet"), pq.read_table(out / "rejected.parquet")
    assert accepted.num_rows + rejected.num_rows == read_labels(tmp_path / "labels").num_rows == 60
    assert 0 < accepted.num_rows <= 30 and all(rejected["reason"].to_pylist())
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"]["accepted"] == accepted.num_rows and summary["student_forward_pairs"] >= 60
    assert Profile.load(out / "profile.json").counts["nll"] == 40  # profiled on the seed pairs
    assert summary["settings"]["dedup_threshold"] is None
    assert "accepted" in run.stdout and "over quota" in run.stdout

    # A student trained by protege carries its training-set profile: the thresholds come from it.
    import shutil

    student = tmp_path / "student"
    shutil.copytree(tiny_cross_encoder, student)
    Profile.from_statistics({name: np.linspace(0.0, 1.0, 123) for name in ("nll", "nll_blank", "ifd")}).save(
        student / "profile.json"
    )
    again = subprocess.run(
        [
            sys.executable,
            "-m",
            "protege",
            "filter",
            "--student",
            str(student),
            "--labels",
            str(tmp_path / "labels"),
            "--out",
            str(tmp_path / "again"),
            "--off",
            "dedup,plausibility",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 0, again.stderr
    summary = json.loads((tmp_path / "again" / "summary.json").read_text())
    assert summary["reference_profile"] == str(student / "profile.json")
    assert Profile.load(tmp_path / "again" / "profile.json").counts["nll"] == 123


def test_select_compares_queries_with_the_given_embedder() -> None:
    from protege.filters.select import select
    from protege.filters.settings import FilterSettings

    queries = [
        "cordless drill",
        "drill driver",
        "ceiling paint",
        "white paint",
        "xq zzv blorf",
        "drill cordless",
    ]
    documents = ["kit"] * len(queries)
    student = DesignedStudent({(q, "kit"): 0.5 for q in queries} | {("", "kit"): 0.0})
    selection = select(
        student,
        queries,
        documents,
        [0.7] * len(queries),
        strategy=["seed"] * 4 + ["refine", "reorder"],
        embed_queries=fake_embed(SPACE),
        settings=FilterSettings(band_low=None, band_high=None, ifd_margin=None, dedup_threshold=None),
    )
    assert selection.decision.reasons.tolist() == ["", "", "", "", "implausible query", ""]
    assert selection.profile.counts["nll"] == 4  # profiled on the seeds


def test_screening_rejects_on_the_query_alone_before_any_label_exists() -> None:
    from protege.filters.select import screen_queries
    from protege.filters.settings import FilterSettings

    queries = ["cordless drill", "ceiling paint", "xq zzv blorf", "drill cordless", "paint ceiling"]
    strategy = ["seed", "seed", "typo", "reorder", "reorder"]
    decision = screen_queries(queries, fake_embed(SPACE), strategy=strategy)
    # The reordered queries sit at cosine > 0.98 of their seeds: each seed keeps its group.
    assert decision.reasons.tolist() == ["", "", "implausible query", "duplicate query", "duplicate query"]
    off = FilterSettings(plausibility_quantile=None, dedup_threshold=None)
    assert screen_queries(queries, fake_embed(SPACE), strategy=strategy, settings=off).accepted.all()


def test_the_default_band_cuts_only_far_beyond_the_training_profile_whatever_the_noise_rate() -> None:
    """Against the training set's profile, the share of corrupted candidates does not move the
    cut (a quantile of the candidates' own profile would follow it)."""
    rng = np.random.default_rng(0)
    training = Profile.from_statistics({"nll": rng.gamma(2.0, 0.15, 5000)})
    band = FrontierBand(0.0, 0.99)
    for corrupted_share in (0.1, 0.4):
        clean = rng.gamma(2.0, 0.15, 1000)
        corrupted = rng.uniform(3.0, 6.0, int(corrupted_share * 1000))
        nll = np.concatenate([clean, corrupted])
        verdict = band(candidates(nll=nll), np.ones(len(nll), bool), training)
        assert set(verdict[len(clean) :]) == {"beyond frontier"}
        assert (verdict[: len(clean)] == "").mean() > 0.97
        assert "known" not in set(verdict)  # a low bound of 0 cuts nothing


def test_filter_settings_keeping_one_filter_turns_the_others_off() -> None:
    from protege.filters.settings import FilterSettings

    defaults = FilterSettings(band_low=0.05, ifd_margin=0.1)
    assert defaults.keeping({"band"}) == FilterSettings(
        band_low=0.05,
        band_high=0.99,
        ifd_margin=None,
        plausibility_quantile=None,
        dedup_threshold=None,
        refinement=False,
    )
    assert defaults.keeping({"dedup", "refinement"}) == FilterSettings(
        band_low=None, band_high=None, ifd_margin=None, plausibility_quantile=None
    )
    assert defaults.keeping({"band", "ifd", "plausibility", "dedup", "refinement"}) == defaults
    with pytest.raises(ValueError, match="unknown filter nll: choose from band, ifd"):
        defaults.keeping({"nll"})  # the band's old name
    assert defaults.without({"band", "refinement"}) == FilterSettings(
        band_low=None, band_high=None, ifd_margin=0.1, refinement=False
    )
    with pytest.raises(ValueError, match="ifd is off in these settings"):
        FilterSettings().keeping({"band", "ifd"})  # the IFD ceiling is off by default
