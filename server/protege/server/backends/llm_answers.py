"""An LLM's one-token answer, read as probabilities over ordered grade labels.

From log-probabilities (Zhuang et al., "Beyond Yes and No", NAACL 2024: the expected grade beats
the generated one): each label's probability is the mass of every top token that is a surface form
of it (``"2"``, ``" 2"``, ``"2\\n"``; ``"Yes"`` for ``yes``), normalised over the labels. Servers
return them in two shapes, both read here: chat's ``logprobs.content[0].top_logprobs`` (a list of
``{token, logprob}``) and completions' ``logprobs.top_logprobs[0]`` (a ``{token: logprob}`` map,
which llama-cpp-python also returns for some chat calls). Without log-probabilities, the generated
label itself (probability 1).

Example::

    >>> choice = {"logprobs": {"content": [{"token": "2", "logprob": -0.1,
    ...     "top_logprobs": [{"token": "2", "logprob": -0.1}, {"token": " 3", "logprob": -2.4}]}]}}
    >>> answer(choice, ("0", "1", "2", "3")).probabilities.round(2).tolist()
    [0.0, 0.0, 0.91, 0.09]
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

LOGPROBS = "logprobs"
GENERATED = "generated"


@dataclass(frozen=True)
class Answer:
    """Probabilities over the labels (least relevant first) and how they were read."""

    probabilities: np.ndarray
    method: str  # LOGPROBS or GENERATED


class UnreadableAnswer(ValueError):
    """The endpoint answered with none of the labels, in its text or its top tokens."""


def surface(token: str) -> str:
    """A token as a label compares to it: no surrounding space or punctuation, lower case."""
    return token.strip().strip(".,:;!\"'").lower()


def top_tokens(choice: Mapping[str, Any]) -> dict[str, float] | None:
    """The first generated position's top tokens with their log-probabilities, from either shape
    (None where the server sent no log-probabilities)."""
    logprobs = choice.get("logprobs")
    if not logprobs:
        return None
    if logprobs.get("content"):  # chat
        first = logprobs["content"][0]
        tokens = {entry["token"]: entry["logprob"] for entry in first.get("top_logprobs") or []}
        tokens.setdefault(first["token"], first["logprob"])
        return tokens
    tops = logprobs.get("top_logprobs")
    if tops:  # completions
        tokens = dict(tops[0] or {})
        generated, logprob = (
            (logprobs.get("tokens") or [None])[0],
            (logprobs.get("token_logprobs") or [None])[0],
        )
        if generated is not None and logprob is not None:
            tokens.setdefault(generated, logprob)
        return tokens
    return None


def generated_text(choice: Mapping[str, Any]) -> str:
    """What the endpoint generated: a chat message's content or a completion's text."""
    message = choice.get("message")
    if message is not None:
        return message.get("content") or ""
    return choice.get("text") or ""


def answer(choice: Mapping[str, Any], labels: Sequence[str]) -> Answer:
    """The label probabilities of one response choice: from its log-probabilities where it has any
    label among them, else from its generated text. Raises ``UnreadableAnswer`` when neither
    names a label."""
    wanted = {surface(label): index for index, label in enumerate(labels)}
    tokens = top_tokens(choice)
    if tokens:
        mass = np.zeros(len(labels))
        for token, logprob in tokens.items():
            index = wanted.get(surface(token))
            if index is not None and logprob is not None and math.isfinite(logprob):
                mass[index] += math.exp(logprob)
        if mass.sum() > 0:
            return Answer(mass / mass.sum(), LOGPROBS)
    text = generated_text(choice)
    words = text.split()
    index = wanted.get(surface(words[0])) if words else None
    if index is None:
        raise UnreadableAnswer(
            f"the endpoint answered {text!r}, none of the labels {', '.join(labels)}"
            + ("" if tokens is None else " (nor were any among its top tokens)")
            + ": use a prompt that asks for one label only"
        )
    return Answer(np.eye(len(labels))[index], GENERATED)


def rewrites_from(query: str, texts: Sequence[str]) -> list[str]:
    """Each generated text's first line as a rewrite of ``query`` (a list marker, quotes and the
    query itself dropped), without repeats."""
    rewrites: list[str] = []
    seen = {query.strip().lower()}
    for text in texts:
        lines = text.strip().splitlines()
        rewrite = re.sub(r"^\s*(\d+[.)]|[-*])\s+", "", lines[0]).strip().strip("\"'").strip() if lines else ""
        if rewrite and rewrite.lower() not in seen:
            seen.add(rewrite.lower())
            rewrites.append(rewrite)
    return rewrites
