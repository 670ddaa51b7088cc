"""Each RPC over real gRPC on loopback, bad input, overload, health, reflection and metrics."""

from __future__ import annotations

import asyncio
import threading
import time
import urllib.request

import grpc
import numpy as np
import pytest
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase
from stand_ins import SlowBackend

from protege.client import Pair, TeacherError
from protege.server.backends import Backend
from protege.v1 import teacher_pb2

QUERIES = ["cordless drill", "white ceiling paint", "angle bracket", "deck over"]
DOCUMENTS = ["drill driver kit", "flat white ceiling paint", "corner brace", "wood and concrete coating"]
PAIRS = [Pair(f"p{i}", q, d) for i, (q, d) in enumerate(zip(QUERIES, DOCUMENTS, strict=False))]


def raw_label(port: int, payload: bytes) -> grpc.RpcError:
    """Sends bytes as a LabelRequest, bypassing client-side serialization."""
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.unary_unary("/protege.v1.Teacher/Label")
        with pytest.raises(grpc.RpcError) as raised:
            call(payload, timeout=10)
    return raised.value


def test_describe(start_teacher, served_backend: Backend) -> None:
    _, client = start_teacher(served_backend)
    info = client.describe()
    assert info.teacher_version == served_backend.version
    assert info.backend == "cross-encoder"
    assert not info.supports_refine
    assert (info.scale.min, info.scale.max) == (0.0, 1.0)
    assert info.limits.max_pairs_per_request == 1024 and info.limits.max_text_chars == 8192
    assert info.limits.stream_window == 8


def test_label_matches_the_model_in_order_with_ids(start_teacher, served_backend: Backend) -> None:
    _, client = start_teacher(served_backend)
    labels = client.label(PAIRS)
    assert [label.id for label in labels] == [pair.id for pair in PAIRS]
    expected = served_backend.score(QUERIES, DOCUMENTS).scores
    np.testing.assert_allclose([label.score for label in labels], expected, atol=1e-6)
    assert all(not label.cached and label.teacher_version == served_backend.version for label in labels)


def test_relabel_comes_from_the_cache(start_teacher, served_backend: Backend) -> None:
    teacher, client = start_teacher(served_backend)
    first = client.label(PAIRS)
    second = client.label([Pair(f"again-{p.id}", p.query, p.document) for p in PAIRS])
    assert all(label.cached for label in second)
    assert [label.score for label in second] == [label.score for label in first]
    model_pairs = teacher.server.metrics.pairs.labels("model")._value.get()
    assert model_pairs == len(PAIRS)


def test_label_stream_keeps_order_and_ids(start_teacher, served_backend: Backend) -> None:
    _, client = start_teacher(served_backend, max_batch=16)
    pairs = [Pair(f"s{i}", QUERIES[i % 4] + f" {i}", DOCUMENTS[i % 4]) for i in range(600)]
    labels = list(client.label_stream(pairs, batch_size=50, window=3))
    assert [label.id for label in labels] == [pair.id for pair in pairs]
    sample = [0, 123, 599]
    expected = served_backend.score([pairs[i].query for i in sample], [pairs[i].document for i in sample])
    np.testing.assert_allclose([labels[i].score for i in sample], expected.scores, atol=1e-6)


def test_refine_is_unimplemented_for_a_cross_encoder(start_teacher, served_backend: Backend) -> None:
    _, client = start_teacher(served_backend)
    with pytest.raises(TeacherError) as raised:
        client.refine("cordless drill")
    assert raised.value.code == grpc.StatusCode.UNIMPLEMENTED


def test_llm_judge_labels_and_refines(start_teacher, llm_backend: Backend) -> None:
    _, client = start_teacher(llm_backend)
    info = client.describe()
    assert info.supports_refine and list(info.scale.class_names) == ["no", "yes"]
    labels = client.label(PAIRS)
    assert all(len(label.class_probabilities) == 2 for label in labels)
    assert client.refine("cordless drill", "drill driver kit", num_rewrites=3, seed=1) == llm_backend.refine(
        "cordless drill", "drill driver kit", 3, 1
    )
    with pytest.raises(TeacherError, match="query is empty"):
        client.refine("  ")


@pytest.mark.parametrize(
    ("pairs", "detail"),
    [
        ([], "pairs is empty"),
        (
            [Pair("a", "drill", "kit"), Pair("a", "saw", "kit")],
            "pairs[1] (id 'a'): id is a duplicate of pairs[0]",
        ),
        ([Pair("", "drill", "kit")], "pairs[0]: id is empty"),
        ([Pair("a", "drill", "kit"), Pair("b", " ", "kit")], "pairs[1] (id 'b'): query is empty"),
        ([Pair("a", "drill", "")], "pairs[0] (id 'a'): document is empty"),
        ([Pair("a", "drill", "x" * 101)], "pairs[0] (id 'a'): document has 101 characters"),
        ([Pair(str(i), "q", "d") for i in range(6)], "pairs has 6 entries, more than the limit of 5"),
    ],
)
def test_bad_input_is_invalid_argument_and_nothing_is_cached(
    start_teacher, served_backend: Backend, pairs, detail: str
) -> None:
    from protege.server.validation import Limits

    teacher, client = start_teacher(
        served_backend, limits=Limits(max_pairs_per_request=5, max_text_chars=100)
    )
    with pytest.raises(TeacherError) as raised:
        client.label(pairs)
    assert raised.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert raised.value.details.startswith(detail)
    assert len(teacher.server._cache) == 0
    assert client.label([Pair("fine", "drill", "kit")])[0].id == "fine"
    # On a stream, requests before the bad one are answered, then the stream ends with the error.
    answered = []
    with pytest.raises(TeacherError, match=r"INVALID_ARGUMENT: pairs\[0\]: id is empty"):
        for label in client.label_stream([Pair("ok", "saw", "kit"), Pair("", "q", "d")], batch_size=1):
            answered.append(label.id)
    assert answered == ["ok"]


def test_invalid_utf8_names_pair_and_field(start_teacher, served_backend: Backend) -> None:
    teacher, _ = start_teacher(served_backend)
    request = teacher_pb2.LabelRequest(pairs=[teacher_pb2.Pair(id="x9", query="drill", document="DOCUMENT")])
    error = raw_label(teacher.port, request.SerializeToString().replace(b"DOCUMENT", b"DOC\xc3\x28ENT"))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details().startswith("pairs[0] (id 'x9'): document is not valid UTF-8")
    garbage = raw_label(teacher.port, b"\x0a\x05\x0a")
    assert garbage.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_overload_is_resource_exhausted_then_recovers(start_teacher) -> None:
    backend = SlowBackend()
    backend.gate.clear()
    _, client = start_teacher(backend, max_batch=4, max_queue=8, max_wait_ms=0, cache=None)
    first = threading.Thread(target=lambda: client.label([Pair(str(i), "q", "d") for i in range(8)]))
    first.start()
    time.sleep(0.3)
    with grpc.insecure_channel(client.target, options=[("grpc.enable_retries", 0)]) as channel:
        stub = channel.unary_unary(
            "/protege.v1.Teacher/Label",
            request_serializer=teacher_pb2.LabelRequest.SerializeToString,
            response_deserializer=teacher_pb2.LabelResponse.FromString,
        )
        with pytest.raises(grpc.RpcError) as raised:
            stub(
                teacher_pb2.LabelRequest(pairs=[teacher_pb2.Pair(id="x", query="q2", document="d")]),
                timeout=10,
            )
    assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "overloaded" in raised.value.details()
    backend.gate.set()
    first.join(10)
    assert client.label([Pair("after", "q3", "d")])[0].score == 0.5


def test_health_reflection_and_metrics(start_teacher, served_backend: Backend) -> None:
    from conftest import free_port

    teacher, client = start_teacher(served_backend, metrics_port=free_port())
    assert client.health() == "SERVING" and client.health("") == "SERVING"
    client.label(PAIRS)
    with grpc.insecure_channel(client.target) as channel:
        services = ProtoReflectionDescriptorDatabase(channel).get_services()
    assert "protege.v1.Teacher" in services and "grpc.health.v1.Health" in services
    body = (
        urllib.request.urlopen(f"http://127.0.0.1:{teacher.server.metrics_port}/metrics", timeout=5)
        .read()
        .decode()
    )
    assert 'protege_requests_total{code="OK",method="Label"} 1.0' in body
    assert 'protege_pairs_total{source="model"} 4.0' in body
    for name in ("protege_batch_size_bucket", "protege_queue_seconds_bucket", "protege_model_seconds_bucket"):
        assert name in body


def test_reflection_can_be_turned_off(start_teacher, served_backend: Backend) -> None:
    _, client = start_teacher(served_backend, reflection=False)
    with grpc.insecure_channel(client.target) as channel, pytest.raises(grpc.RpcError) as raised:
        ProtoReflectionDescriptorDatabase(channel).get_services()
    assert raised.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert client.health() == "SERVING"


def test_replica_list_is_balanced_round_robin(start_teacher, served_backend: Backend) -> None:
    from protege.client import TeacherClient

    teachers = [start_teacher(served_backend, cache=None)[0] for _ in range(2)]
    target = ",".join(f"localhost:{teacher.port}" for teacher in teachers)
    with TeacherClient(target) as client:
        for i in range(20):
            client.label([Pair(str(i), f"query {i}", "document")])
    served = [teacher.server.metrics.requests.labels("Label", "OK")._value.get() for teacher in teachers]
    assert sum(served) == 20 and min(served) >= 5
    with TeacherClient(f"dns:///localhost:{teachers[0].port}") as client:  # the resolver scheme works too
        assert client.label([Pair("d", "query", "document")])[0].id == "d"


def test_a_replica_killed_fails_over_to_the_others(start_teacher, served_backend: Backend) -> None:
    """Three replicas behind one client; one dies: every later call is answered by the other two."""
    from protege.client import TeacherClient

    teachers = [start_teacher(served_backend, cache=None)[0] for _ in range(3)]
    target = ",".join(f"127.0.0.1:{teacher.port}" for teacher in teachers)

    def served() -> list[float]:
        return [teacher.server.metrics.requests.labels("Label", "OK")._value.get() for teacher in teachers]

    with TeacherClient(target, timeout=20) as client:
        for i in range(30):
            client.label([Pair(str(i), f"query {i}", "document")])
        assert min(served()) >= 5  # balanced before the failure
        teachers[1].stop()
        before = served()
        for i in range(30):
            assert client.label([Pair(f"after-{i}", f"query {i}", "document")])[0].id == f"after-{i}"
        labels = list(client.label_stream([Pair(f"s{i}", f"stream {i}", "document") for i in range(50)]))
        assert sorted(label.id for label in labels) == sorted(f"s{i}" for i in range(50))
    after = served()
    assert after[1] == before[1]  # the dead replica answered nothing more
    assert (
        after[0] + after[2] - before[0] - before[2] == 30
        and min(after[0] - before[0], after[2] - before[2]) >= 5
    )


def test_abandoning_a_stream_leaves_no_thread_behind(start_teacher, served_backend: Backend) -> None:
    _, client = start_teacher(served_backend)
    list(client.label_stream([Pair("warm", "query", "document")]))  # threads made once per process
    before = threading.active_count()
    pairs = (Pair(str(i), f"query {i}", "document") for i in range(10_000))
    stream = client.label_stream(pairs, batch_size=10, window=2)
    assert next(stream).id == "0"
    stream.close()
    deadline = time.monotonic() + 5
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert threading.active_count() <= before


def test_a_long_running_server_keeps_its_structures_bounded(start_teacher) -> None:
    """Thousands of calls (unary from many threads, streams, some abandoned) against a server with
    the cache off and a small memory LRU: afterwards the LRU holds at most its bound, nothing is
    pending in the batcher, no call is tracked, and the asyncio tasks are what they were."""
    teacher, client = start_teacher(SlowBackend(), cache=None, cache_memory_items=300, max_batch=16)
    server = teacher.server
    client.label([Pair("warm", "q", "d")])
    tasks_before = len(asyncio.run_coroutine_threadsafe(_task_count(), teacher._loop).result())

    def unary(worker: int) -> None:
        for call in range(250):  # 8 threads x 250 calls x 4 distinct pairs
            client.label([Pair(str(i), f"query {worker}-{call}-{i}", "document") for i in range(4)])

    threads = [threading.Thread(target=unary, args=(worker,)) for worker in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for number in range(20):  # streams, every other one abandoned after its first answer
        pairs = [Pair(str(i), f"stream {number} query {i}", "document") for i in range(200)]
        stream = client.label_stream(pairs, batch_size=10, window=4)
        labels = [next(stream)] if number % 2 else list(stream)
        if number % 2:
            stream.close()
        assert labels
    deadline = time.monotonic() + 10  # abandoned streams' cancellations reach the server
    while server.tracker.inflight and time.monotonic() < deadline:
        time.sleep(0.05)

    assert server.metrics.pairs.labels("model")._value.get() >= 8 * 250 * 4
    assert server._cache.memory_items_held() == 300
    assert server._labeler.batcher.outstanding == 0 and not server._labeler.batcher._pending
    assert server.tracker.inflight == 0 and server.metrics.inflight._value.get() == 0
    tasks_after = len(asyncio.run_coroutine_threadsafe(_task_count(), teacher._loop).result())
    assert tasks_after <= tasks_before


async def _task_count() -> set:
    return asyncio.all_tasks()
