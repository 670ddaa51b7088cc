"""Batches of like lengths for sentence-transformers' trainer: less padding, a new order each epoch."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from sentence_transformers.base.sampler import DefaultBatchSampler

from protege.client.training.rows import text_lengths


class LengthGroupedBatchSampler(DefaultBatchSampler):
    """Shuffles, then sorts each window of ``50 × batch_size`` rows by text length and cuts it
    into batches, served in random order: batches of like lengths pad less (``bench/train.py``
    measures the gain), and every epoch still sees a new order.

    Example::

        CrossEncoderTrainingArguments(..., batch_sampler=LengthGroupedBatchSampler)
    """

    WINDOW_BATCHES = 50

    def __init__(
        self, dataset, batch_size: int, drop_last: bool, valid_label_columns=None, generator=None, seed=0
    ):
        super().__init__(dataset, batch_size, drop_last, valid_label_columns, generator, seed)
        text_columns = [
            name for name in dataset.column_names if name not in (valid_label_columns or ["label"])
        ]
        self.lengths = np.zeros(len(dataset), dtype=np.int64)
        for name in text_columns:
            self.lengths += text_lengths(dataset.with_format("arrow")[name])

    def __iter__(self) -> Iterator[list[int]]:
        rng = np.random.default_rng(self.seed + self.epoch)
        order = rng.permutation(len(self.lengths))
        window = self.batch_size * self.WINDOW_BATCHES
        batches = []
        for start in range(0, len(order), window):
            chunk = order[start : start + window]
            chunk = chunk[np.argsort(self.lengths[chunk], kind="stable")]
            batches += [
                chunk[i : i + self.batch_size].tolist() for i in range(0, len(chunk), self.batch_size)
            ]
        if self.drop_last:
            batches = [batch for batch in batches if len(batch) == self.batch_size]
        for number in rng.permutation(len(batches)):
            yield batches[number]

    def __len__(self) -> int:
        full, rest = divmod(len(self.lengths), self.batch_size)
        return full if self.drop_last else full + bool(rest)
