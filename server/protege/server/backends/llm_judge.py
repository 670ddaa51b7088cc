"""LLM-judge teacher: a causal LM asked, per pair, whether the product is relevant.

The score is read from the next-token distribution after the prompt: the probability mass
of each label's tokens (all surface forms: ``yes``, `` yes``, ``Yes``, `` Yes``),
normalised over the labels, then the expected grade in 0..1. ``Refine`` samples rewrites.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from .base import (
    Backend,
    Scores,
    expected_grade,
    resolve_device,
    resolve_dtype,
    teacher_version,
    tokenizer_fingerprint,
)
from .llm_answers import rewrites_from

logger = logging.getLogger(__name__)

JUDGE_PROMPT = (
    "Query: {query}\nProduct: {document}\nIs the product relevant to the search query? Answer {choices}."
)
REFINE_PROMPT = (
    "A shopper searched for: {query}\n{product}"
    "Write one different search query that a shopper could type to find the same products. "
    "Reply with the query only."
)


def split_gguf(model: str) -> tuple[str, str | None]:
    """``dir/model.gguf`` → (``dir``, ``model.gguf``); a folder holding exactly one GGUF file
    resolves to it; anything else (a Hugging Face folder or hub id) → (model, None)."""
    path = Path(model)
    if path.suffix == ".gguf":
        return str(path.parent), path.name
    if path.is_dir() and not (path / "config.json").exists():
        ggufs = sorted(path.glob("*.gguf"))
        if len(ggufs) == 1:
            return str(path), ggufs[0].name
    return model, None


class LLMJudgeBackend(Backend):
    """Judges pairs with a causal LM; also rewrites queries (``Refine``).

    Example::

        backend = LLMJudgeBackend("path/to/SmolLM2-135M-Instruct.Q4_1.gguf")
        backend.score(["cordless drill"], ["DEWALT 20V MAX Cordless Drill"]).class_probabilities
        backend.refine("cordless drill", "", num_rewrites=3, seed=0)
    """

    kind = "llm-judge"
    supports_refine = True

    def __init__(
        self,
        model: str,
        device: str | None = None,
        dtype: str | None = None,
        labels: tuple[str, ...] = ("no", "yes"),
        prompt: str = JUDGE_PROMPT,
        max_length: int = 512,
        max_new_tokens: int = 24,
    ) -> None:
        if len(labels) < 2:
            raise ValueError(f"an llm-judge needs at least two labels, got {labels!r}")
        device = resolve_device(device)
        torch_dtype = resolve_dtype(dtype, device)
        folder, gguf_file = split_gguf(model)
        self.tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=gguf_file)
        self.model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=gguf_file, dtype=torch_dtype)
        self.model.to(device).eval()
        self.device = device
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.prompt = prompt
        self.labels = labels
        self.max_length = max_length
        self.max_new_tokens = max_new_tokens
        self.label_token_ids = self._label_token_ids(labels)
        config = {
            "tokenizer": tokenizer_fingerprint(self.tokenizer),
            "labels": labels,
            "prompt": prompt,
            "max_length": max_length,
            "dtype": str(torch_dtype),
            "chat_template": self.tokenizer.chat_template,
        }
        super().__init__(model, teacher_version(self.kind, self.model, config), tuple(labels))

    def _label_token_ids(self, labels: tuple[str, ...]) -> list[list[int]]:
        """First token of each surface form of each label; a token may belong to one label only."""
        owner: dict[int, str] = {}
        token_ids: list[list[int]] = []
        for label in labels:
            ids: list[int] = []
            for form in {label, f" {label}", label.capitalize(), f" {label.capitalize()}"}:
                encoded = self.tokenizer.encode(form, add_special_tokens=False)
                if not encoded:
                    continue
                token = encoded[0]
                if owner.setdefault(token, label) != label:
                    raise ValueError(
                        f"labels {owner[token]!r} and {label!r} start with the same token; "
                        "choose labels whose first tokens differ"
                    )
                if token not in ids:
                    ids.append(token)
            if not ids:
                raise ValueError(f"label {label!r} encodes to no tokens")
            token_ids.append(ids)
        return token_ids

    def _render(self, message: str) -> str:
        if self.tokenizer.chat_template:
            return self.tokenizer.apply_chat_template(
                [{"role": "user", "content": message}], add_generation_prompt=True, tokenize=False
            )
        return message + "\nAnswer:"

    def prompts(self, queries: list[str], documents: list[str]) -> list[str]:
        """The judge's prompt for each pair, rendered as the model expects it."""
        choices = " or ".join(self.labels)
        return [
            self._render(self.prompt.format(query=q, document=d, choices=choices))
            for q, d in zip(queries, documents, strict=True)
        ]

    def encode(self, prompts: list[str]) -> dict[str, torch.Tensor]:
        """Left-padded token batch (on the CPU) of rendered ``prompts``."""
        return dict(
            self.tokenizer(
                prompts,
                return_tensors="pt",
                padding=True,
                truncation=True,
                max_length=self.max_length,
                add_special_tokens=not self.tokenizer.chat_template,
            )
        )

    def label_log_probabilities(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """(rows, labels) log-probabilities of each label after the prompt: the next-token mass of
        its surface forms, normalised over the labels. Differentiable: fine-tuning trains on it."""
        # Left padding: positions must count real tokens only, or padded rows score differently.
        positions = (batch["attention_mask"].cumsum(-1) - 1).clamp(min=0)
        logits = model(**batch, position_ids=positions).logits[:, -1, :].float().log_softmax(-1)
        mass = torch.stack([logits[:, ids].logsumexp(-1) for ids in self.label_token_ids], dim=1)
        return mass - mass.logsumexp(-1, keepdim=True)

    @torch.inference_mode()
    def score(self, queries: list[str], documents: list[str]) -> Scores:
        batch = {k: v.to(self.device) for k, v in self.encode(self.prompts(queries, documents)).items()}
        probabilities = self.label_log_probabilities(self.model, batch).double().exp().cpu().numpy()
        probabilities /= probabilities.sum(-1, keepdims=True)  # exactly 1 in float64
        return Scores(expected_grade(probabilities), probabilities)

    @torch.inference_mode()
    def refine(self, query: str, document: str, num_rewrites: int, seed: int) -> list[str]:
        product = f"Product: {document}\n" if document else ""
        prompt = self._render(REFINE_PROMPT.format(query=query, product=product))
        batch = {k: v.to(self.device) for k, v in self.encode([prompt]).items()}
        with torch.random.fork_rng(devices=[self.device] if self.device.startswith("cuda") else []):
            torch.manual_seed(seed)
            output = self.model.generate(
                **batch,
                do_sample=True,
                temperature=0.8,
                top_p=0.95,
                max_new_tokens=self.max_new_tokens,
                num_return_sequences=num_rewrites,
                pad_token_id=self.tokenizer.pad_token_id,
            )
        texts = self.tokenizer.batch_decode(
            output[:, batch["input_ids"].shape[1] :], skip_special_tokens=True
        )
        return rewrites_from(query, texts)
