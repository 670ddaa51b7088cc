"""The teacher service: backends, dynamic batcher, label cache, servicer, health, metrics, auth.

Example::

    protege serve --backend cross-encoder --model path/to/teacher --port 50051
"""

# Nothing is imported here: each module is imported by its own path.
__all__ = [
    "app",
    "backends",
    "batcher",
    "cache",
    "config",
    "interceptors",
    "labeler",
    "metrics",
    "servicer",
    "validation",
]
