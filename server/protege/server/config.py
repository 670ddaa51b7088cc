"""Everything a teacher server takes, in one place: each field with ``help`` is a ``protege serve``
flag and a ``PROTEGE_*`` variable (``protege.common.config_flags``), and the labeler, the batcher
and the servicer take their values from here, not from defaults of their own.

Example::

    config = ServeConfig("cross-encoder", "teacher/", port=0, metrics_port=0)
    BackgroundTeacher(config).start()
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from protege.common.config_flags import comma_list
from protege.common.paths import cache_dir
from protege.common.runtimes import RUNTIMES
from protege.common.setting_names import SettingError

from .backends import BACKEND_KINDS
from .backends.endpoint import EndpointConfig
from .validation import Limits


def default_cache_path() -> Path:
    return cache_dir() / "labels.sqlite"


@dataclass
class ServeConfig:
    """What ``protege serve`` takes (``protege serve --help`` is made from these fields, and says
    what each sets).

    Example::

        ServeConfig("cross-encoder", "teacher/", port=50051, runtime="openvino", max_batch=64)
    """

    backend: str = field(metadata={"help": "kind of teacher model", "choices": BACKEND_KINDS})
    model: str = field(
        metadata={
            "help": "local path or hub id of the model (a .gguf file for llm-judge; for "
            "openai-compatible, the name the endpoint serves)"
        }
    )
    host: str = field(default="[::]", metadata={"help": "address to bind ([::]: all interfaces)"})
    port: int = field(default=50051, metadata={"help": "gRPC port (0: any free port)"})
    metrics_port: int = field(default=9095, metadata={"help": "Prometheus /metrics port (0: off)"})
    max_batch: int = field(default=32, metadata={"help": "largest model batch, in pairs"})
    max_wait_ms: float = field(default=5.0, metadata={"help": "longest wait for a batch to fill"})
    max_queue: int = field(default=16384, metadata={"help": "pairs queued before RESOURCE_EXHAUSTED"})
    stream_window: int = field(default=8, metadata={"help": "requests of one stream worked on at once"})
    limits: Limits = field(default_factory=Limits, metadata={"nested": True})
    token_file: str | None = field(
        default=None, metadata={"help": "require 'authorization: Bearer <token>'; one token per line"}
    )
    tls_cert: str | None = field(default=None, metadata={"help": "server certificate (PEM); turns TLS on"})
    tls_key: str | None = field(default=None, metadata={"help": "server private key (PEM)"})
    tls_client_ca: str | None = field(
        default=None, metadata={"help": "CA that client certificates must chain to (mTLS)"}
    )
    reflection: bool = field(default=True, metadata={"help": "serve gRPC server reflection"})
    cache: str | None = field(
        default_factory=lambda: str(default_cache_path()),
        metadata={"help": "SQLite label cache ('none': memory only)"},
    )
    cache_memory_items: int = field(
        default=200_000, metadata={"help": "labels the memory LRU holds in front of the SQLite cache"}
    )
    grace_s: float = field(
        default=30.0, metadata={"help": "seconds to drain calls on SIGTERM", "flag": "--grace"}
    )
    teacher_id: str | None = field(
        default=None, metadata={"help": "name reported by Describe (default: backend:model)"}
    )
    device: str = field(default="auto", metadata={"help": "cpu, cuda, cuda:1, … (auto: cuda when present)"})
    dtype: str = field(default="auto", metadata={"help": "auto (bf16 on GPU), float32, bfloat16 or float16"})
    max_length: int | None = field(
        default=None, metadata={"help": "token limit per pair (default: the model's)"}
    )
    runtime: str = field(
        default="torch",
        metadata={
            "help": "cross-encoder (and an ensemble's cross-encoders): run it with torch, ONNX Runtime or "
            "OpenVINO (an exported folder, or a torch checkpoint exported once on start); "
            "pip install 'protege[onnx]' or 'protege[openvino]'",
            "choices": RUNTIMES,
        },
    )
    labels: str | None = field(
        default=None,
        metadata={
            "help": "llm-judge and openai-compatible: answer labels, least relevant first, comma-separated"
        },
    )
    # The openai-compatible backend's endpoint (its flags: EndpointConfig's fields).
    endpoint: EndpointConfig | None = None

    def __post_init__(self) -> None:
        if self.cache == "none":
            self.cache = None
        if self.runtime not in RUNTIMES:
            raise ValueError(f"unknown runtime {self.runtime!r}: choose one of {', '.join(RUNTIMES)}")
        if self.runtime != "torch" and self.backend not in ("cross-encoder", "ensemble"):
            raise SettingError(
                f"{{runtime}} {self.runtime} is for {{backend}} cross-encoder or ensemble, "
                f"not {self.backend}",
                "runtime",
                "backend",
            )
        if self.max_batch < 1 or self.max_queue < self.max_batch:
            raise ValueError(f"need 1 <= max_batch ({self.max_batch}) <= max_queue ({self.max_queue})")
        if self.backend == "openai-compatible" and self.endpoint is None:
            raise SettingError(
                "{backend} openai-compatible needs {endpoint}: the endpoint's base URL", "backend", "endpoint"
            )
        if self.backend == "openai-compatible" and self.max_length is not None:
            raise SettingError(
                "{max_length} is for models served in the process, not an endpoint", "max_length"
            )

    def label_names(self) -> tuple[str, ...]:
        return comma_list(self.labels) if self.labels else ()

    def model_options(self) -> dict[str, Any]:
        """What ``load_backend`` takes besides the kind and the model."""
        if self.backend == "openai-compatible":
            return {"config": self.endpoint}
        options: dict[str, Any] = {"device": self.device, "dtype": self.dtype}
        if self.max_length is not None:
            options["max_length"] = self.max_length
        if self.backend == "llm-judge" and self.labels:
            options["labels"] = self.label_names()
        if self.runtime != "torch":
            options["runtime"] = self.runtime
        return options
