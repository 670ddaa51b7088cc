"""What the volume arm reports: the volume curve beside the baselines and the teacher, the
quarter comparison, the paired differences, issue 42's goals as true or false, and the plot."""

from __future__ import annotations

import json
from pathlib import Path

from protege.client.evaluation.baselines import BASELINES
from protege.client.evaluation.scoreboard import Board

from .results import STUDENT_COST_SHARE, STUDENT_RMSE_SLACK

CLEAR_MARGIN = 0.01  # "beats zero-shot clearly": its RMSE interval below −0.01
QUARTERS = ("quarter_selected", "quarter_random")


def report(board: Board, volumes: list[int], folder: Path, speed: dict, quarter: dict) -> dict:
    """The figures of every model and volume, the paired differences and the goals."""
    smallest, largest = (f"volume@{volumes[0]}", f"volume@{volumes[-1]}")
    names = [*BASELINES, "teacher", "student_gold", *(f"volume@{v}" for v in volumes), *QUARTERS]
    figures = {name: board.figures(name) for name in names if name in board.runs}
    pairs = [
        ("teacher", "zero_shot"),
        (largest, smallest),
        (largest, "teacher"),
        (largest, "zero_shot"),
        (largest, "student_gold"),
        (smallest, "zero_shot"),
        ("quarter_selected", largest),
        ("quarter_selected", "quarter_random"),
        ("quarter_random", largest),
    ]
    paired = {f"{a} - {b}": board.paired(a, b) for a, b in pairs if a in board.runs and b in board.runs}
    curve = [_point(board, volume, folder) for volume in volumes]
    return {
        "models": figures,
        "curve": curve,
        "paired": paired,
        "quarter": quarter,
        "speed": speed,
        "headline": largest,
        "goals": goals(figures, curve, paired, speed, smallest, largest),
    }


def _point(board: Board, volume: int, folder: Path) -> dict:
    name = f"volume@{volume}"
    figures = board.figures(name)
    records = sorted(folder.glob(f"seed-*/volume-{volume}/coverage.json"))
    return {
        "volume": volume,
        "model": name,
        "runs": figures["runs"],
        "rmse": round(figures["rmse"], 4),
        "rmse_spread": round(figures["spread"]["rmse"], 4),
        "spearman": round(figures["spearman"], 4),
        "ndcg@10": round(figures["ndcg@10"], 4),
        "coverage": json.loads(records[0].read_text())["coverage"] if records else None,
    }


def goals(figures: dict, curve: list[dict], paired: dict, speed: dict, smallest: str, largest: str) -> dict:
    """Issue 42's goals, each true or false."""

    def high(pair: str) -> float:
        return paired[pair]["rmse"]["interval95"][1] if pair in paired else float("inf")

    teacher = figures["teacher"]["rmse"]
    cheap = speed["student_cost_share"] <= STUDENT_COST_SHARE
    zero_shot_ndcg = paired.get(f"{largest} - zero_shot", {}).get("ndcg@10", {}).get("difference", -1.0)
    result = {
        "volume_keeps_paying": high(f"{largest} - {smallest}") < 0,
        "student_close_at_volume": cheap and min(p["rmse"] for p in curve) <= teacher + STUDENT_RMSE_SLACK,
        "student_beats_teacher": high(f"{largest} - teacher") < 0,
        "student_beats_zero_shot_clearly": high(f"{largest} - zero_shot") < -CLEAR_MARGIN
        and zero_shot_ndcg >= 0,
    }
    if "quarter_selected - quarter_random" in paired:
        result["quarter_matches_all"] = paired[f"quarter_selected - {largest}"]["rmse"]["interval95"][0] <= 0
        result["quarter_beats_random"] = high("quarter_selected - quarter_random") < 0
    return result


def table(results: dict) -> str:
    """The volume study's table: models beside the baselines, the curve, the paired differences, the goals."""
    lines = [f"{'model':<20} {'RMSE':>15} {'Spearman':>8} {'NDCG@10':>8} {'runs':>5}"]
    for name, values in results["models"].items():
        rmse = f"{values['rmse']:.4f}" + (f" ± {values['spread']['rmse']:.4f}" if values["runs"] > 1 else "")
        rank = "".join(
            f" {'–' if values[key] is None else format(values[key], digits):>8}"
            for key, digits in (("spearman", ".3f"), ("ndcg@10", ".4f"))
        )
        lines.append(f"{name:<20} {rmse:>15}{rank} {values['runs']:>5}")
    lines.append("\nvolume curve (teacher labels → test figures, coverage@0.8 of the test queries)")
    for point in results["curve"]:
        lines.append(
            f"{point['volume']:>8}  RMSE {point['rmse']:.4f} ± {point['rmse_spread']:.4f}  NDCG@10 "
            f"{point['ndcg@10']:.4f}  coverage {point['coverage']}  ({point['runs']} seeds)"
        )
    lines.append("\npaired on the test pairs (RMSE), 95% bootstrap interval over test queries")
    for pair, values in results["paired"].items():
        low, high = values["rmse"]["interval95"]
        lines.append(f"{pair:<40} rmse {values['rmse']['difference']:+.4f} [{low:+.4f}, {high:+.4f}]")
    lines.append("\ngoals: " + ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in results["goals"].items()))
    return "\n".join(lines)


def plot(results: dict, out: Path) -> Path:
    """Test RMSE against teacher labels (log x), the teacher's, zero-shot's and gold student's lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6.4, 4.2))
    curve = results["curve"]
    labels = [point["volume"] for point in curve]
    axis.errorbar(
        labels,
        [p["rmse"] for p in curve],
        yerr=[p["rmse_spread"] for p in curve],
        marker="o",
        label="student",
    )
    # The mean grade (0.53 on Home Depot) is in the table: its line would flatten the curve.
    for name, style in (("teacher", "--"), ("zero_shot", ":"), ("student_gold", "-.")):
        if name in results["models"]:
            axis.axhline(results["models"][name]["rmse"], linestyle=style, color="grey", label=name)
    for name, marker in (("quarter_selected", "s"), ("quarter_random", "^")):
        if name in results["models"]:
            axis.plot(
                [results["quarter"]["kept"]],
                [results["models"][name]["rmse"]],
                marker,
                label=name,
                linestyle="",
            )
    axis.set_xscale("log")
    axis.set_xticks(labels, [f"{v:,}" for v in labels])
    axis.minorticks_off()
    axis.set_xlabel("teacher labels the student trained on")
    axis.set_ylabel("test RMSE (lower is better)")
    axis.legend(fontsize=8)
    figure.tight_layout()
    path = out / "volume_curve.png"
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
