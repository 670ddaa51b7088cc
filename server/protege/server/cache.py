"""Label cache keyed by (teacher version, query, document): memory LRU in front of SQLite (WAL).

A label is a pure function of the teacher version and the texts, so a relabel costs a
lookup, and the SQLite file survives restarts. A new teacher version never sees old labels.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class CachedLabel:
    score: float
    class_probabilities: tuple[float, ...] = ()


def cache_key(teacher_version: str, query: str, document: str) -> bytes:
    """32-byte key of one label. Lengths are hashed in, so no two text pairs share a key."""
    digest = hashlib.sha256()
    for part in (teacher_version, query, document):
        data = part.encode("utf-8", "surrogatepass")
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.digest()


class LabelCache:
    """Memory LRU of ``memory_items`` labels over an optional SQLite file.

    Example::

        cache = LabelCache("labels.sqlite", memory_items=200_000)
        key = cache_key("cross-3f2a…", "cordless drill", "DEWALT 20V MAX Drill")
        cache.put_many([(key, CachedLabel(0.93))])
        cache.get_many([key])  # [CachedLabel(score=0.93, class_probabilities=())]
    """

    def __init__(self, path: str | Path | None, memory_items: int) -> None:
        self.path = Path(path) if path else None
        self.memory_items = memory_items
        self._memory: OrderedDict[bytes, CachedLabel] = OrderedDict()
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS labels ("
                " key BLOB PRIMARY KEY, score REAL NOT NULL, class_probabilities BLOB) WITHOUT ROWID"
            )

    def get_many(self, keys: Sequence[bytes]) -> list[CachedLabel | None]:
        found: list[CachedLabel | None] = [None] * len(keys)
        missing: dict[bytes, list[int]] = {}
        with self._lock:
            for i, key in enumerate(keys):
                label = self._memory.get(key)
                if label is None:
                    missing.setdefault(key, []).append(i)
                else:
                    self._memory.move_to_end(key)
                    found[i] = label
            if missing and self._db is not None:
                for key, label in self._select(list(missing)):
                    self._remember(key, label)
                    for i in missing[key]:
                        found[i] = label
        return found

    def put_many(self, items: Iterable[tuple[bytes, CachedLabel]]) -> None:
        items = list(items)
        with self._lock:
            for key, label in items:
                self._remember(key, label)
            if self._db is not None and items:
                rows = [
                    (key, label.score, np.asarray(label.class_probabilities, np.float64).tobytes() or None)
                    for key, label in items
                ]
                self._db.execute("BEGIN")
                self._db.executemany("INSERT OR REPLACE INTO labels VALUES (?, ?, ?)", rows)
                self._db.execute("COMMIT")

    def memory_items_held(self) -> int:
        """Labels in the memory LRU now (at most ``memory_items``)."""
        return len(self._memory)

    def __len__(self) -> int:
        with self._lock:
            if self._db is None:
                return len(self._memory)
            return self._db.execute("SELECT COUNT(*) FROM labels").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def _select(self, keys: list[bytes]) -> Iterable[tuple[bytes, CachedLabel]]:
        assert self._db is not None
        for start in range(0, len(keys), 500):  # SQLite's bound-parameter limit
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            query = f"SELECT key, score, class_probabilities FROM labels WHERE key IN ({marks})"
            for key, score, blob in self._db.execute(query, chunk):
                probabilities = tuple(np.frombuffer(blob, np.float64).tolist()) if blob else ()
                yield key, CachedLabel(score, probabilities)

    def _remember(self, key: bytes, label: CachedLabel) -> None:
        self._memory[key] = label
        self._memory.move_to_end(key)
        while len(self._memory) > self.memory_items:
            self._memory.popitem(last=False)
