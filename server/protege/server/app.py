"""The teacher server's lifecycle: bind, load the model, serve, drain on SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from protege.common.setting_names import SettingError
from protege.v1 import SERVICE_NAME

from .backends import Backend, BackendUnavailable, load_backend
from .cache import LabelCache
from .config import ServeConfig
from .interceptors import BearerTokenInterceptor, CallTracker, read_tokens
from .labeler import Labeler
from .metrics import Metrics
from .servicer import TeacherServicer

logger = logging.getLogger("protege.server")

# Seconds between tries of a backend whose upstream (an LLM endpoint) does not answer.
RECHECK_S = 5.0


# The health service a liveness probe asks: the process is up, whatever its model's upstream does.
LIVENESS = "liveness"


class TeacherServer:
    """A running teacher: gRPC (Teacher, Health, reflection) plus the metrics endpoint.

    Health (``""`` and ``protege.v1.Teacher``: ready to label) is NOT_SERVING from the moment the
    port is bound until the model is loaded, and while an upstream LLM is down, then SERVING;
    ``LIVENESS`` is SERVING while the process answers. On ``shutdown`` all turn NOT_SERVING, new
    calls get UNAVAILABLE, and calls in progress finish (up to ``grace_s``) before the server stops.

    Example::

        server = TeacherServer(ServeConfig("bi-encoder", model_path, port=0, metrics_port=0))
        port = await server.start()
        ...
        await server.shutdown()
    """

    def __init__(self, config: ServeConfig, backend: Backend | None = None) -> None:
        self.config = config
        self.metrics = Metrics()
        self.health = health.aio.HealthServicer()
        self.tracker = CallTracker(self.metrics)
        self.servicer = TeacherServicer(config)
        self.port = 0
        self.metrics_port = 0
        self._backend = backend
        self._labeler: Labeler | None = None
        self._cache: LabelCache | None = None
        self._server: grpc.aio.Server | None = None
        self._stopped = asyncio.Event()
        self._shutting_down = False
        self._watcher: asyncio.Task[None] | None = None  # waits for a backend's upstream to answer
        self.servicer.backend_down = self._backend_down

    async def start(self) -> int:
        """Binds and serves health at once, then loads the model; returns the gRPC port."""
        config = self.config
        interceptors: list[grpc.aio.ServerInterceptor] = []
        if config.token_file:
            interceptors.append(BearerTokenInterceptor(read_tokens(config.token_file)))
        interceptors.append(self.tracker)
        size = config.limits.max_message_bytes
        self._server = grpc.aio.server(
            interceptors=interceptors,
            options=[
                ("grpc.max_receive_message_length", size),
                ("grpc.max_send_message_length", size),
                # Two servers must never share a port silently.
                ("grpc.so_reuseport", 0),
            ],
        )
        for service in ("", SERVICE_NAME):
            await self.health.set(service, health_pb2.HealthCheckResponse.NOT_SERVING)
        # Liveness apart from readiness: an upstream LLM that is down makes the teacher not ready,
        # not dead, so a Kubernetes liveness probe must not restart it for that.
        await self.health.set(LIVENESS, health_pb2.HealthCheckResponse.SERVING)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self._server)
        self.servicer.add_to_server(self._server)
        if config.reflection:
            names = (
                SERVICE_NAME,
                health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                reflection.SERVICE_NAME,
            )
            reflection.enable_server_reflection(names, self._server)
        address = f"{config.host}:{config.port}"
        credentials = self._credentials()
        if credentials is None:
            self.port = self._server.add_insecure_port(address)
        else:
            self.port = self._server.add_secure_port(address, credentials)
        if self.port == 0:
            raise OSError(f"could not bind {address}")
        await self._server.start()
        if config.metrics_port:
            self.metrics_port = self.metrics.serve(config.metrics_port)
        logger.info(
            "bound %s:%d; loading %s teacher %s", config.host, self.port, config.backend, config.model
        )
        try:
            await self._load()
        except BaseException:
            await self._server.stop(0)
            self.metrics.close()
            raise
        return self.port

    async def _load(self) -> None:
        """Loads the backend and serves it; where its upstream (an LLM endpoint) is down, stays
        NOT_SERVING and tries again every ``RECHECK_S`` in the background."""
        try:
            backend = self._backend or await self._load_backend()
        except BackendUnavailable as error:
            self._watcher = asyncio.create_task(self._load_when_up(error))
            return
        await self._serve_with(backend)

    async def _load_backend(self) -> Backend:
        config = self.config
        return await asyncio.to_thread(load_backend, config.backend, config.model, **config.model_options())

    async def _load_when_up(self, error: BackendUnavailable) -> None:
        while not self._shutting_down:
            logger.warning(
                "teacher backend unavailable (%s); NOT_SERVING, trying again in %g s", error, RECHECK_S
            )
            self.servicer.loading_problem = f"teacher backend unavailable: {error}"
            self.metrics.backend_up.set(0)
            await asyncio.sleep(RECHECK_S)
            try:
                backend = await self._load_backend()
            except BackendUnavailable as again:
                error = again
                continue
            self.metrics.backend_up.set(1)
            await self._serve_with(backend)
            return

    async def _backend_down(self, error: BackendUnavailable) -> None:
        """A call found the backend's upstream down: NOT_SERVING until ``check`` passes again."""
        if self._watcher is not None and not self._watcher.done():
            return
        logger.warning("teacher backend unavailable (%s): NOT_SERVING until it answers", error)
        self.metrics.backend_up.set(0)
        for service in ("", SERVICE_NAME):
            await self.health.set(service, health_pb2.HealthCheckResponse.NOT_SERVING)
        # Liveness apart from readiness: an upstream LLM that is down makes the teacher not ready,
        # not dead, so a Kubernetes liveness probe must not restart it for that.
        await self.health.set(LIVENESS, health_pb2.HealthCheckResponse.SERVING)
        self._watcher = asyncio.create_task(self._watch_backend())

    async def _watch_backend(self) -> None:
        assert self._labeler is not None
        while not self._shutting_down:
            await asyncio.sleep(RECHECK_S)
            try:
                await asyncio.to_thread(self._labeler.backend.check)
            except BackendUnavailable:
                continue
            if not self._shutting_down:
                logger.info("teacher backend answers again: SERVING")
                self.metrics.backend_up.set(1)
                for service in ("", SERVICE_NAME):
                    await self.health.set(service, health_pb2.HealthCheckResponse.SERVING)
            return

    async def _serve_with(self, backend: Backend) -> None:
        config = self.config
        self._cache = LabelCache(config.cache, memory_items=config.cache_memory_items)
        self.metrics.cache_items.set_function(self._cache.memory_items_held)
        self._labeler = Labeler(backend, self._cache, config, self.metrics)
        await self._labeler.start()
        self.servicer.labeler = self._labeler
        for service in ("", SERVICE_NAME):
            await self.health.set(service, health_pb2.HealthCheckResponse.SERVING)
        logger.info(
            "serving %s on port %d (teacher version %s, metrics port %s, tls %s, auth %s)",
            SERVICE_NAME,
            self.port,
            backend.version,
            self.metrics_port or "off",
            "mtls" if config.tls_client_ca else ("on" if config.tls_cert else "off"),
            "on" if config.token_file else "off",
        )

    def _credentials(self) -> grpc.ServerCredentials | None:
        config = self.config
        if not (config.tls_cert or config.tls_key):
            if config.tls_client_ca:
                raise SettingError(
                    "{tls_client_ca} needs {tls_cert} and {tls_key}", "tls_client_ca", "tls_cert", "tls_key"
                )
            return None
        if not (config.tls_cert and config.tls_key):
            raise SettingError("TLS needs both {tls_cert} and {tls_key}", "tls_cert", "tls_key")
        key = Path(config.tls_key).read_bytes()
        cert = Path(config.tls_cert).read_bytes()
        client_ca = Path(config.tls_client_ca).read_bytes() if config.tls_client_ca else None
        return grpc.ssl_server_credentials(
            [(key, cert)], root_certificates=client_ca, require_client_auth=client_ca is not None
        )

    async def shutdown(self) -> None:
        """Graceful stop: NOT_SERVING, refuse new calls, drain calls in progress, stop."""
        if self._shutting_down:
            return
        self._shutting_down = True
        await self.health.enter_graceful_shutdown()
        self.tracker.draining = True
        logger.info(
            "shutting down: draining %d call(s), up to %.0f s", self.tracker.inflight, self.config.grace_s
        )
        if not await self.tracker.wait_idle(self.config.grace_s):
            logger.warning(
                "grace period over with %d call(s) still running; cancelling", self.tracker.inflight
            )
        if self._watcher is not None:
            self._watcher.cancel()
        if self._server is not None:
            await self._server.stop(grace=1.0)
        if self._labeler is not None:
            await self._labeler.stop()
        if self._cache is not None:
            self._cache.close()
        self.metrics.close()
        logger.info("stopped")
        self._stopped.set()

    async def wait_for_termination(self) -> None:
        await self._stopped.wait()


async def _serve(config: ServeConfig) -> None:
    server = TeacherServer(config)
    loop = asyncio.get_running_loop()
    shutdown: list[asyncio.Task[None]] = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, lambda: shutdown.append(asyncio.create_task(server.shutdown())))
    await server.start()
    await server.wait_for_termination()


def serve(config: ServeConfig) -> None:
    """Runs a teacher until SIGTERM or SIGINT, then drains and exits."""
    asyncio.run(_serve(config))


class BackgroundTeacher:
    """A teacher served from a background thread (its own event loop): for demos, tests and
    benchmarks that drive it from ordinary synchronous code.

    Example::

        config = ServeConfig("bi-encoder", model_path, host="127.0.0.1", port=0, metrics_port=0)
        with BackgroundTeacher(config) as teacher:
            client = TeacherClient(f"127.0.0.1:{teacher.port}")
    """

    def __init__(self, config: ServeConfig, backend: Backend | None = None) -> None:
        self.server = TeacherServer(config, backend)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="protege-teacher", daemon=True)

    @property
    def port(self) -> int:
        return self.server.port

    def start(self) -> BackgroundTeacher:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self._loop).result()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(self.server.shutdown(), self._loop).result()
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
        self._loop.close()

    def __enter__(self) -> BackgroundTeacher:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
