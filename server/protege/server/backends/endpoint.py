"""Where an OpenAI-compatible LLM is served and how protege asks it: the settings of the
``openai-compatible`` backend, importable without ``openai`` (``protege serve`` makes its flags
from them; the backend itself needs ``pip install 'protege[openai]'``).

Example::

    EndpointConfig("http://vllm:8000/v1", api_key_file="/secrets/key", max_concurrency=16)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from protege.common.setting_names import SettingError

APIS = ("chat", "completions")


@dataclass(frozen=True)
class EndpointConfig:
    """Where the LLM is served and how protege asks it (``protege serve --backend openai-compatible``
    makes its flags from these fields)."""

    endpoint: str | None = field(
        default=None,
        metadata={"help": "base URL of the OpenAI-compatible API, e.g. http://vllm:8000/v1"},
    )
    api_key_file: str | None = field(
        default=None,
        metadata={"help": "file holding the endpoint's API key (never a flag's value: it would show in ps)"},
    )
    prompt_file: str | None = field(
        default=None,
        metadata={
            "help": "grading prompt with {query} and {document} ({choices}, {lowest}, {highest} optional)"
        },
    )
    api: str = field(default="chat", metadata={"help": "which API to call", "choices": APIS})
    max_concurrency: int = field(default=8, metadata={"help": "requests sent to the endpoint at once"})
    request_timeout_s: float = field(
        default=60.0, metadata={"help": "seconds one request may take", "flag": "--request-timeout"}
    )
    max_retries: int = field(
        default=4,
        metadata={
            "help": "retries of a request answered 408, 429 or 5xx (with backoff, as Retry-After says)"
        },
    )
    labels: tuple[str, ...] = ("0", "1", "2", "3")  # grade labels, least relevant first (serve --labels)

    def __post_init__(self) -> None:
        if not self.endpoint:
            raise SettingError("an openai-compatible teacher needs {endpoint}: its base URL", "endpoint")
        if len(self.labels) < 2:
            raise ValueError(f"an LLM teacher needs at least two labels, got {self.labels!r}")
        if self.api not in APIS:
            raise ValueError(f"unknown api {self.api!r}: choose from {', '.join(APIS)}")
        if self.max_concurrency < 1 or self.max_retries < 0 or self.request_timeout_s <= 0:
            raise ValueError(
                "max_concurrency must be at least 1, max_retries at least 0, the timeout above 0"
            )
