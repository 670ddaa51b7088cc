from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Pair(_message.Message):
    __slots__ = ("id", "query", "document")
    ID_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    id: str
    query: str
    document: str
    def __init__(self, id: _Optional[str] = ..., query: _Optional[str] = ..., document: _Optional[str] = ...) -> None: ...

class Label(_message.Message):
    __slots__ = ("id", "score", "class_probabilities", "cached")
    ID_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    CLASS_PROBABILITIES_FIELD_NUMBER: _ClassVar[int]
    CACHED_FIELD_NUMBER: _ClassVar[int]
    id: str
    score: float
    class_probabilities: _containers.RepeatedScalarFieldContainer[float]
    cached: bool
    def __init__(self, id: _Optional[str] = ..., score: _Optional[float] = ..., class_probabilities: _Optional[_Iterable[float]] = ..., cached: _Optional[bool] = ...) -> None: ...

class LabelRequest(_message.Message):
    __slots__ = ("pairs",)
    PAIRS_FIELD_NUMBER: _ClassVar[int]
    pairs: _containers.RepeatedCompositeFieldContainer[Pair]
    def __init__(self, pairs: _Optional[_Iterable[_Union[Pair, _Mapping]]] = ...) -> None: ...

class LabelResponse(_message.Message):
    __slots__ = ("labels", "teacher_version")
    LABELS_FIELD_NUMBER: _ClassVar[int]
    TEACHER_VERSION_FIELD_NUMBER: _ClassVar[int]
    labels: _containers.RepeatedCompositeFieldContainer[Label]
    teacher_version: str
    def __init__(self, labels: _Optional[_Iterable[_Union[Label, _Mapping]]] = ..., teacher_version: _Optional[str] = ...) -> None: ...

class DescribeRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class LabelScale(_message.Message):
    __slots__ = ("min", "max", "class_names")
    MIN_FIELD_NUMBER: _ClassVar[int]
    MAX_FIELD_NUMBER: _ClassVar[int]
    CLASS_NAMES_FIELD_NUMBER: _ClassVar[int]
    min: float
    max: float
    class_names: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, min: _Optional[float] = ..., max: _Optional[float] = ..., class_names: _Optional[_Iterable[str]] = ...) -> None: ...

class Limits(_message.Message):
    __slots__ = ("max_pairs_per_request", "max_text_chars", "max_message_bytes", "stream_window")
    MAX_PAIRS_PER_REQUEST_FIELD_NUMBER: _ClassVar[int]
    MAX_TEXT_CHARS_FIELD_NUMBER: _ClassVar[int]
    MAX_MESSAGE_BYTES_FIELD_NUMBER: _ClassVar[int]
    STREAM_WINDOW_FIELD_NUMBER: _ClassVar[int]
    max_pairs_per_request: int
    max_text_chars: int
    max_message_bytes: int
    stream_window: int
    def __init__(self, max_pairs_per_request: _Optional[int] = ..., max_text_chars: _Optional[int] = ..., max_message_bytes: _Optional[int] = ..., stream_window: _Optional[int] = ...) -> None: ...

class DescribeResponse(_message.Message):
    __slots__ = ("teacher_id", "teacher_version", "backend", "scale", "limits", "supports_refine", "scoring")
    TEACHER_ID_FIELD_NUMBER: _ClassVar[int]
    TEACHER_VERSION_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    SCALE_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    SUPPORTS_REFINE_FIELD_NUMBER: _ClassVar[int]
    SCORING_FIELD_NUMBER: _ClassVar[int]
    teacher_id: str
    teacher_version: str
    backend: str
    scale: LabelScale
    limits: Limits
    supports_refine: bool
    scoring: str
    def __init__(self, teacher_id: _Optional[str] = ..., teacher_version: _Optional[str] = ..., backend: _Optional[str] = ..., scale: _Optional[_Union[LabelScale, _Mapping]] = ..., limits: _Optional[_Union[Limits, _Mapping]] = ..., supports_refine: _Optional[bool] = ..., scoring: _Optional[str] = ...) -> None: ...

class RefineRequest(_message.Message):
    __slots__ = ("query", "document", "num_rewrites", "seed")
    QUERY_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    NUM_REWRITES_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    query: str
    document: str
    num_rewrites: int
    seed: int
    def __init__(self, query: _Optional[str] = ..., document: _Optional[str] = ..., num_rewrites: _Optional[int] = ..., seed: _Optional[int] = ...) -> None: ...

class Rewrite(_message.Message):
    __slots__ = ("query",)
    QUERY_FIELD_NUMBER: _ClassVar[int]
    query: str
    def __init__(self, query: _Optional[str] = ...) -> None: ...

class RefineResponse(_message.Message):
    __slots__ = ("rewrites", "teacher_version")
    REWRITES_FIELD_NUMBER: _ClassVar[int]
    TEACHER_VERSION_FIELD_NUMBER: _ClassVar[int]
    rewrites: _containers.RepeatedCompositeFieldContainer[Rewrite]
    teacher_version: str
    def __init__(self, rewrites: _Optional[_Iterable[_Union[Rewrite, _Mapping]]] = ..., teacher_version: _Optional[str] = ...) -> None: ...
