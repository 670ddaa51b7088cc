"""The demo: the volume study at demo size on a generated catalog, in a few minutes on a laptop CPU.

Writes a synthetic relevance file (``protege.client.data.synthetic``), then runs the study on it: fits
a teacher on gold grades, serves it over real gRPC on localhost, has it label an augmented pair set
(pool queries, their rewrites, queries from product titles, each with its nearest products), trains
students on growing shares of the labels, and lets the filters pick a quarter. Running it again
reuses every finished stage.

Example::

    results = run_demo(Path("demo-run"))
    print(volume_results.table(results))
"""

from __future__ import annotations

from pathlib import Path

from protege.client.data import Columns
from protege.client.data.synthetic import write_catalog

from .run import run_study
from .settings import DEMO, DEMO_QUERIES, Models

CATALOG_COLUMNS = Columns(
    query="search_term", docs=("product_title",), doc_id="product_uid", label="relevance"
)


def run_demo(
    out: Path,
    queries: int = DEMO_QUERIES,
    teacher_base: str | None = None,
    student_base: str | None = None,
) -> dict:
    """The volume study on a catalog of ``queries`` queries and twice as many products, in ``out``."""
    data = out / "catalog.csv"
    if not data.exists():
        write_catalog(data, queries=queries, products=2 * queries)
    models = Models(teacher_base=teacher_base, student_base=student_base)
    return run_study(data, CATALOG_COLUMNS, out, sizes=DEMO, models=models)
