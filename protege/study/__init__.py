"""The study: does distillation beat doing nothing, and then the teacher? One labelled relevance file
in, the yardstick's table of a teacher, its students and the baselines out, with learning curves
for random and ``distill``'s selection of teacher labels under a clean and a noisy teacher.

Example::

    from protege.study.results import table
    from protege.study.run import run_study

    results = run_study(Path("train.csv"), columns, Path("runs/study"), seeds=(0, 1, 2))
    print(table(results))
"""

# Nothing is imported here: each module is imported by its own path.
__all__ = [
    "demo",
    "results",
    "run",
    "settings",
    "split",
    "students",
    "teachers",
    "volume",
    "volume_results",
]
