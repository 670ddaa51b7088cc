"""Where a query (or pair) falls, from one hash of its text: the shared split's bucket, its
validation queries and their two halves, the ensemble teacher's blend queries, and the order a cut
file takes queries in. Each reads its own part of ``digest``, so the five are independent of one
another and the same on every machine (``../shared/data/README.md`` defines the first).

Example::

    bucket("cordless drill")          # 0..9: 0-2 teacher, 3-7 pool, 8-9 test
    is_validation("cordless drill")   # a fifth of the pool's queries
"""

from __future__ import annotations

import hashlib

BUCKETS = 10  # digit 0
VALIDATION_SHARE = 5  # digit 1: one pool query in this many is held out for validation
HALVES = 2  # digit 2: the two halves of the validation queries, for grade maps fitted across them
BLEND_SHARE = 5  # digit 3: one gold query in this many fits the ensemble's blend
KEY_BITS = 62  # sort keys fit an int64


def digest(text: str) -> int:
    """``int(sha1(text.strip().lower()), 16)``: the hash everything here reads."""
    return int(hashlib.sha1(text.strip().lower().encode("utf-8")).hexdigest(), 16)


def bucket(query: str) -> int:
    """The shared split: ``digest(query) % 10``."""
    return digest(query) % BUCKETS


def is_validation(query: str) -> bool:
    """Whether a pool query is held out for validation: the next decimal digit of the hash."""
    return digest(query) // BUCKETS % VALIDATION_SHARE == 0


def validation_half(query: str) -> int:
    """0 or 1: which half of the validation queries ``query`` is in, so a grade map fitted on one
    half judges the other (a validation RMSE not fitted on the pairs it scores)."""
    return digest(query) // 100 % HALVES


def held_out_for_blend(query: str) -> bool:
    """Whether a query's gold pairs fit the ensemble teacher's blend rather than its members."""
    return digest(query) // 1000 % BLEND_SHARE == 0


def query_order_key(query: str) -> int:
    """Where a query comes in the order a cut file takes whole queries in (apart from the split's
    digits)."""
    return digest(query) // (BUCKETS * VALIDATION_SHARE) % (1 << KEY_BITS)


def pair_order_key(query: str, document: str) -> int:
    """Where a pair comes among its query's pairs when a cut file keeps only some of them."""
    return digest(f"{query}\n{document}") % (1 << KEY_BITS)
