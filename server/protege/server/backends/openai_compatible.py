"""An LLM teacher behind a server its users already run (vLLM, llama.cpp's server, TGI, Ollama, a
hosted API), through its OpenAI-compatible API: one generated token a pair, temperature 0, the
grade read from the answer's log-probabilities (``llm_answers``), as RankLLM's pointwise reranker
and UMBRELA read theirs.

protege adds what it adds in front of any teacher: one versioned score per pair, the label cache,
batching, auth, streaming to many student jobs, metrics. The endpoint keeps its own batching;
protege sends it at most ``max_concurrency`` requests at a time, and the ``openai`` client retries
408/429/5xx answers with backoff, honouring ``Retry-After``.

Example::

    backend = OpenAICompatibleBackend("Qwen2.5-7B-Instruct", EndpointConfig("http://vllm:8000/v1"))
    backend.score(["cordless drill"], ["DEWALT 20V MAX Cordless Drill"]).class_probabilities
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import openai

from protege.common.setting_names import SettingError, setting

from .base import Backend, BackendRefused, BackendUnavailable, Scores, expected_grade
from .endpoint import EndpointConfig
from .llm_answers import answer, generated_text, rewrites_from
from .llm_judge import REFINE_PROMPT

logger = logging.getLogger(__name__)

GRADE_PROMPT = (
    "Rate how relevant the product is to the search query, from {lowest} (not relevant) to {highest} "
    "(exactly what the query asks for). Answer with the grade only.\n\n"
    "Query: {query}\nProduct: {document}\nRelevance ({choices}):"
)
# The most top tokens OpenAI's API returns a position; vLLM's default limit too.
TOP_LOGPROBS = 20
# Answers an endpoint gives where nothing is wrong with protege's request: worth waiting out.
UNAVAILABLE = (
    openai.APIConnectionError,  # refused, reset, timed out
    openai.RateLimitError,
    openai.InternalServerError,
)
# Answers that say protege is set up wrong: a wrong key, a key without access, a wrong URL or model;
# each hint names its settings as {setting}, said as the process names them (a flag under the CLI).
REFUSALS = {
    openai.AuthenticationError: ("check the key in {api_key_file}", "api_key_file"),
    openai.PermissionDeniedError: ("the key has no access to this model",),
    openai.NotFoundError: (
        "check {endpoint} (the base URL, e.g. http://vllm:8000/v1) and {model}",
        "endpoint",
        "model",
    ),
}


def read_prompt(path: str | None) -> str:
    """The grading prompt in ``path`` (``{query}`` and ``{document}`` required; ``{choices}``,
    ``{lowest}`` and ``{highest}`` optional), else ``GRADE_PROMPT``."""
    if path is None:
        return GRADE_PROMPT
    text = Path(path).read_text(encoding="utf-8")
    missing = [name for name in ("{query}", "{document}") if name not in text]
    if missing:
        raise ValueError(f"prompt file {path} has no {' or '.join(missing)} placeholder")
    return text


def read_api_key(path: str | None) -> str:
    """The key in ``path`` (first line); servers without auth take any key, so "none" without one."""
    if path is None:
        return "none"
    key = Path(path).read_text(encoding="utf-8").strip().splitlines()
    if not key or not key[0].strip():
        raise ValueError(f"API key file {path} is empty")
    return key[0].strip()


class OpenAICompatibleBackend(Backend):
    """Scores pairs by asking an OpenAI-compatible endpoint for one grade label each; ``Refine``
    asks it for rewrites. ``model``: the model name the endpoint serves (one of its ``/v1/models``
    ids).
    """

    kind = "openai-compatible"
    supports_refine = True
    model_is_a_path = False  # the name the endpoint serves

    def __init__(self, model: str, config: EndpointConfig) -> None:
        self.endpoint, self.labels, self.api = config.endpoint, config.labels, config.api
        self.prompt = read_prompt(config.prompt_file)
        self.client = openai.OpenAI(
            base_url=config.endpoint,
            api_key=read_api_key(config.api_key_file),
            timeout=config.request_timeout_s,
            max_retries=config.max_retries,
        )
        self.pool = ThreadPoolExecutor(config.max_concurrency, thread_name_prefix="protege-llm")
        self.methods: Counter[str] = Counter()  # how scores were read so far: Describe reports it
        self._lock = threading.Lock()
        self.model_id = self._served_model(model)
        settings = {
            "kind": self.kind,
            "model_id": self.model_id,
            "prompt": self.prompt,
            "labels": self.labels,
            "api": self.api,
            "temperature": 0.0,
            "max_tokens": 1,
            "top_logprobs": TOP_LOGPROBS,
        }
        digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()
        super().__init__(model, f"openai-{digest[:20]}", self.labels)

    def _served_model(self, model: str) -> str:
        """``model`` as the endpoint lists it; refused when it lists others only."""
        served = [entry.id for entry in self._request(self.client.models.list)]
        if model not in served:
            raise ValueError(
                f"{self.endpoint} serves {', '.join(served) or 'no model'}, not {model!r}: "
                f"pass one of them as {setting('model')}"
            )
        return model

    def check(self) -> None:
        """Raises ``BackendUnavailable`` while the endpoint does not answer."""
        self._request(self.client.models.list)

    def _request(self, call, **arguments):
        try:
            return call(**arguments)
        except UNAVAILABLE as error:
            raise BackendUnavailable(f"{self.endpoint}: {error}") from error
        except tuple(REFUSALS) as error:
            hint = SettingError(*REFUSALS[type(error)])
            raise BackendRefused(
                f"{self.endpoint} answered {error.status_code}: {error.message}; {hint}"
            ) from error
        except openai.APIStatusError as error:
            raise ValueError(f"{self.endpoint} refused the request: {error}") from error

    def _grade_prompt(self, query: str, document: str) -> str:
        labels = self.labels
        return self.prompt.format(
            query=query, document=document, choices=", ".join(labels), lowest=labels[0], highest=labels[-1]
        )

    def _ask(self, prompt: str, **sampling) -> dict:
        """The first choice of one request, as a plain dict (both response shapes keep their fields)."""
        if self.api == "chat":
            response = self._request(
                self.client.chat.completions.create,
                model=self.model_id,
                messages=[{"role": "user", "content": prompt}],
                **sampling,
            )
        else:
            completions = {**sampling}
            if completions.pop("logprobs", False):
                completions["logprobs"] = completions.pop("top_logprobs")
            response = self._request(
                self.client.completions.create, model=self.model_id, prompt=prompt, **completions
            )
        return response.choices[0].model_dump()

    def _probabilities(self, query: str, document: str) -> tuple[np.ndarray, str]:
        choice = self._ask(
            self._grade_prompt(query, document),
            max_tokens=1,
            temperature=0.0,
            logprobs=True,
            top_logprobs=TOP_LOGPROBS,
        )
        read = answer(choice, self.labels)
        return read.probabilities, read.method

    def score(self, queries: list[str], documents: list[str]) -> Scores:
        answers = list(self.pool.map(self._probabilities, queries, documents))
        probabilities = np.stack([probabilities for probabilities, _ in answers])
        methods = Counter(method for _, method in answers)
        with self._lock:
            self.methods.update(methods)
        return Scores(expected_grade(probabilities), probabilities, dict(methods))

    def refine(self, query: str, document: str, num_rewrites: int, seed: int) -> list[str]:
        product = f"Product: {document}\n" if document else ""
        prompt = REFINE_PROMPT.format(query=query, product=product)
        choices = self.pool.map(
            lambda offset: self._ask(prompt, max_tokens=32, temperature=0.8, seed=seed + offset),
            range(num_rewrites),
        )
        return rewrites_from(query, [generated_text(choice) for choice in choices])

    @property
    def scoring(self) -> str:
        with self._lock:
            return "+".join(sorted(self.methods))
