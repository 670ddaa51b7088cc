"""Cross-cutting concerns of the teacher service, as grpc.aio server interceptors."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import grpc

from protege.v1 import SERVICE_NAME

from .metrics import Metrics

HandlerFactory = Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler | None]]
_TEACHER_PREFIX = f"/{SERVICE_NAME}/"
# Kubernetes' native gRPC probes send no credentials.
_OPEN_PREFIXES = ("/grpc.health.v1.Health/",)


def _with_behaviour(handler: grpc.RpcMethodHandler, behaviour: Callable[..., Any]) -> grpc.RpcMethodHandler:
    """``handler`` with its RPC function replaced, keeping its streaming shape and (de)serializers."""
    make = {
        (False, False): grpc.unary_unary_rpc_method_handler,
        (False, True): grpc.unary_stream_rpc_method_handler,
        (True, False): grpc.stream_unary_rpc_method_handler,
        (True, True): grpc.stream_stream_rpc_method_handler,
    }[(handler.request_streaming, handler.response_streaming)]
    return make(
        behaviour,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


def read_tokens(path: str) -> list[str]:
    """Tokens from a file, one per line (several allow rotation); ``#`` starts a comment."""
    with open(path, encoding="utf-8") as file:
        tokens = [line.split("#", 1)[0].strip() for line in file]
    tokens = [token for token in tokens if token]
    if not tokens:
        raise ValueError(f"token file {path} holds no token")
    return tokens


class BearerTokenInterceptor(grpc.aio.ServerInterceptor):
    """Refuses calls without ``authorization: Bearer <token>`` with UNAUTHENTICATED.

    Health checks stay open. Tokens are compared in constant time and never logged.

    Example::

        grpc.aio.server(interceptors=[BearerTokenInterceptor(read_tokens("token.txt"))])
    """

    def __init__(self, tokens: Sequence[str]) -> None:
        self._tokens = [token.encode() for token in tokens]

    async def intercept_service(
        self, continuation: HandlerFactory, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        handler = await continuation(handler_call_details)
        if handler is None or handler_call_details.method.startswith(_OPEN_PREFIXES):
            return handler
        metadata = dict(handler_call_details.invocation_metadata or ())
        header = metadata.get("authorization", "")
        if not header:
            return _with_behaviour(handler, _deny("missing authorization metadata: send 'Bearer <token>'"))
        scheme, _, token = header.partition(" ")
        valid = scheme.lower() == "bearer" and any(
            hmac.compare_digest(token.encode(), t) for t in self._tokens
        )
        if not valid:
            return _with_behaviour(handler, _deny("invalid bearer token"))
        return handler


def _deny(detail: str) -> Callable[..., Awaitable[None]]:
    async def deny(_request: Any, context: grpc.aio.ServicerContext) -> None:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, detail)

    return deny


class CallTracker(grpc.aio.ServerInterceptor):
    """Counts and times Teacher calls by status code, and lets shutdown drain them:
    once ``draining`` is set, new calls get UNAVAILABLE while running ones finish."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self.draining = False
        self._inflight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def inflight(self) -> int:
        return self._inflight

    async def wait_idle(self, timeout: float) -> bool:
        """True when every call finished within ``timeout`` seconds."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def intercept_service(
        self, continuation: HandlerFactory, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        handler = await continuation(handler_call_details)
        if handler is None or not handler_call_details.method.startswith(_TEACHER_PREFIX):
            return handler
        method = handler_call_details.method.rsplit("/", 1)[-1]
        if handler.response_streaming:
            inner_stream = handler.stream_stream or handler.unary_stream

            async def stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
                async with self._track(method, context):
                    async for response in inner_stream(request, context):
                        yield response

            return _with_behaviour(handler, stream)
        inner_unary = handler.unary_unary or handler.stream_unary

        async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
            async with self._track(method, context):
                return await inner_unary(request, context)

        return _with_behaviour(handler, unary)

    @contextlib.asynccontextmanager
    async def _track(self, method: str, context: grpc.aio.ServicerContext) -> AsyncIterator[None]:
        if self.draining:
            self.metrics.requests.labels(method, "UNAVAILABLE").inc()
            await context.abort(
                grpc.StatusCode.UNAVAILABLE, "teacher is shutting down; retry another replica"
            )
        self._inflight += 1
        self._idle.clear()
        self.metrics.inflight.inc()
        started = time.perf_counter()
        code = "OK"
        try:
            yield
        except grpc.aio.AbortError:
            code = getattr(context.code(), "name", "UNKNOWN")
            raise
        except (asyncio.CancelledError, GeneratorExit):
            code = "CANCELLED"
            raise
        except Exception:
            code = "UNKNOWN"
            raise
        finally:
            self._inflight -= 1
            if self._inflight == 0:
                self._idle.set()
            self.metrics.inflight.dec()
            self.metrics.requests.labels(method, code).inc()
            self.metrics.request_seconds.labels(method).observe(time.perf_counter() - started)
