"""Bearer tokens, TLS and mTLS."""

from __future__ import annotations

import logging
from pathlib import Path

import grpc
import pytest
from certs import make_certs

from protege.client import Pair, TeacherClient, TeacherError
from protege.server.backends import Backend

PAIR = [Pair("1", "cordless drill", "drill driver kit")]


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "tokens"
    path.write_text("# rotated tokens\nold-token-123\nnew-token-456\n")
    return path


def test_token_required_except_for_health(
    start_teacher, served_backend: Backend, token_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    teacher, anonymous = start_teacher(served_backend, token_file=str(token_file))
    target = f"127.0.0.1:{teacher.port}"
    for call in (
        anonymous.describe,
        lambda: anonymous.label(PAIR),
        lambda: list(anonymous.label_stream(PAIR)),
    ):
        with pytest.raises(TeacherError) as raised:
            call()
        assert raised.value.code == grpc.StatusCode.UNAUTHENTICATED
        assert "missing authorization" in raised.value.details
    with TeacherClient(target, token="wrong-token") as wrong, pytest.raises(TeacherError) as raised:
        wrong.label(PAIR)
    assert (
        raised.value.code == grpc.StatusCode.UNAUTHENTICATED
        and "invalid bearer token" in raised.value.details
    )
    assert anonymous.health() == "SERVING"
    for token in ("old-token-123", "new-token-456"):
        with TeacherClient(target, token=token) as client:
            assert client.label(PAIR)[0].id == "1"
            assert next(iter(client.label_stream(PAIR))).id == "1"
    assert "token-123" not in caplog.text and "token-456" not in caplog.text


def test_empty_token_file_is_refused(tmp_path: Path, served_backend: Backend, start_teacher) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\n# nothing\n")
    with pytest.raises(ValueError, match="holds no token"):
        start_teacher(served_backend, token_file=str(empty))


def test_tls_and_plaintext_refused(tmp_path: Path, start_teacher, served_backend: Backend) -> None:
    certs = make_certs(tmp_path)
    teacher, _ = start_teacher(served_backend, tls_cert=str(certs.server_cert), tls_key=str(certs.server_key))
    with TeacherClient(f"localhost:{teacher.port}", root_certificates=certs.ca.read_bytes()) as client:
        assert client.label(PAIR)[0].id == "1"
    with (
        TeacherClient(f"127.0.0.1:{teacher.port}", timeout=3) as plaintext,
        pytest.raises(TeacherError) as raised,
    ):
        plaintext.describe()
    # The handshake never completes: refused at once, or retried until the deadline.
    assert raised.value.code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


def test_mtls_requires_a_client_certificate(tmp_path: Path, start_teacher, served_backend: Backend) -> None:
    certs = make_certs(tmp_path)
    teacher, _ = start_teacher(
        served_backend,
        tls_cert=str(certs.server_cert),
        tls_key=str(certs.server_key),
        tls_client_ca=str(certs.ca),
    )
    target, ca = f"localhost:{teacher.port}", certs.ca.read_bytes()
    with (
        TeacherClient(target, root_certificates=ca, timeout=3) as no_cert,
        pytest.raises(TeacherError) as raised,
    ):
        no_cert.describe()
    assert raised.value.code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
    with TeacherClient(
        target,
        root_certificates=ca,
        client_cert=certs.client_cert.read_bytes(),
        client_key=certs.client_key.read_bytes(),
    ) as client:
        assert client.label(PAIR)[0].id == "1"
