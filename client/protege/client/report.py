"""The distillation report: ``report.json`` plus ``report.html`` with PNG plots beside it."""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np

REPORT = "report.json"  # a run's report, beside report.html
LEARNING_CURVE = "learning_curve.png"  # a run's curve: test figures by teacher labels


def plot(
    report: dict, out: Path, teacher_metrics: dict | None = None, scores: dict | None = None
) -> list[str]:
    """Writes the PNG plots the report has data for; returns their file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rounds = report["rounds"]
    numbers = [entry["round"] for entry in rounds]
    made = []

    def save(figure, name: str) -> None:
        figure.tight_layout()
        figure.savefig(out / name, dpi=110)
        plt.close(figure)
        made.append(name)

    if all("metrics" in entry for entry in rounds):
        figure, axis = plt.subplots(figsize=(5, 3.2))
        axis.plot(numbers, [entry["metrics"]["ndcg@10"] for entry in rounds], "o-", label="student")
        if teacher_metrics:
            axis.axhline(teacher_metrics["ndcg@10"], color="grey", linestyle="--", label="teacher")
        axis.set(xlabel="round", ylabel="NDCG@10", title="Student per round")
        axis.set_xticks(numbers)
        axis.legend()
        save(figure, LEARNING_CURVE)
    key = next((name for name in rounds[0] if name.startswith("coverage@")), None)
    if key:
        figure, axis = plt.subplots(figsize=(5, 3.2))
        axis.plot(numbers, [entry[key] for entry in rounds], "o-")
        axis.set(xlabel="round", ylabel=key, ylim=(0, 1.02), title="Target queries covered")
        axis.set_xticks(numbers)
        save(figure, "coverage.png")
    reasons = sorted({reason for entry in rounds for reason in entry["decision"]} - {"accepted"})
    figure, axis = plt.subplots(figsize=(6, 3.4))
    bottom = np.zeros(len(rounds))
    for reason in ["accepted", *reasons]:
        counts = np.array([entry["decision"].get(reason, 0) for entry in rounds], dtype=float)
        axis.bar(numbers, counts, bottom=bottom, label=reason)
        bottom += counts
    axis.set(xlabel="round", ylabel="candidate pairs", title="Filter decisions")
    axis.set_xticks(numbers)
    axis.legend(fontsize=7)
    save(figure, "filter_decisions.png")
    if scores:
        figure, axis = plt.subplots(figsize=(4, 4))
        axis.scatter(scores["teacher"], scores["student"], s=4, alpha=0.4)
        axis.set(xlabel="teacher score", ylabel="student score", title="Teacher vs student (eval pairs)")
        save(figure, "teacher_vs_student.png")
    return made


def write_report(
    report: dict, out: str | Path, teacher_metrics: dict | None = None, scores: dict | None = None
) -> Path:
    """Writes ``report.json``, the plots and ``report.html`` into ``out``; returns the HTML path.

    Example::

        write_report(report, "run/", teacher_metrics={"ndcg@10": 0.71, "mrr": 0.8, "spearman": 0.5})
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / REPORT).write_text(json.dumps(report, indent=2, default=str))
    images = plot(report, out, teacher_metrics, scores)
    rows = []
    for entry in report["rounds"]:
        metrics = entry.get("metrics", {})
        cells = [
            entry["round"],
            entry.get("screened", 0),
            entry["labelled"],
            entry["decision"].get("accepted", 0),
            ", ".join(f"{k}: {v}" for k, v in entry["decision"].items() if k != "accepted") or "–",
            entry["train_pairs"],
            *(f"{v:.3f}" for k, v in entry.items() if k.startswith("coverage@")),
            f"{metrics['ndcg@10']:.4f}" if metrics else "–",
        ]
        rows.append("<tr>" + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in cells) + "</tr>")
    clusters = "".join(
        f"<li>{cluster['size']} queries, {cluster['covered']:.0%} covered: "
        f"{html.escape(', '.join(cluster['examples']))}</li>"
        for cluster in report.get("uncovered_clusters", [])
    )
    teacher = (
        f"<p>Teacher on the same pairs: NDCG@10 {teacher_metrics['ndcg@10']:.4f}, "
        f"MRR {teacher_metrics['mrr']:.4f}, Spearman {teacher_metrics['spearman']:.4f}.</p>"
        if teacher_metrics
        else ""
    )
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>protege distillation report</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}
td,th{{padding:.2em .6em;text-align:right}} img{{max-width:32em;margin:.5em}}</style></head><body>
<h1>protege distillation report</h1>
<p>Teacher version <code>{html.escape(str(report.get("teacher_version", "")))}</code>;
{report.get("teacher_labels", 0)} teacher labels; {report.get("train_pairs", 0)} training pairs;
{report.get("seconds", 0)} s.</p>{teacher}
<table><tr><th>round</th><th>screened before labelling</th><th>labelled</th>
<th>accepted</th><th>rejected (reason: count)</th><th>train pairs</th><th>coverage</th><th>NDCG@10</th></tr>
{"".join(rows)}</table>
{"".join(f'<img src="{name}" alt="{name}">' for name in images)}
<h2>Largest uncovered target clusters</h2><ul>{clusters}</ul>
</body></html>
"""
    path = out / "report.html"
    path.write_text(page)
    return path
