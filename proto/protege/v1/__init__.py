"""The wire contract: ``teacher.proto`` and the stubs protoc makes of it (``scripts/generate_proto.py``).

Example::

    from protege.v1 import teacher_pb2, teacher_pb2_grpc

    stub = teacher_pb2_grpc.TeacherStub(channel)
    stub.Label(teacher_pb2.LabelRequest(pairs=[teacher_pb2.Pair(id="1", query="drill", document="…")]))
"""

from . import teacher_pb2, teacher_pb2_grpc

SERVICE_NAME = teacher_pb2.DESCRIPTOR.services_by_name["Teacher"].full_name

__all__ = ["SERVICE_NAME", "teacher_pb2", "teacher_pb2_grpc"]
