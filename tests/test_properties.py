"""Property-based bad input: whatever reaches the gRPC surface or the file readers, the answer
is a result or a clear refusal, never a crash."""

from __future__ import annotations

import json
from pathlib import Path

import grpc
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protege.client import Pair, TeacherError
from protege.client.data import Columns, DataError, read_table
from protege.server.backends import Backend
from protege.server.validation import Limits

LIMITS = Limits(max_pairs_per_request=16, max_text_chars=300)
# Any text protobuf can carry (no lone surrogates), including empty, blank and huge strings.
TEXT = st.one_of(
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=40),
    st.sampled_from(["", " ", "\t\n", "x" * 301, "é" * 300]),
)
IDS = st.one_of(
    st.sampled_from(["1", "2", " ", ""]), st.text(st.characters(blacklist_categories=("Cs",)), max_size=8)
)
PROPERTY = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def acceptable(pairs: list[tuple[str, str, str]]) -> bool:
    """What the wire contract accepts: 1..limit pairs, unique non-blank ids, non-blank texts
    within the length limit."""
    ids = [pair_id for pair_id, _, _ in pairs]
    return (
        0 < len(pairs) <= LIMITS.max_pairs_per_request
        and len(set(ids)) == len(ids)
        and all(pair_id.strip() for pair_id in ids)
        and all(text.strip() and len(text) <= LIMITS.max_text_chars for _, q, d in pairs for text in (q, d))
    )


def test_label_answers_or_names_the_problem(start_teacher, cross_encoder_backend: Backend) -> None:
    _, client = start_teacher(cross_encoder_backend, cache=None, limits=LIMITS)

    @PROPERTY
    @given(st.lists(st.tuples(IDS, TEXT, TEXT), max_size=LIMITS.max_pairs_per_request + 2))
    def check(pairs: list[tuple[str, str, str]]) -> None:
        try:
            labels = client.label([Pair(*pair) for pair in pairs])
        except TeacherError as error:
            assert error.code == grpc.StatusCode.INVALID_ARGUMENT, error
            assert error.details.startswith(("pairs", "pairs[")), error.details
            assert not acceptable(pairs)
            return
        assert acceptable(pairs)
        assert [label.id for label in labels] == [pair_id for pair_id, _, _ in pairs]
        assert all(0.0 <= label.score <= 1.0 for label in labels)

    check()
    assert client.health() == "SERVING"


def test_arbitrary_bytes_on_the_wire_are_refused_cleanly(
    start_teacher, cross_encoder_backend: Backend
) -> None:
    teacher, client = start_teacher(cross_encoder_backend, cache=None, limits=LIMITS)
    with grpc.insecure_channel(f"127.0.0.1:{teacher.port}") as channel:
        methods = {
            name: channel.unary_unary(f"/protege.v1.Teacher/{name}")
            for name in ("Label", "Refine", "Describe")
        }

        @PROPERTY
        @given(st.sampled_from(sorted(methods)), st.binary(max_size=200))
        def check(method: str, payload: bytes) -> None:
            try:
                methods[method](payload, timeout=10)
            except grpc.RpcError as error:
                # Refused for what the bytes are (or, Refine, for a backend that cannot rewrite),
                # never an unhandled server error.
                assert error.code() in (
                    grpc.StatusCode.INVALID_ARGUMENT,
                    grpc.StatusCode.UNIMPLEMENTED,
                    grpc.StatusCode.FAILED_PRECONDITION,
                ), (error.code(), error.details())
                assert error.details()

        check()
    assert client.health() == "SERVING"


COLUMNS = Columns(query="q", docs=("d",), label="g")


def _readable_or_data_error(path: Path) -> None:
    try:
        table = read_table(path, COLUMNS)
    except DataError as error:
        assert str(path.name) in str(error)
        return
    assert table.num_rows > 0 and set(table.column_names) >= {"query", "document", "label"}


@PROPERTY
@given(suffix=st.sampled_from([".csv", ".tsv", ".jsonl", ".parquet"]), payload=st.binary(max_size=300))
def test_readers_take_any_bytes(tmp_path: Path, suffix: str, payload: bytes) -> None:
    path = tmp_path / f"input{suffix}"
    path.write_bytes(payload)
    _readable_or_data_error(path)


ROW = st.fixed_dictionaries(
    {
        "q": TEXT,
        "d": TEXT,
        "g": st.one_of(st.floats(allow_nan=True), st.integers(), st.text(max_size=5), st.none()),
    }
)


@PROPERTY
@given(
    rows=st.lists(ROW, min_size=1, max_size=12),
    cut=st.floats(0, 1),
    suffix=st.sampled_from([".jsonl", ".csv", ".parquet"]),
)
def test_readers_take_wrong_types_and_truncated_files(
    tmp_path: Path, rows: list[dict], cut: float, suffix: str
) -> None:
    path = tmp_path / f"rows{suffix}"
    if suffix == ".jsonl":
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    elif suffix == ".csv":
        lines = ["q,d,g", *(",".join(json.dumps(str(row[name])) for name in ("q", "d", "g")) for row in rows)]
        path.write_text("\n".join(lines) + "\n")
    else:
        table = pa.table(
            {
                "q": [row["q"] for row in rows],
                "d": [row["d"] for row in rows],
                "g": [str(row["g"]) for row in rows],
            }
        )
        pq.write_table(table, path)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * cut)])
    _readable_or_data_error(path)
