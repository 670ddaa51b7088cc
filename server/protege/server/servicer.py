"""The ``protege.v1.Teacher`` servicer: validation, then the labeler."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import grpc

from protege.v1 import SERVICE_NAME, teacher_pb2, teacher_pb2_grpc

from .backends import BackendRefused, BackendUnavailable
from .batcher import QueueFull
from .config import ServeConfig
from .labeler import Labeler
from .validation import (
    InvalidRequest,
    check_label_request,
    check_refine_request,
    lenient_deserializer,
)

MAX_REWRITES = 16
DEFAULT_REWRITES = 4
# What each error of the labeler is on the wire: one table for every RPC.
STATUS: dict[type[Exception], tuple[grpc.StatusCode, str]] = {
    QueueFull: (grpc.StatusCode.RESOURCE_EXHAUSTED, "teacher overloaded: {error}; retry later"),
    BackendUnavailable: (grpc.StatusCode.UNAVAILABLE, "teacher backend unavailable: {error}; retry later"),
    BackendRefused: (grpc.StatusCode.FAILED_PRECONDITION, "teacher backend refused: {error}"),
}
LABELER_ERRORS = tuple(STATUS)


class TeacherServicer(teacher_pb2_grpc.TeacherServicer):
    """Serves a labeler. Until ``labeler`` is set (the model is loading), calls get UNAVAILABLE.

    Example::

        servicer = TeacherServicer(ServeConfig("bi-encoder", "all-MiniLM-L6-v2"))
        servicer.add_to_server(server)
        servicer.labeler = labeler  # once the model is loaded
    """

    def __init__(self, config: ServeConfig) -> None:
        self.limits = config.limits
        self.teacher_id = config.teacher_id or f"{config.backend}:{Path(config.model).name}"
        self.stream_window = config.stream_window
        self.labeler: Labeler | None = None
        self.loading_problem: str | None = None  # why the model is not loaded yet, where known
        # Told when a call finds the backend's upstream down (the server turns NOT_SERVING).
        self.backend_down: Callable[[BackendUnavailable], Awaitable[None]] | None = None

    def add_to_server(self, server: grpc.aio.Server) -> None:
        """Registers the service with request parsing that reports invalid UTF-8 by field."""
        serialize = {
            "Describe": teacher_pb2.DescribeResponse.SerializeToString,
            "Label": teacher_pb2.LabelResponse.SerializeToString,
            "Refine": teacher_pb2.RefineResponse.SerializeToString,
        }
        handlers = {
            "Describe": grpc.unary_unary_rpc_method_handler(
                self.Describe, lenient_deserializer(teacher_pb2.DescribeRequest), serialize["Describe"]
            ),
            "Label": grpc.unary_unary_rpc_method_handler(
                self.Label, lenient_deserializer(teacher_pb2.LabelRequest), serialize["Label"]
            ),
            "LabelStream": grpc.stream_stream_rpc_method_handler(
                self.LabelStream, lenient_deserializer(teacher_pb2.LabelRequest), serialize["Label"]
            ),
            "Refine": grpc.unary_unary_rpc_method_handler(
                self.Refine, lenient_deserializer(teacher_pb2.RefineRequest), serialize["Refine"]
            ),
        }
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE_NAME, handlers),))

    def describe(self, labeler: Labeler) -> teacher_pb2.DescribeResponse:
        backend = labeler.backend
        return teacher_pb2.DescribeResponse(
            teacher_id=self.teacher_id,
            teacher_version=backend.version,
            backend=backend.kind,
            scale=teacher_pb2.LabelScale(min=0.0, max=1.0, class_names=list(backend.class_names)),
            limits=teacher_pb2.Limits(
                max_pairs_per_request=self.limits.max_pairs_per_request,
                max_text_chars=self.limits.max_text_chars,
                max_message_bytes=self.limits.max_message_bytes,
                stream_window=self.stream_window,
            ),
            supports_refine=backend.supports_refine,
            scoring=backend.scoring,
        )

    async def Describe(self, request, context):
        if isinstance(request, InvalidRequest):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.detail)
        return self.describe(await self._ready(context))

    async def Label(self, request, context):
        labeler = await self._ready(context)
        await self._check(request, context)
        try:
            return await self._label(labeler, request)
        except LABELER_ERRORS as error:
            await self._abort_for(context, error)

    async def LabelStream(self, request_iterator, context) -> AsyncIterator[teacher_pb2.LabelResponse]:
        """Works on up to ``stream_window`` requests at once; answers in request order."""
        labeler = await self._ready(context)
        window = asyncio.Semaphore(self.stream_window)
        answers: asyncio.Queue[asyncio.Task | str | BaseException | None] = asyncio.Queue()

        async def read() -> None:
            try:
                async for request in request_iterator:
                    problem = self._problem(request)
                    if problem is not None:
                        answers.put_nowait(problem)
                        return
                    await window.acquire()
                    answers.put_nowait(asyncio.create_task(self._label(labeler, request)))
                answers.put_nowait(None)
            except Exception as error:
                answers.put_nowait(error)

        reader = asyncio.create_task(read())
        pending: list[asyncio.Task] = []
        try:
            while (answer := await answers.get()) is not None:
                if isinstance(answer, str):
                    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, answer)
                if isinstance(answer, BaseException):
                    raise answer
                pending.append(answer)
                try:
                    response = await answer
                except LABELER_ERRORS as error:
                    await self._abort_for(context, error)
                pending.remove(answer)
                window.release()
                yield response
        finally:
            reader.cancel()
            while not answers.empty():
                leftover = answers.get_nowait()
                if isinstance(leftover, asyncio.Task):
                    pending.append(leftover)
            for task in pending:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader

    async def Refine(self, request, context):
        labeler = await self._ready(context)
        if isinstance(request, InvalidRequest):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.detail)
        if not labeler.backend.supports_refine:
            await context.abort(
                grpc.StatusCode.UNIMPLEMENTED,
                f"the {labeler.backend.kind} backend does not generate rewrites; serve an llm-judge teacher",
            )
        problem = check_refine_request(request, self.limits, MAX_REWRITES)
        if problem is not None:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, problem)
        try:
            rewrites = await labeler.refine(
                request.query, request.document, request.num_rewrites or DEFAULT_REWRITES, request.seed
            )
        except LABELER_ERRORS as error:
            await self._abort_for(context, error)
        return teacher_pb2.RefineResponse(
            rewrites=[teacher_pb2.Rewrite(query=text) for text in rewrites],
            teacher_version=labeler.backend.version,
        )

    async def _ready(self, context: grpc.aio.ServicerContext) -> Labeler:
        if self.labeler is None:
            problem = self.loading_problem or "teacher model is still loading"
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"{problem}; retry shortly")
        return self.labeler  # type: ignore[return-value]

    async def _abort_for(self, context: grpc.aio.ServicerContext, error: Exception) -> None:
        """The call ended with ``error``'s status from ``STATUS``; an unavailable backend is told to
        the server too (it turns NOT_SERVING)."""
        if isinstance(error, BackendUnavailable) and self.backend_down is not None:
            await self.backend_down(error)
        code, detail = next(STATUS[kind] for kind in STATUS if isinstance(error, kind))
        await context.abort(code, detail.format(error=error))

    def _problem(self, request: teacher_pb2.LabelRequest | InvalidRequest) -> str | None:
        if isinstance(request, InvalidRequest):
            return request.detail
        return check_label_request(request, self.limits)

    async def _check(self, request: teacher_pb2.LabelRequest | InvalidRequest, context) -> None:
        problem = self._problem(request)
        if problem is not None:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, problem)

    async def _label(self, labeler: Labeler, request: teacher_pb2.LabelRequest) -> teacher_pb2.LabelResponse:
        pairs = request.pairs
        results = await labeler.label([(pair.query, pair.document) for pair in pairs])
        return teacher_pb2.LabelResponse(
            labels=[
                teacher_pb2.Label(
                    id=pair.id,
                    score=result.score,
                    class_probabilities=result.class_probabilities,
                    cached=result.cached,
                )
                for pair, result in zip(pairs, results, strict=False)
            ],
            teacher_version=labeler.backend.version,
        )
