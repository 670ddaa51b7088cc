"""Finding products for queries and measuring what queries cover: the embedder, the FAISS product
catalog, the candidate pairs sent to a teacher, and coverage of the real query distribution.

Example::

    from functools import partial

    from protege.client.retrieval import CoverageIndex, embed, load_embedder

    index = CoverageIndex(partial(embed, load_embedder()))
    index.add(training_queries)
    index.coverage(test_queries, tau=0.8)  # share of test queries with a close training query
"""

from typing import TYPE_CHECKING

from protege.common.lazy import lazy_exports

HOMES = {
    "AugmentConfig": ".candidates",
    "Catalog": ".catalog",
    "CoverageFold": ".coverage_fold",
    "CoverageIndex": ".coverage",
    "MemoEmbedder": ".embedder",
    "augmented_pairs": ".candidates",
    "embed": ".embedder",
    "load_embedder": ".embedder",
}
__all__ = [
    "AugmentConfig",
    "Catalog",
    "CoverageFold",
    "CoverageIndex",
    "MemoEmbedder",
    "augmented_pairs",
    "embed",
    "load_embedder",
]
__getattr__ = lazy_exports(__name__, HOMES)

if TYPE_CHECKING:  # what static tools read; HOMES is what runs (tests/test_layout.py checks both)
    from .candidates import AugmentConfig, augmented_pairs
    from .catalog import Catalog
    from .coverage import CoverageIndex
    from .coverage_fold import CoverageFold
    from .embedder import MemoEmbedder, embed, load_embedder
