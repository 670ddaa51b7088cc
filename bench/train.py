"""Training throughput: protege's trainer vs a plain CrossEncoderTrainer run on the same data.

    python bench/train.py [--pairs 2000] [--rounds 2] [--batch-size 32] [--model PATH]

Both train the same model (default: the packaged all-MiniLM-L6-v2 as a one-label
cross-encoder) for one epoch on the same (query, product, soft target) rows with the same
loss (soft BCE), batch size, learning rate and seed; they differ in what protege adds:
length-grouped batches (and bf16 on a GPU). Rounds alternate the two, medians are reported.
Real Home Depot pairs when ``../shared/data`` is beside the checkout. Prints one JSON line
last with both pairs/s and ``ratio`` (protege / plain; goal ≥ 1.0).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import emit, load_pairs, log, model_or_packaged


def plain_run(model_path: str, queries, documents, targets, batch_size: int, seed: int) -> float:
    """sentence-transformers' documented recipe, nothing added; returns seconds of training."""
    import torch
    from datasets import Dataset
    from sentence_transformers.cross_encoder import (
        CrossEncoder,
        CrossEncoderTrainer,
        CrossEncoderTrainingArguments,
        losses,
    )

    torch.manual_seed(seed)
    model = CrossEncoder(model_path, num_labels=1, max_length=128)
    dataset = Dataset.from_dict({"query": queries, "document": documents, "label": targets})
    with tempfile.TemporaryDirectory() as scratch:
        arguments = CrossEncoderTrainingArguments(
            output_dir=scratch,
            num_train_epochs=1,
            per_device_train_batch_size=batch_size,
            learning_rate=5e-5,
            warmup_steps=0.1,
            seed=seed,
            save_strategy="no",
            report_to="none",
            disable_tqdm=True,
            dataloader_pin_memory=False,
        )
        trainer = CrossEncoderTrainer(
            model=model, args=arguments, train_dataset=dataset, loss=losses.BinaryCrossEntropyLoss(model)
        )
        return float(trainer.train().metrics["train_runtime"])


def protege_run(model_path: str, queries, documents, targets, batch_size: int, seed: int) -> float:
    from protege.client.training import TrainingConfig, train_cross_encoder

    with tempfile.TemporaryDirectory() as scratch:
        config = TrainingConfig(base=model_path, batch_size=batch_size, seed=seed, progress=False)
        train_cross_encoder(queries, documents, targets, config, out=Path(scratch) / "student")
        return float(json.loads((Path(scratch) / "student" / "provenance.json").read_text())["train_seconds"])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pairs", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--model", help="backbone (default: the packaged all-MiniLM-L6-v2)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import torch

    model_path, model_name = model_or_packaged(args.model)
    pairs, source = load_pairs(args.pairs)
    queries, documents = [q for q, _ in pairs], [d for _, d in pairs]
    targets = np.random.default_rng(args.seed).uniform(0, 1, len(pairs)).tolist()
    seconds: dict[str, list[float]] = {"plain": [], "protege": []}
    for number in range(args.rounds):
        order = ("plain", "protege") if number % 2 == 0 else ("protege", "plain")
        for name in order:
            run = plain_run if name == "plain" else protege_run
            seconds[name].append(run(model_path, queries, documents, targets, args.batch_size, args.seed))
            log(f"round {number}: {name} {len(pairs) / seconds[name][-1]:.1f} pairs/s")
    rate = {name: len(pairs) / statistics.median(values) for name, values in seconds.items()}
    emit(
        {
            "benchmark": "train",
            "model": model_name,
            "data": source,
            "pairs": len(pairs),
            "batch_size": args.batch_size,
            "device": "cuda" if torch.cuda.is_available() else "cpu",
            "plain_pairs_per_s": round(rate["plain"], 1),
            "protege_pairs_per_s": round(rate["protege"], 1),
            "ratio": round(rate["protege"] / rate["plain"], 3),
        }
    )


if __name__ == "__main__":
    main()
