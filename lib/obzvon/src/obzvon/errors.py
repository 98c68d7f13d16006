"""gRPC errors with rich details (google.rpc.BadRequest field violations), per Google's API design guide."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn

import grpc
from google.protobuf import any_pb2, duration_pb2
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


# The details travel in the response trailer, which clients cap (grpc.max_metadata_size, 8 KiB by
# default): an upload with 50,000 bad rows must still read INVALID_ARGUMENT, so only the first
# violations are listed, each cut short, and the rest are counted.
MAX_LISTED_VIOLATIONS = 10
MAX_FIELD_CHARS = 120
MAX_DESCRIPTION_CHARS = 200
MORE_FIELD = "(more)"
# The status message (grpc-message, also in the trailer) repeats the first few.
MAX_MESSAGE_VIOLATIONS = 3


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def bounded_violations(violations: list[FieldViolation], total: int | None = None) -> list[FieldViolation]:
    """The first MAX_LISTED_VIOLATIONS violations, each cut short, then one "(more)" entry counting the rest.

    total: how many there were, when the caller kept only the first ones (a streamed upload)."""
    listed = [
        FieldViolation(_cut(v.field, MAX_FIELD_CHARS), _cut(v.description, MAX_DESCRIPTION_CHARS))
        for v in violations[:MAX_LISTED_VIOLATIONS]
    ]
    rest = max(len(violations), total or 0) - len(listed)
    if rest > 0:
        listed.append(FieldViolation(MORE_FIELD, f"{rest} more problems not listed; fix these and try again"))
    return listed


def invalid_argument_status(violations: list[FieldViolation], total: int | None = None) -> grpc.Status:
    listed = bounded_violations(violations, total)
    count_all = max(len(violations), total or 0)
    detail = any_pb2.Any()
    detail.Pack(
        error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description) for v in listed
            ]
        )
    )
    count = f"{count_all} problems" if count_all != 1 else "1 problem"
    message = f"{count}: " + "; ".join(str(v) for v in listed[:MAX_MESSAGE_VIOLATIONS])
    status = status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message=message, details=[detail])
    return rpc_status.to_status(status)


async def abort_invalid(
    context: grpc.aio.ServicerContext[object, object], violations: list[FieldViolation], total: int | None = None
) -> NoReturn:
    await context.abort_with_status(invalid_argument_status(violations, total))
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


def resource_exhausted_status(message: str, retry_after_s: float) -> grpc.Status:
    """RESOURCE_EXHAUSTED with a google.rpc.RetryInfo saying when to try again."""
    delay = duration_pb2.Duration()
    delay.FromNanoseconds(int(retry_after_s * 1e9))
    detail = any_pb2.Any()
    detail.Pack(error_details_pb2.RetryInfo(retry_delay=delay))
    status = status_pb2.Status(code=code_pb2.RESOURCE_EXHAUSTED, message=message, details=[detail])
    return rpc_status.to_status(status)


def quota_exceeded_status(subject: str, description: str) -> grpc.Status:
    """RESOURCE_EXHAUSTED with a google.rpc.QuotaFailure naming the quota (no retry helps)."""
    detail = any_pb2.Any()
    detail.Pack(
        error_details_pb2.QuotaFailure(
            violations=[error_details_pb2.QuotaFailure.Violation(subject=subject, description=description)]
        )
    )
    status = status_pb2.Status(code=code_pb2.RESOURCE_EXHAUSTED, message=description, details=[detail])
    return rpc_status.to_status(status)


def retry_delay_s(error: grpc.aio.AioRpcError | grpc.RpcError) -> float | None:
    """Client side: the RetryInfo delay of an error, in seconds, when it carries one."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    for detail in status.details if status else ():
        info = error_details_pb2.RetryInfo()
        if detail.Unpack(info):
            return float(info.retry_delay.ToNanoseconds() / 1e9)
    return None
