"""Margin-MSE over every pair of documents of a query, each document passed through the model once.

sentence-transformers' ``MarginMSELoss`` takes (query, document, other document) rows: a label
pairs each document with one other, so an epoch over N teacher labels runs 2N forward and
backward passes. Grouping a query's documents into one row scores each once, and learns from
every pair of them: the same objective (Hofstätter et al., arXiv 2010.02666), half the passes.
"""

from __future__ import annotations

import torch
from sentence_transformers.cross_encoder import CrossEncoder
from sentence_transformers.util import batch_to_device
from torch import Tensor, nn


class GroupMarginMSELoss(nn.Module):
    """For each query's documents, the mean squared difference between the student's and the
    teacher's score margins over all pairs of them; rows are ``(query, [documents])`` with the
    teacher's logits as ``[labels]``, as sentence-transformers' listwise losses take them.

    Example::

        dataset = Dataset.from_dict({"query": ["drill"], "docs": [["DEWALT drill", "Hammer"]],
                                     "label": [[2.1, -3.0]]})
        CrossEncoderTrainer(model=model, train_dataset=dataset, loss=GroupMarginMSELoss(model))
    """

    def __init__(self, model: CrossEncoder) -> None:
        super().__init__()
        self.model = model
        if model.num_labels != 1:
            raise ValueError(f"GroupMarginMSELoss needs a one-label model, not {model.num_labels} labels")

    def forward(
        self,
        inputs: list[list[str] | list[list[str]]],
        labels: list[Tensor],
        prompt: str | None = None,
        task: str | None = None,
    ) -> Tensor:
        queries, groups = inputs
        pairs = [
            (query, document)
            for query, documents in zip(queries, groups, strict=True)
            for document in documents
        ]
        tokens = batch_to_device(self.model.preprocess(pairs, prompt=prompt, task=task), self.model.device)
        scores = self.model(tokens)["scores"].view(-1).float()
        teacher = torch.cat(labels).to(scores.device).float()
        # A pair (i, j) counts when both documents belong to one query: a block-diagonal mask.
        sizes = torch.tensor([len(documents) for documents in groups], device=scores.device)
        owner = torch.repeat_interleave(torch.arange(len(groups), device=scores.device), sizes)
        same = (owner[:, None] == owner[None, :]).triu(diagonal=1)
        error = scores - teacher
        margins = error[:, None] - error[None, :]
        return margins[same].pow(2).mean()

    def get_config_dict(self) -> dict:
        return {}
