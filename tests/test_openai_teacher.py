"""The openai-compatible teacher: reading an LLM's answer, its version, and the service in front of
an endpoint's limits (refusals with Retry-After, an endpoint that is down and comes back).

The endpoint here is a small HTTP server speaking the OpenAI API's shapes, for what a real server
will not do on demand (answer 429, go down); the real one, llama.cpp's server with SmolLM2, is in
tests/test_llm_server.py.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from conftest import free_port, wait_for

from protege.client import TeacherClient
from protege.client.labelling.teacher_client import TeacherError
from protege.server import app
from protege.server.app import BackgroundTeacher
from protege.server.backends import BackendRefused, BackendUnavailable, load_backend
from protege.server.backends.endpoint import EndpointConfig
from protege.server.backends.llm_answers import GENERATED, LOGPROBS, UnreadableAnswer, answer
from protege.server.config import ServeConfig

LABELS = ("0", "1", "2", "3")
# The endpoint below answers P(2) = 0.8, P(3) = 0.15, P(1) = 0.05: this expected grade, in 0..1.
EXPECTED = (0.05 * 1 + 0.8 * 2 + 0.15 * 3) / 3
RECORDED = Path(__file__).parent / "data" / "llm_responses.json"


def chat_choice(top: dict[str, float]) -> dict:
    generated = max(top, key=top.get)
    return {
        "index": 0,
        "message": {"role": "assistant", "content": generated},
        "logprobs": {
            "content": [
                {
                    "token": generated,
                    "logprob": top[generated],
                    "top_logprobs": [{"token": t, "logprob": p} for t, p in top.items()],
                }
            ]
        },
        "finish_reason": "length",
    }


def test_answer_reads_chat_logprobs_over_every_surface_form() -> None:
    read = answer(chat_choice({"2": np.log(0.5), " 2": np.log(0.2), "3": np.log(0.2), "hello": -1.0}), LABELS)
    assert read.method == LOGPROBS
    np.testing.assert_allclose(read.probabilities, [0, 0, 0.7 / 0.9, 0.2 / 0.9])


def test_answer_reads_the_completions_shape_in_a_chat_response() -> None:
    """llama-cpp-python answers some chat calls with completions' logprobs."""
    choice = {
        "message": {"content": "1"},
        "logprobs": {
            "tokens": ["1"],
            "token_logprobs": [np.log(0.6)],
            "top_logprobs": [{"1": np.log(0.6), "0": np.log(0.3), "Yes": -0.1}],
        },
    }
    np.testing.assert_allclose(answer(choice, LABELS).probabilities, [1 / 3, 2 / 3, 0, 0])


def test_answer_without_logprobs_reads_the_generated_label_and_refuses_others() -> None:
    read = answer({"text": " 3.", "logprobs": None}, LABELS)
    assert read.method == GENERATED and read.probabilities.tolist() == [0, 0, 0, 1]
    with pytest.raises(UnreadableAnswer, match="'maybe', none of the labels 0, 1, 2, 3"):
        answer({"message": {"content": "maybe"}}, LABELS)


@pytest.mark.skipif(not RECORDED.exists(), reason="no responses recorded from llama.cpp's server")
def test_answer_reads_responses_recorded_from_llama_cpp_server() -> None:
    """Responses recorded from llama-cpp-python's server with SmolLM2-135M (tests/test_llm_server.py
    records them): each reads as probabilities over the labels, the way the recording says."""
    for record in json.loads(RECORDED.read_text()):
        read = answer(record["choice"], tuple(record["labels"]))
        assert read.method == record["method"]
        np.testing.assert_allclose(read.probabilities.sum(), 1.0)


class Endpoint(ThreadingHTTPServer):
    """An OpenAI-compatible endpoint serving ``judge``: answers grade 2 (mostly) with log-probabilities,
    after refusing the first ``refusals`` requests with 429 and ``Retry-After: 1``."""

    def __init__(self, port: int = 0, refusals: int = 0) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.refusals = refusals
        self.status: int | None = None  # set: every request answered with this error status
        self.requests: list[dict] = []
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.server.status:
            self._send(self.server.status, {"error": {"message": "Incorrect API key provided: sk-…"}})
            return
        self._send(200, {"object": "list", "data": [{"id": "judge", "object": "model", "owned_by": "test"}]})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append(body)
        if self.server.status:
            self._send(self.server.status, {"error": {"message": "Incorrect API key provided: sk-…"}})
            return
        if self.server.refusals:
            self.server.refusals -= 1
            self._send(429, {"error": {"message": "slow down", "type": "rate_limit"}}, {"Retry-After": "1"})
            return
        choice = chat_choice({"2": np.log(0.8), "3": np.log(0.15), "1": np.log(0.05)})
        response = {
            "id": "x",
            "object": "chat.completion",
            "created": 0,
            "model": "judge",
            "choices": [choice],
        }
        self._send(200, response)

    def _send(self, status: int, payload: dict, headers: dict | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    server = Endpoint()
    yield server
    server.stop()


def test_backend_scores_the_expected_grade_and_versions_what_shapes_it(
    endpoint: Endpoint, tmp_path: Path
) -> None:
    backend = load_backend("openai-compatible", "judge", config=EndpointConfig(endpoint.url))
    scores = backend.score(["cordless drill"] * 2, ["DEWALT 20V MAX Cordless Drill", "Hammer"])
    np.testing.assert_allclose(scores.scores, [EXPECTED, EXPECTED])
    assert scores.methods == {LOGPROBS: 2} and backend.scoring == LOGPROBS
    request = endpoint.requests[-1]
    assert request["max_tokens"] == 1 and request["temperature"] == 0 and request["top_logprobs"] == 20
    assert "cordless drill" in request["messages"][0]["content"]
    # Same model, prompt, labels and sampling: the same version; any of them changed: another.
    again = load_backend("openai-compatible", "judge", config=EndpointConfig(endpoint.url))
    assert again.version == backend.version and backend.version.startswith("openai-")
    prompt = tmp_path / "prompt.txt"
    prompt.write_text("Query: {query}\nProduct: {document}\nGrade (0-3):")
    other = load_backend(
        "openai-compatible", "judge", config=EndpointConfig(endpoint.url, prompt_file=str(prompt))
    )
    binary = load_backend(
        "openai-compatible", "judge", config=EndpointConfig(endpoint.url, labels=("no", "yes"))
    )
    assert len({backend.version, other.version, binary.version}) == 3
    with pytest.raises(ValueError, match="serves judge, not 'gpt-9'"):
        load_backend("openai-compatible", "gpt-9", config=EndpointConfig(endpoint.url))


def test_a_refused_request_is_retried_after_retry_after() -> None:
    endpoint = Endpoint(refusals=1)
    try:
        backend = load_backend("openai-compatible", "judge", config=EndpointConfig(endpoint.url))
        started = time.monotonic()
        backend.score(["drill"], ["DEWALT drill"])
        assert time.monotonic() - started >= 1.0 and len(endpoint.requests) == 2
    finally:
        endpoint.stop()


def test_an_endpoint_that_is_down_makes_the_service_not_serving_until_it_answers(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(app, "RECHECK_S", 0.2)
    port = free_port()
    config = EndpointConfig(f"http://127.0.0.1:{port}/v1", max_retries=0, request_timeout_s=5)
    with pytest.raises(BackendUnavailable, match=f"127.0.0.1:{port}"):
        load_backend("openai-compatible", "judge", config=config)
    serve = ServeConfig(
        "openai-compatible",
        "judge",
        host="127.0.0.1",
        port=0,
        cache=str(tmp_path / "labels.sqlite"),
        metrics_port=0,
        endpoint=config,
    )
    with (
        BackgroundTeacher(serve) as teacher,
        TeacherClient(f"127.0.0.1:{teacher.port}", timeout=10) as client,
    ):
        assert client.health() == "NOT_SERVING"
        # Not ready, yet alive: a liveness probe must not restart a replica for its upstream.
        assert client.health(app.LIVENESS) == "SERVING"
        with pytest.raises(
            TeacherError, match=r"UNAVAILABLE: teacher backend unavailable: .*Connection error"
        ):
            client.label([("0", "drill", "DEWALT drill")])
        endpoint = Endpoint(port)
        try:
            wait_for(lambda: client.health() == "SERVING", timeout=10)
            assert client.label([("0", "drill", "DEWALT drill")])[0].score == pytest.approx(EXPECTED)
        finally:
            endpoint.stop()
        with pytest.raises(TeacherError, match="UNAVAILABLE: teacher backend unavailable"):
            client.label([("1", "hammer", "Claw hammer")])
        assert client.health() == "NOT_SERVING"
        endpoint = Endpoint(port)
        try:
            wait_for(lambda: client.health() == "SERVING", timeout=10)
            hammer = client.label([("1", "hammer", "Claw hammer")])[0]
            assert not hammer.cached  # the failed call cached nothing
        finally:
            endpoint.stop()


@pytest.mark.parametrize(("status", "hint"), [
    (401, "check the key in api_key_file"), (403, "no access"), (404, "check endpoint"),
])  # fmt: skip
def test_a_wrong_key_url_or_model_fails_at_once_with_what_the_endpoint_said(
    endpoint: Endpoint, status: int, hint: str
) -> None:
    """401, 403 and 404 were taken for an endpoint that is down: NOT_SERVING, retried forever."""
    endpoint.status = status
    started = time.monotonic()
    with pytest.raises(
        BackendRefused, match=f"{endpoint.url} answered {status}: .*Incorrect API key.*{hint}"
    ):
        load_backend("openai-compatible", "judge", config=EndpointConfig(endpoint.url))
    assert time.monotonic() - started < 5


def test_a_key_revoked_while_serving_fails_calls_with_failed_precondition(
    endpoint: Endpoint, tmp_path: Path
) -> None:
    serve = ServeConfig(
        "openai-compatible", "judge", host="127.0.0.1", port=0, cache=str(tmp_path / "labels.sqlite"),
        metrics_port=0, endpoint=EndpointConfig(endpoint.url),
    )  # fmt: skip
    with (
        BackgroundTeacher(serve) as teacher,
        TeacherClient(f"127.0.0.1:{teacher.port}", timeout=10) as client,
    ):
        wait_for(lambda: client.health() == "SERVING", timeout=10)
        endpoint.status = 401
        with pytest.raises(
            TeacherError, match=r"FAILED_PRECONDITION: teacher backend refused: .* answered 401"
        ):
            client.label([("0", "drill", "DEWALT drill")])


def test_without_openai_the_backend_says_which_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    """openai is an extra: the rest of protege imports and serves without it."""
    monkeypatch.setitem(sys.modules, "openai", None)
    monkeypatch.delitem(sys.modules, "protege.server.backends.openai_compatible", raising=False)
    with pytest.raises(
        ImportError, match=r"needs openai, which is not installed: pip install 'protege\[openai\]'"
    ):
        load_backend("openai-compatible", "judge", config=EndpointConfig("http://llm/v1"))
