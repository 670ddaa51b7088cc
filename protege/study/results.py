"""What a study reports: the table of models beside the baselines, the learning curves, the paired
differences, the goals of issue 30 as true or false, and the plot.
"""

from __future__ import annotations

from pathlib import Path

from protege.client.evaluation.baselines import BASELINES
from protege.client.evaluation.scoreboard import Board
from protege.client.report import LEARNING_CURVE

TABLE = (*BASELINES, "teacher", "teacher_noisy", "student_unfiltered", "student_filtered", "student_gold")
PAIRS = (
    ("teacher", "zero_shot"),
    ("student_filtered", "zero_shot"),
    ("student_filtered", "teacher"),
    ("student_filtered", "student_gold"),
    ("student_filtered", "student_unfiltered"),
)
TEACHER_RMSE_GOAL = 0.465
STUDENT_RMSE_SLACK = 0.005  # the student's RMSE may exceed the teacher's by this much
STUDENT_COST_SHARE = 1 / 3  # of the teacher's per-pair cost
PLATEAU_SHARE = 0.01  # "reaches the plateau": within 1% of its RMSE
DOING_NOTHING = (
    "!!! The teacher or the student does NOT beat the zero-shot bi-encoder (RMSE and NDCG@10): on this data "
    "the free embedding of the weights they start from is as good or better. !!!"
)
LINES = (("teacher", "--"), ("zero_shot", ":"), ("student_gold", "-."), ("mean_grade", "-"))
LABELS = {"rmse": "RMSE", "ndcg@10": "NDCG@10"}


def curve(board: Board, points: list[dict]) -> list[dict]:
    """The learning-curve points (``arm``, ``selection``, ``labels``, ``model``) with their test
    figures: mean over seeds and spread."""
    measured = []
    for point in points:
        figures = board.figures(point["model"])
        measured.append(
            {
                **point,
                "rmse": round(figures["rmse"], 4),
                "rmse_spread": round(figures["spread"]["rmse"], 4),
                "ndcg@10": round(figures["ndcg@10"], 4),
                "ndcg@10_spread": round(figures["spread"]["ndcg@10"], 4),
            }
        )
    return sorted(measured, key=lambda point: (point["arm"], point["selection"], point["labels"]))


def labels_to_plateau(points: list[dict], arm: str, plateau: float) -> dict[str, int | None]:
    """Per selection, the fewest teacher labels whose student's test RMSE is within
    ``PLATEAU_SHARE`` of the unfiltered plateau's (None: no budget measured reaches it)."""
    reached: dict[str, int | None] = {}
    for point in points:
        if point["arm"] == arm:
            reached.setdefault(point["selection"], None)
            if point["rmse"] <= plateau * (1 + PLATEAU_SHARE) and reached[point["selection"]] is None:
                reached[point["selection"]] = point["labels"]
    return reached


def goals(board: Board, points: list[dict], speed: dict, paired: dict) -> dict[str, bool]:
    """Issue 30's goals, each true or false on these figures (see the README's study section)."""
    figure = {name: board.figures(name) for name in ("zero_shot", "teacher", "student_filtered")}
    zero = figure["zero_shot"]

    def beats_zero_shot(name: str) -> bool:
        return figure[name]["rmse"] < zero["rmse"] and figure[name]["ndcg@10"] > zero["ndcg@10"]

    def below_zero(pair: str) -> bool:
        return paired[pair]["rmse"]["interval95"][1] < 0

    def by_budget(arm: str, selection: str) -> list[dict]:
        return [p for p in points if p["arm"] == arm and p["selection"] == selection and not p.get("plateau")]

    plateau_gap = paired["student_filtered - student_unfiltered"]["rmse"]
    result = {
        "beats_zero_shot": beats_zero_shot("teacher") and beats_zero_shot("student_filtered"),
        "teacher_worth_having": figure["teacher"]["rmse"] <= TEACHER_RMSE_GOAL
        and below_zero("teacher - zero_shot"),
        "student_cheap_and_close": speed["student_cost_share"] <= STUDENT_COST_SHARE
        and figure["student_filtered"]["rmse"] <= figure["teacher"]["rmse"] + STUDENT_RMSE_SLACK
        and below_zero("student_filtered - student_gold"),
        "student_beats_teacher": below_zero("student_filtered - teacher"),
        # Within the plateau's interval: the difference from it is not surely above 0.
        "filtered_reaches_plateau_on_half": plateau_gap["interval95"][0] <= 0,
    }
    clean_random, clean_filtered = by_budget("clean", "random"), by_budget("clean", "filtered")
    smallest = zip(clean_random[:2], clean_filtered[:2], strict=True)
    result["filtered_beats_random_small_budgets"] = all(f["rmse"] < r["rmse"] for r, f in smallest)
    noisy = list(zip(by_budget("noisy", "random"), by_budget("noisy", "filtered"), strict=True))
    result["noisy_filtered_beats_unfiltered"] = bool(noisy) and all(f["rmse"] < r["rmse"] for r, f in noisy)
    return result


def table(results: dict) -> str:
    """The study's table: each model's test figures beside the baselines, the paired differences,
    the learning curves and the goals."""
    lines = [
        f"{'model':<20} {'RMSE':>15} {'Spearman':>8} {'NDCG@10':>8} {'MRR':>6} {'labels':>7} {'pairs/s':>8}"
    ]
    for name, values in results["models"].items():
        rmse = f"{values['rmse']:.4f}" + (f" ± {values['spread']['rmse']:.4f}" if values["runs"] > 1 else "")
        ranked = "".join(
            f" {'–':>{width}}" if values[key] is None else f" {values[key]:{width}.{digits}f}"
            for key, width, digits in (("spearman", 8, 3), ("ndcg@10", 8, 4), ("mrr", 6, 3))
        )
        labels, speed = values.get("teacher_labels"), values.get("pairs_per_second")
        labels = "–" if labels is None else labels
        speed = "–" if speed is None else round(speed)
        lines.append(f"{name:<20} {rmse:>15}{ranked} {labels:>7} {speed:>8}")
    lines.append("\npaired on the test pairs (RMSE) and queries (NDCG@10), 95% bootstrap interval")
    for name, value in results["paired"].items():
        parts = [
            f"{key} {v['difference']:+.4f} [{v['interval95'][0]:+.4f}, {v['interval95'][1]:+.4f}]"
            for key, v in value.items()
        ]
        lines.append(f"{name:<40} " + "   ".join(parts))
    lines.append("\nlearning curves: test RMSE (± spread over seeds) by teacher labels")
    for point in results["curve"]:
        lines.append(
            f"{point['arm']:<6} {point['selection']:<9} {point['labels']:>7}  "
            f"RMSE {point['rmse']:.4f} ± {point['rmse_spread']:.4f}  NDCG@10 {point['ndcg@10']:.4f}"
        )
    held = (f"{name} {'yes' if value else 'NO'}" for name, value in results["goals"].items())
    lines.append("\ngoals: " + ", ".join(held))
    if not results["goals"]["beats_zero_shot"]:
        lines.append(f"\n{DOING_NOTHING}")
    return "\n".join(lines)


def plot(results: dict, out: Path) -> Path:
    """``learning_curve.png``: test RMSE and NDCG@10 by teacher labels, random against distill's
    selection, for the clean and the noisy teacher, with the teacher and baselines as lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    arms = sorted({point["arm"] for point in results["curve"]})
    figure, axes = plt.subplots(2, len(arms), figsize=(5.5 * len(arms), 7), squeeze=False)
    for column, arm in enumerate(arms):
        # Ticks at the budgets (random selection spends each exactly; distill a little under):
        # log-scale minor labels overlap across one decade.
        budgets = sorted(
            p["labels"] for p in results["curve"] if p["arm"] == arm and p["selection"] == "random"
        )
        for row, key in enumerate(("rmse", "ndcg@10")):
            axis = axes[row][column]
            for selection, style in (("random", "s-"), ("filtered", "o-")):
                points = [p for p in results["curve"] if p["arm"] == arm and p["selection"] == selection]
                labels, values = [p["labels"] for p in points], [p[key] for p in points]
                spread = [p[f"{key}_spread"] for p in points]
                axis.errorbar(
                    labels, values, yerr=spread, fmt=style, capsize=3, label=f"student, {selection}"
                )
            lines = (*LINES, ("teacher_noisy", (0, (5, 5)))) if arm == "noisy" else LINES
            for name, style in lines:
                value = results["models"][name][key]
                if value is not None:
                    axis.axhline(value, color="grey", linestyle=style, linewidth=1, label=name)
            axis.set_xscale("log")
            axis.set_xticks(budgets, [f"{budget:,}" for budget in budgets], fontsize=7)
            axis.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
            axis.set(xlabel="teacher labels", ylabel=f"test {LABELS[key]}", title=f"{arm} teacher")
            axis.legend(fontsize=7)
    figure.tight_layout()
    path = out / LEARNING_CURVE
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
