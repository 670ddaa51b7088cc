"""Prometheus metrics of the teacher service, served on their own HTTP port."""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

_SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """The service's collectors, in a registry of their own (so tests can make several).

    Example::

        metrics = Metrics()
        metrics.serve(9095)  # GET http://localhost:9095/metrics
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "protege_requests", "Teacher RPCs by method and status code", ["method", "code"], registry=r
        )
        self.request_seconds = Histogram(
            "protege_request_seconds", "Teacher RPC latency", ["method"], buckets=_SECONDS, registry=r
        )
        self.inflight = Gauge("protege_inflight_requests", "Teacher RPCs in progress", registry=r)
        self.pairs = Counter(
            "protege_pairs", "Pairs labelled, by where the label came from", ["source"], registry=r
        )
        self.batch_size = Histogram(
            "protege_batch_size",
            "Pairs per model batch",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
            registry=r,
        )
        self.queue_seconds = Histogram(
            "protege_queue_seconds", "Time a pair waits for its batch", buckets=_SECONDS, registry=r
        )
        self.model_seconds = Histogram(
            "protege_model_seconds", "Model time per batch", buckets=_SECONDS, registry=r
        )
        self.queue_depth = Gauge("protege_queue_depth", "Pairs accepted and not yet answered", registry=r)
        self.cache_items = Gauge(
            "protege_cache_memory_items", "Labels held by the in-memory LRU of the label cache", registry=r
        )
        self.llm_answers = Counter(
            "protege_llm_answers",
            "Scores of an LLM endpoint, by how they were read (logprobs or the generated label)",
            ["method"],
            registry=r,
        )
        self.backend_up = Gauge(
            "protege_backend_up",
            "1 while the teacher's backend (an LLM endpoint) answers",
            registry=r,
        )
        self.backend_up.set(1)
        self._http = None

    def observe_batch(self, size: int, queue_seconds: Sequence[float], model_seconds: float) -> None:
        self.batch_size.observe(size)
        self.model_seconds.observe(model_seconds)
        for seconds in queue_seconds:
            self.queue_seconds.observe(seconds)

    def observe_queue(self, depth: int) -> None:
        self.queue_depth.set(depth)

    def serve(self, port: int, host: str = "0.0.0.0") -> int:
        """Starts the ``/metrics`` HTTP endpoint; returns the bound port."""
        self._http, _ = start_http_server(port, addr=host, registry=self.registry)
        return self._http.server_port

    def close(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
