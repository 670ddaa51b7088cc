from __future__ import annotations

import pytest

from protege.server.validation import InvalidRequest, Limits, check_label_request, lenient_deserializer
from protege.v1 import teacher_pb2

LIMITS = Limits(max_pairs_per_request=3, max_text_chars=20)


def request(*pairs: tuple[str, str, str]) -> teacher_pb2.LabelRequest:
    return teacher_pb2.LabelRequest(pairs=[teacher_pb2.Pair(id=i, query=q, document=d) for i, q, d in pairs])


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        ((), "pairs is empty"),
        ((("a", "q", "d"),) * 4, "pairs has 4 entries, more than the limit of 3"),
        ((("a", "q", "d"), ("", "q", "d")), "pairs[1]: id is empty"),
        ((("a", "q", "d"), ("a", "q", "d")), "pairs[1] (id 'a'): id is a duplicate of pairs[0]"),
        ((("a", "", "d"),), "pairs[0] (id 'a'): query is empty"),
        ((("a", "q", " \t"),), "pairs[0] (id 'a'): document is empty"),
        ((("a", "q" * 21, "d"),), "pairs[0] (id 'a'): query has 21 characters, more than the limit of 20"),
    ],
)
def test_each_problem_names_the_field_and_pair(pairs, message: str) -> None:
    assert check_label_request(request(*pairs), LIMITS).startswith(message)


def test_a_valid_request_passes() -> None:
    assert check_label_request(request(("a", "drill", "DEWALT drill"), ("b", "saw", "saw")), LIMITS) is None


def test_invalid_utf8_is_reported_by_pair_and_field() -> None:
    deserialize = lenient_deserializer(teacher_pb2.LabelRequest)
    raw = (
        request(("ok", "fine", "fine"), ("p7", "QQQQ", "doc"))
        .SerializeToString()
        .replace(b"QQQQ", b"Q\xffQQ")
    )
    parsed = deserialize(raw)
    assert isinstance(parsed, InvalidRequest)
    assert parsed.detail.startswith("pairs[1] (id 'p7'): query is not valid UTF-8")
    truncated = deserialize(b"\x0a\xff")
    assert isinstance(truncated, InvalidRequest)
    assert truncated.detail.startswith("request is not a valid protege.v1.LabelRequest")
