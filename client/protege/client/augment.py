"""Augmentation: new queries from seed queries and product text, each with its origin.

Local strategies: ``drop`` (a token left out), ``reorder`` (tokens moved), ``typo`` (one
keyboard slip), ``synonym`` (a token swapped for an embedding neighbour from the data's own
vocabulary), ``product`` (a query cut from a product's text); and ``refine``, the teacher's
rewrites (generative teachers). Every generated query keeps the seed query or product it came
from, so a filter can compare a refinement with its original.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from protege.client.retrieval.embedder import embed

LOCAL_STRATEGIES = ("drop", "reorder", "typo", "synonym", "product")
STRATEGIES = (*LOCAL_STRATEGIES, "refine")

_STOPWORDS = frozenset(
    "a an and are as at be by for from in into is it of on or the to with without x".split()
)


def _keyboard_neighbours(rows: tuple[str, ...] = ("qwertyuiop", "asdfghjkl", "zxcvbnm")) -> dict[str, str]:
    """Each letter's neighbours on a QWERTY keyboard: left, right, and the rows above and below."""
    near = {}
    for r, row in enumerate(rows):
        for i, char in enumerate(row):
            above_below = [rows[o][i] for o in (r - 1, r + 1) if 0 <= o < len(rows) and i < len(rows[o])]
            near[char] = row[max(i - 1, 0) : i] + row[i + 1 : i + 2] + "".join(above_below)
    return near


_NEIGHBOURS = _keyboard_neighbours()


@dataclass(frozen=True)
class Generated:
    """A generated query and where it came from."""

    query: str
    strategy: str
    origin_query: str | None = None
    origin_doc_id: str | None = None


def normalise(text: str) -> str:
    return " ".join(text.lower().split())


def drop_token(query: str, rng: np.random.Generator) -> str | None:
    words = query.split()
    if len(words) < 2:
        return None
    del words[int(rng.integers(len(words)))]
    return " ".join(words)


def reorder(query: str, rng: np.random.Generator) -> str | None:
    words = query.split()
    if len(set(words)) < 2:
        return None
    while True:
        shuffled = list(rng.permutation(words))
        if shuffled != words:
            return " ".join(shuffled)


def typo(query: str, rng: np.random.Generator) -> str | None:
    words = query.split()
    candidates = [i for i, word in enumerate(words) if len(word) >= 4 and word.isalpha()]
    if not candidates:
        return None
    index = candidates[int(rng.integers(len(candidates)))]
    word = words[index]
    at = int(rng.integers(1, len(word) - 1))
    kind = int(rng.integers(4))
    if kind == 0:
        word = word[:at] + word[at + 1] + word[at] + word[at + 2 :]  # swap neighbours
    elif kind == 1:
        word = word[:at] + word[at + 1 :]  # drop a letter
    elif kind == 2:
        word = word[:at] + word[at] + word[at:]  # double a letter
    else:
        near = _NEIGHBOURS.get(word[at].lower(), "")
        word = word[:at] + (near[int(rng.integers(len(near)))] if near else word[at]) + word[at + 1 :]
    words[index] = word
    return " ".join(words)


def query_from_product(text: str, rng: np.random.Generator) -> str | None:
    """Two to four consecutive content words of a product's text, as a shopper might type."""
    words = [w for w in re.findall(r"[a-z][a-z\-']+", text.lower()) if w not in _STOPWORDS and len(w) > 2]
    if len(words) < 2:
        return None
    length = int(rng.integers(2, min(4, len(words)) + 1))
    start = int(rng.integers(len(words) - length + 1))
    return " ".join(words[start : start + length])


class SynonymTable:
    """Embedding neighbours among the words of the data itself (queries and products).

    Example::

        table = SynonymTable.build(["cordless drill", "drill driver"], embedder)
        table.replace("cordless drill", rng)
    """

    def __init__(self, words: list[str], neighbours: dict[str, list[str]]) -> None:
        self.words = words
        self.neighbours = neighbours

    @classmethod
    def build(
        cls, texts: Iterable[str], embedder, min_count: int = 2, threshold: float = 0.6, k: int = 6
    ) -> SynonymTable:
        import faiss

        counts = Counter(w for text in texts for w in re.findall(r"[a-z]{3,}", text.lower()))
        words = sorted(w for w, n in counts.items() if n >= min_count and w not in _STOPWORDS)
        if len(words) < 2:
            return cls(words, {})
        vectors = embed(embedder, words)
        index = faiss.IndexFlatIP(vectors.shape[1])
        index.add(vectors)
        scores, rows = index.search(vectors, min(k + 1, len(words)))
        neighbours: dict[str, list[str]] = {}
        for word, near_scores, near_rows in zip(words, scores, rows, strict=True):
            # Not the word itself, nor an inflection of it (same four-letter stem).
            near = [
                words[row]
                for score, row in zip(near_scores, near_rows, strict=True)
                if row >= 0 and score >= threshold and words[row][:4] != word[:4]
            ]
            if near:
                neighbours[word] = near
        return cls(words, neighbours)

    def replace(self, query: str, rng: np.random.Generator) -> str | None:
        words = query.split()
        options = [i for i, word in enumerate(words) if word.lower() in self.neighbours]
        if not options:
            return None
        index = options[int(rng.integers(len(options)))]
        choices = self.neighbours[words[index].lower()]
        words[index] = choices[int(rng.integers(len(choices)))]
        return " ".join(words)


class Augmenter:
    """Generates ``per_seed`` new queries per seed (cycling through the seed strategies) and
    ``from_products`` queries cut from product texts, dropping anything already seen.

    Example::

        augmenter = Augmenter(("drop", "typo", "product"), per_seed=2, seed=0)
        generated = augmenter.generate(["cordless drill"], [("p1", "DEWALT 20V MAX Cordless Drill")], 1)
    """

    def __init__(
        self,
        strategies: Sequence[str] = LOCAL_STRATEGIES,
        per_seed: int = 2,
        seed: int = 0,
        synonyms: SynonymTable | None = None,
        refine: Callable[[str, int, int], list[str]] | None = None,
    ) -> None:
        unknown = set(strategies) - set(STRATEGIES)
        if unknown:
            raise ValueError(f"unknown strategies {sorted(unknown)}: choose from {', '.join(STRATEGIES)}")
        if "synonym" in strategies and synonyms is None:
            raise ValueError("the synonym strategy needs a SynonymTable")
        if "refine" in strategies and refine is None:
            raise ValueError("the refine strategy needs a generative teacher")
        self.strategies = tuple(strategies)
        self.per_seed = per_seed
        self.rng = np.random.default_rng(seed)
        self.synonyms = synonyms
        self.refine = refine

    def generate(
        self, seeds: Sequence[str], products: Sequence[tuple[str, str]], from_products: int = 0
    ) -> list[Generated]:
        seen = {normalise(seed) for seed in seeds}
        out: list[Generated] = []

        def keep(candidate: str | None, strategy: str, seed: str | None, doc_id: str | None) -> bool:
            if not candidate or normalise(candidate) in seen:
                return False
            seen.add(normalise(candidate))
            out.append(Generated(candidate, strategy, seed, doc_id))
            return True

        local = [s for s in self.strategies if s not in ("product", "refine")]
        for seed in seeds:
            made = 0
            if "refine" in self.strategies:
                for rewrite in self.refine(seed, self.per_seed, int(self.rng.integers(2**31))):
                    made += keep(rewrite, "refine", seed, None)
            first = int(self.rng.integers(len(local))) if local else 0  # no strategy always goes first
            for attempt in range(len(local) * 2):
                if made >= self.per_seed:
                    break
                strategy = local[(first + attempt) % len(local)]
                made += keep(self._local(strategy, seed), strategy, seed, None)
        if "product" in self.strategies and products:
            for row in self.rng.choice(len(products), size=min(from_products, len(products)), replace=False):
                doc_id, text = products[int(row)]
                keep(query_from_product(text, self.rng), "product", None, doc_id)
        return out

    def _local(self, strategy: str, seed: str) -> str | None:
        if strategy == "drop":
            return drop_token(seed, self.rng)
        if strategy == "reorder":
            return reorder(seed, self.rng)
        if strategy == "typo":
            return typo(seed, self.rng)
        return self.synonyms.replace(seed, self.rng)  # type: ignore[union-attr]
