"""The product catalog as a FAISS index of document embeddings, for candidate retrieval."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from protege.client.augment import Generated
from protege.client.retrieval.embedder import embed

PAIR_SET_COLUMNS = (
    "pair_id", "query", "document", "doc_id", "origin_query", "origin_doc_id", "strategy", "retrieval",
)  # fmt: skip
# Exact search up to this many products; an HNSW graph beyond (recall measured in bench/).
FLAT_LIMIT = 200_000
CATALOG_RECORD = "catalog.json"  # a saved catalog's record, written last


def new_index(dim: int, size: int) -> faiss.Index:
    if size <= FLAT_LIMIT:
        return faiss.IndexFlatIP(dim)
    index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efSearch = 128
    return index


@dataclass
class Catalog:
    """Products and a FAISS inner-product index over their unit embeddings, for retrieval.

    Args:
        doc_ids: each product's id.
        texts: each product's text, in the order of ``doc_ids``.
        index: the FAISS index of the texts' embeddings (``Catalog.build`` makes it).
        embedder_name: the model that embedded them, recorded with the index.

    Example::

        embedder = load_embedder()
        catalog = Catalog.build(["p1", "p2"], ["DEWALT Cordless Drill", "BEHR Ceiling Paint"], embedder)
        catalog.save("catalog/")
        catalog.search(embed(embedder, ["cordless drill"]), k=1)  # (scores, rows)
    """

    doc_ids: list[str]
    texts: list[str]
    index: faiss.Index
    embedder_name: str

    @classmethod
    def build(
        cls, doc_ids: list[str], texts: list[str], embedder, embedder_name: str = "", progress: bool = False
    ) -> Catalog:
        if not texts:
            raise ValueError("the catalog has no products")
        vectors = embed(embedder, texts, progress=progress)
        index = new_index(vectors.shape[1], len(texts))
        index.add(vectors)
        return cls(list(doc_ids), list(texts), index, embedder_name)

    def __len__(self) -> int:
        return len(self.doc_ids)

    def search(self, query_vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(cosine scores, catalog rows) of the ``k`` nearest products per query."""
        return self.index.search(np.ascontiguousarray(query_vectors, dtype=np.float32), min(k, len(self)))

    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        faiss.write_index(self.index, str(folder / "index.faiss"))
        pq.write_table(pa.table({"doc_id": self.doc_ids, "text": self.texts}), folder / "docs.parquet")
        meta = {"embedder": self.embedder_name, "products": len(self), "dim": self.index.d}
        (folder / CATALOG_RECORD).write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(cls, folder: str | Path) -> Catalog:
        folder = Path(folder)
        for name in ("index.faiss", "docs.parquet", CATALOG_RECORD):
            if not (folder / name).exists():
                raise FileNotFoundError(f"{folder} is not a saved catalog: {name} is missing")
        docs = pq.read_table(folder / "docs.parquet")
        meta = json.loads((folder / CATALOG_RECORD).read_text())
        index = faiss.read_index(str(folder / "index.faiss"))
        if index.ntotal != docs.num_rows:
            raise ValueError(f"{folder}: the index holds {index.ntotal} vectors for {docs.num_rows} products")
        return cls(docs["doc_id"].to_pylist(), docs["text"].to_pylist(), index, meta.get("embedder", ""))

    def candidates(
        self, query_vectors: np.ndarray, top_k: int, negatives: int, rng: np.random.Generator
    ) -> list[list[tuple[int, str]]]:
        """Per query: its ``top_k`` nearest products (``"top-k"``) and ``negatives`` random
        other products (``"negative"``), as (catalog row, how it was picked)."""
        _, rows = self.search(query_vectors, top_k)
        picked = []
        for near in rows:
            chosen = [(int(row), "top-k") for row in near if row >= 0]
            taken = {row for row, _ in chosen}
            wanted = min(negatives, len(self) - len(taken))
            while wanted:  # rejection sampling: the top-k are few next to the catalog
                row = int(rng.integers(len(self)))
                if row not in taken:
                    taken.add(row)
                    chosen.append((row, "negative"))
                    wanted -= 1
            picked.append(chosen)
        return picked

    def pair_set(
        self, queries: Sequence[Generated], embedder, top_k: int, negatives: int, rng: np.random.Generator
    ) -> pa.Table:
        """Candidate (query, product) pairs for ``queries``, ready for ``protege label``."""
        vectors = embed(embedder, [generated.query for generated in queries])
        columns: dict[str, list] = {name: [] for name in PAIR_SET_COLUMNS}
        for number, (generated, picked) in enumerate(
            zip(queries, self.candidates(vectors, top_k, negatives, rng), strict=True)
        ):
            for row, how in picked:
                columns["pair_id"].append(f"q{number}-{self.doc_ids[row]}")
                columns["query"].append(generated.query)
                columns["document"].append(self.texts[row])
                columns["doc_id"].append(self.doc_ids[row])
                columns["origin_query"].append(generated.origin_query)
                columns["origin_doc_id"].append(generated.origin_doc_id)
                columns["strategy"].append(generated.strategy)
                columns["retrieval"].append(how)
        return pa.table(columns, schema=pa.schema([(name, pa.string()) for name in PAIR_SET_COLUMNS]))
