"""Request validation: every problem becomes an INVALID_ARGUMENT message naming the field.

Invalid UTF-8 never reaches Python as text: protobuf refuses to parse it. The request
deserializers here parse such a request again with a twin schema whose strings are bytes,
so the error can still name the pair and the field instead of a bare INTERNAL.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError, Message

from protege.v1 import teacher_pb2


@dataclass(frozen=True)
class Limits:
    """What one request may hold; ``Describe`` reports them (``protege serve`` flags)."""

    max_pairs_per_request: int = dataclasses.field(
        default=1024, metadata={"help": "pairs per request", "flag": "--max-pairs"}
    )
    max_text_chars: int = dataclasses.field(
        default=8192, metadata={"help": "longest query or document, in characters"}
    )
    max_message_bytes: int = dataclasses.field(
        default=16 * 1024 * 1024, metadata={"help": "largest gRPC message, in bytes"}
    )


@dataclass(frozen=True)
class InvalidRequest:
    """What a deserializer returns for bytes that are not a valid request."""

    detail: str


def _pair_name(index: int, pair_id: str) -> str:
    return f"pairs[{index}] (id {pair_id!r})" if pair_id else f"pairs[{index}]"


def check_label_request(request: teacher_pb2.LabelRequest, limits: Limits) -> str | None:
    """The first problem with ``request``, or None when it can be labelled as a whole."""
    pairs = request.pairs
    if not pairs:
        return "pairs is empty: send at least one pair"
    if len(pairs) > limits.max_pairs_per_request:
        return (
            f"pairs has {len(pairs)} entries, more than the limit of {limits.max_pairs_per_request}; "
            "split the request or use LabelStream"
        )
    seen: dict[str, int] = {}
    for index, pair in enumerate(pairs):
        name = _pair_name(index, pair.id)
        if not pair.id.strip():
            return f"{name}: id is empty"
        if pair.id in seen:
            return f"{name}: id is a duplicate of pairs[{seen[pair.id]}]"
        seen[pair.id] = index
        for field in ("query", "document"):
            text = getattr(pair, field)
            if not text.strip():
                return f"{name}: {field} is empty"
            if len(text) > limits.max_text_chars:
                limit = limits.max_text_chars
                return f"{name}: {field} has {len(text)} characters, more than the limit of {limit}"
    return None


def check_refine_request(request: teacher_pb2.RefineRequest, limits: Limits, max_rewrites: int) -> str | None:
    if not request.query.strip():
        return "query is empty"
    for field in ("query", "document"):
        if len(getattr(request, field)) > limits.max_text_chars:
            return f"{field} is longer than the limit of {limits.max_text_chars} characters"
    if request.num_rewrites > max_rewrites:
        return f"num_rewrites is {request.num_rewrites}, more than the limit of {max_rewrites}"
    return None


def _bytes_twin(message: type[Message]) -> type[Message]:
    """The same message schema with every string field turned into bytes."""
    file_proto = descriptor_pb2.FileDescriptorProto.FromString(message.DESCRIPTOR.file.serialized_pb)
    file_proto.ClearField("service")
    for message_proto in file_proto.message_type:
        for field in message_proto.field:
            if field.type == descriptor_pb2.FieldDescriptorProto.TYPE_STRING:
                field.type = descriptor_pb2.FieldDescriptorProto.TYPE_BYTES
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file_proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(message.DESCRIPTOR.full_name))


def _first_invalid_utf8(raw: Message) -> str:
    """Names the first string field of a bytes-twin message that is not UTF-8."""
    for index, pair in enumerate(getattr(raw, "pairs", [])):
        pair_id = pair.id.decode("utf-8", "replace")
        for field in ("id", "query", "document"):
            try:
                getattr(pair, field).decode("utf-8")
            except UnicodeDecodeError as error:
                where = f"{error.reason} at byte {error.start}"
                return f"{_pair_name(index, pair_id)}: {field} is not valid UTF-8 ({where})"
    for field in ("query", "document"):
        value = getattr(raw, field, b"")
        try:
            value.decode("utf-8")
        except UnicodeDecodeError as error:
            return f"{field} is not valid UTF-8 ({error.reason} at byte {error.start})"
    return "a string field is not valid UTF-8"


def lenient_deserializer(message: type[Message]) -> Callable[[bytes], Message | InvalidRequest]:
    """A request deserializer that returns ``InvalidRequest`` instead of raising."""
    twin = _bytes_twin(message)

    def deserialize(data: bytes) -> Message | InvalidRequest:
        try:
            return message.FromString(data)
        except DecodeError:
            try:
                return InvalidRequest(_first_invalid_utf8(twin.FromString(data)))
            except DecodeError as error:
                return InvalidRequest(f"request is not a valid {message.DESCRIPTOR.full_name}: {error}")

    return deserialize
