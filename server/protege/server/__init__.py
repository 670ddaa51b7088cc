"""The teacher service: backends, dynamic batcher, label cache, servicer, health, metrics, auth.

Example::

    protege serve --backend cross-encoder --model path/to/teacher --port 50051
"""
