"""gRPC errors with rich details (google.rpc.BadRequest field violations), per Google's API design guide."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str

    def __str__(self) -> str:
        return f"{self.field}: {self.description}"


class InvalidArgument(Exception):
    """Raised by validation code; the API layer turns it into INVALID_ARGUMENT with field details."""

    def __init__(self, violations: list[FieldViolation]) -> None:
        super().__init__("; ".join(str(v) for v in violations))
        self.violations = violations


def invalid_argument_status(violations: list[FieldViolation]) -> grpc.Status:
    detail = any_pb2.Any()
    detail.Pack(
        error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
                for v in violations
            ]
        )
    )
    status = status_pb2.Status(
        code=code_pb2.INVALID_ARGUMENT,
        message="; ".join(str(v) for v in violations),
        details=[detail],
    )
    return rpc_status.to_status(status)


async def abort_invalid(
    context: grpc.aio.ServicerContext[object, object], violations: list[FieldViolation]
) -> NoReturn:
    await context.abort_with_status(invalid_argument_status(violations))
    raise AssertionError("abort_with_status returns only by raising")


def field_violations(error: grpc.aio.AioRpcError | grpc.RpcError) -> list[FieldViolation]:
    """Client side: the field violations carried by an INVALID_ARGUMENT error."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    out: list[FieldViolation] = []
    for detail in status.details if status else ():
        bad = error_details_pb2.BadRequest()
        if detail.Unpack(bad):
            out.extend(FieldViolation(v.field, v.description) for v in bad.field_violations)
    return out
