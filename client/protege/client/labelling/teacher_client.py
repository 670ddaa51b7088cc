"""``TeacherClient``: the student side's connection to a teacher service."""

from __future__ import annotations

import ipaddress
import json
import socket
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import grpc
import numpy as np
from grpc_health.v1 import health_pb2, health_pb2_grpc
from tqdm.auto import tqdm

from protege.v1 import SERVICE_NAME, teacher_pb2, teacher_pb2_grpc

# Labels are pure functions of (teacher version, texts), so every call is safe to retry.
# Streams are left out: a stream retried by the channel can wait forever on a teacher that
# died mid-stream; callers retry them whole (protege label retries a shard).
_RETRY_POLICY = {
    "methodConfig": [
        {
            "name": [{"service": SERVICE_NAME, "method": name} for name in ("Describe", "Label", "Refine")],
            "retryPolicy": {
                "maxAttempts": 5,
                "initialBackoff": "0.2s",
                "maxBackoff": "5s",
                "backoffMultiplier": 2,
                "retryableStatusCodes": ["UNAVAILABLE", "RESOURCE_EXHAUSTED"],
            },
        }
    ]
}


class Pair(NamedTuple):
    """One (query, document) pair to label.

    Args:
        id: any string unique within a call; it comes back on the pair's label.
        query: the search query.
        document: the product's text.

    Example::

        teacher.label([Pair("p1", "cordless drill", "DEWALT 20V MAX Cordless Drill Kit")])
    """

    id: str
    query: str
    document: str


@dataclass(frozen=True)
class TeacherLabel:
    """The teacher's label of one ``Pair``.

    Args:
        id: the pair's id.
        score: relevance in 0..1 (for a graded teacher, its expected grade rescaled).
        class_probabilities: the probability of each grade, least relevant first; empty for a
            teacher with one score.
        cached: whether the service answered from its label cache.
        teacher_version: the version of the teacher that labelled it (``Describe`` says the same).

    Example::

        label = teacher.label([Pair("p1", "drill", "Cordless drill")])[0]
        print(label.id, label.score, label.teacher_version)
    """

    id: str
    score: float
    class_probabilities: tuple[float, ...]
    cached: bool
    teacher_version: str


class TeacherError(RuntimeError):
    """A call the teacher refused or could not answer; ``code`` is the gRPC status."""

    def __init__(self, target: str, method: str, error: grpc.RpcError) -> None:
        self.code: grpc.StatusCode = error.code()
        self.details: str = error.details() or ""
        told = f"{self.code.name}: {self.details}"
        if self.code == grpc.StatusCode.DEADLINE_EXCEEDED:
            told += " (no answer within the call's timeout: nothing listening there, a firewall, or busy)"
        super().__init__(f"teacher {target} {method}: {told}")


class TeacherClient:
    """One channel to a teacher (or to replicas, balanced round-robin).

    Args:
        target: ``host:port``, ``dns:///name:port`` (every address the name resolves to) or a
            comma-separated list of ``host:port`` replicas.
        token: sent as a bearer token with every call; ``token_file`` reads it from a file.
        root_certificates: PEM roots; turns TLS on. ``client_cert`` and ``client_key`` add mTLS,
            ``server_name`` overrides the name the certificate is checked against.
        timeout: seconds a call may take (``None``: no deadline).
        compression: gRPC compression of the channel's messages.
        max_message_bytes: the largest message sent or received.

    Example::

        with TeacherClient("localhost:50051") as teacher:
            print(teacher.describe().teacher_version)
            for label in teacher.label_stream(Pair(str(i), q, d) for i, (q, d) in enumerate(pairs)):
                ...
    """

    def __init__(
        self,
        target: str,
        *,
        token: str | None = None,
        token_file: str | Path | None = None,
        root_certificates: bytes | None = None,
        client_cert: bytes | None = None,
        client_key: bytes | None = None,
        server_name: str | None = None,
        timeout: float | None = 60.0,
        compression: grpc.Compression | None = None,
        max_message_bytes: int = 16 * 1024 * 1024,
    ) -> None:
        if token_file is not None:
            token = Path(token_file).read_text(encoding="utf-8").split("\n", 1)[0].strip()
        self.target = target
        self.timeout = timeout
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()
        options = [
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
            (
                "grpc.service_config",
                json.dumps({**_RETRY_POLICY, "loadBalancingConfig": [{"round_robin": {}}]}),
            ),
            ("grpc.enable_retries", 1),
        ]
        if server_name:
            options.append(("grpc.ssl_target_name_override", server_name))
        address = _channel_target(target)
        if root_certificates is not None or client_cert is not None:
            credentials = grpc.ssl_channel_credentials(root_certificates, client_key, client_cert)
            self._channel = grpc.secure_channel(address, credentials, options, compression)
        else:
            self._channel = grpc.insecure_channel(address, options, compression)
        self._stub = teacher_pb2_grpc.TeacherStub(self._channel)
        self._health = health_pb2_grpc.HealthStub(self._channel)

    def describe(self) -> teacher_pb2.DescribeResponse:
        return self._call("Describe", self._stub.Describe, teacher_pb2.DescribeRequest())

    def label(self, pairs: Sequence[Pair | tuple[str, str, str]]) -> list[TeacherLabel]:
        """Labels one batch (at most the teacher's ``max_pairs_per_request``), in order."""
        request = teacher_pb2.LabelRequest(pairs=[_pair(pair) for pair in pairs])
        return _labels(self._call("Label", self._stub.Label, request))

    def label_stream(
        self, pairs: Iterable[Pair | tuple[str, str, str]], batch_size: int = 256, window: int = 8
    ) -> Iterator[TeacherLabel]:
        """Labels any number of pairs over one stream, ``batch_size`` pairs per message and at
        most ``window`` messages unanswered; yields labels in input order."""
        room = threading.Semaphore(window)
        stop = threading.Event()

        def wait_for_room() -> bool:
            while not room.acquire(timeout=0.1):
                if stop.is_set():
                    return False
            return not stop.is_set()

        def requests() -> Iterator[teacher_pb2.LabelRequest]:
            # Runs on gRPC's sending thread; blocks while `window` requests are unanswered.
            batch: list[teacher_pb2.Pair] = []
            for pair in pairs:
                batch.append(_pair(pair))
                if len(batch) == batch_size:
                    if not wait_for_room():
                        return
                    yield teacher_pb2.LabelRequest(pairs=batch)
                    batch = []
            if batch and wait_for_room():
                yield teacher_pb2.LabelRequest(pairs=batch)

        responses = self._stub.LabelStream(requests(), metadata=self._metadata)
        try:
            for response in responses:
                room.release()
                yield from _labels(response)
        except grpc.RpcError as error:
            raise TeacherError(self.target, "LabelStream", error) from None
        finally:
            stop.set()
            responses.cancel()

    def refine(self, query: str, document: str = "", num_rewrites: int = 4, seed: int = 0) -> list[str]:
        """Rewrites of ``query`` from a generative teacher (UNIMPLEMENTED for the others)."""
        request = teacher_pb2.RefineRequest(
            query=query, document=document, num_rewrites=num_rewrites, seed=seed
        )
        return [rewrite.query for rewrite in self._call("Refine", self._stub.Refine, request).rewrites]

    def health(self, service: str = SERVICE_NAME) -> str:
        """``SERVING``, ``NOT_SERVING``, … as the teacher's health service reports it."""
        request = health_pb2.HealthCheckRequest(service=service)
        response = self._call("Health.Check", self._health.Check, request)
        return health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> TeacherClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _call(self, method: str, function, request):
        try:
            return function(request, timeout=self.timeout, metadata=self._metadata)
        except grpc.RpcError as error:
            raise TeacherError(self.target, method, error) from None


def _channel_target(target: str) -> str:
    """A comma-separated replica list becomes one ``ipv4:``/``ipv6:`` multi-address target
    (hostnames resolved now), so ``round_robin`` spreads calls over the replicas."""
    if "," not in target:
        return target
    addresses = [_resolve(part.strip()) for part in target.split(",") if part.strip()]
    if all(address.startswith("[") for address in addresses):
        return f"ipv6:{','.join(addresses)}"
    if any(address.startswith("[") for address in addresses):
        raise ValueError(f"replica list {target!r} mixes IPv4 and IPv6 addresses")
    return f"ipv4:{','.join(addresses)}"


def _resolve(address: str) -> str:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"replica {address!r} is not host:port")
    host = host.strip("[]")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = ipaddress.ip_address(socket.getaddrinfo(host, int(port), type=socket.SOCK_STREAM)[0][4][0])
    return f"[{ip}]:{port}" if ip.version == 6 else f"{ip}:{port}"


def _pair(pair: Pair | tuple[str, str, str]) -> teacher_pb2.Pair:
    pair_id, query, document = pair
    return teacher_pb2.Pair(id=str(pair_id), query=query, document=document)


def _labels(response: teacher_pb2.LabelResponse) -> list[TeacherLabel]:
    return [
        TeacherLabel(
            label.id, label.score, tuple(label.class_probabilities), label.cached, response.teacher_version
        )
        for label in response.labels
    ]


def teacher_scores(
    teacher: TeacherClient, queries: Sequence[str], documents: Sequence[str], *, progress: bool = False
) -> np.ndarray:
    """The teacher's scores of (query, document) pairs, over one ``LabelStream``; ``progress``
    shows a bar with the rate and ETA (an LLM judge on a CPU scores a few pairs a second)."""
    pairs = [Pair(str(i), q, d) for i, (q, d) in enumerate(zip(queries, documents, strict=True))]
    scores = np.zeros(len(pairs))
    with tqdm(total=len(pairs), unit="pair", desc="teacher scoring", disable=not progress) as bar:
        for label in teacher.label_stream(pairs):
            scores[int(label.id)] = label.score
            bar.update()
    return scores
