from __future__ import annotations

import sqlite3
from pathlib import Path

from protege.server.cache import CachedLabel, LabelCache, cache_key
from protege.server.config import ServeConfig


def test_labels_survive_a_restart_and_are_keyed_by_version(tmp_path: Path) -> None:
    path = tmp_path / "labels.sqlite"
    key = cache_key("v1", "drill", "DEWALT drill")
    cache = LabelCache(path, memory_items=ServeConfig.cache_memory_items)
    cache.put_many([(key, CachedLabel(0.75, (0.1, 0.2, 0.7)))])
    cache.close()

    reopened = LabelCache(path, memory_items=ServeConfig.cache_memory_items)
    assert reopened.get_many([key, cache_key("v2", "drill", "DEWALT drill")]) == [
        CachedLabel(0.75, (0.1, 0.2, 0.7)),
        None,
    ]
    assert len(reopened) == 1
    reopened.close()
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_keys_do_not_collide_across_field_boundaries() -> None:
    assert cache_key("v", "ab", "c") != cache_key("v", "a", "bc")
    assert cache_key("v", "a", "b") == cache_key("v", "a", "b")


def test_memory_only_cache_evicts_least_recently_used() -> None:
    cache = LabelCache(None, memory_items=2)
    keys = [cache_key("v", str(i), "d") for i in range(3)]
    cache.put_many([(keys[0], CachedLabel(0.0)), (keys[1], CachedLabel(0.1))])
    cache.get_many([keys[0]])
    cache.put_many([(keys[2], CachedLabel(0.2))])
    assert cache.get_many(keys) == [CachedLabel(0.0), None, CachedLabel(0.2)]
