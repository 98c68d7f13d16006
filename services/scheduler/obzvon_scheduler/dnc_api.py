"""DncService: the tenant's do-not-call list, and the platform's global one for the admin key.

A callee's opt-out (made by the dialer) is not the tenant's entry: RemoveDncNumbers refuses it, whole
request and all, and only LiftOptOut with a newer consent record lifts it.  Every change is audited.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta
from typing import TypeAlias

import grpc
from google.protobuf import any_pb2
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status
from obzvon.auth import ADMIN, Authenticator
from obzvon.compliance import (
    GLOBAL,
    CalleeOptOutError,
    ConsentEvidence,
    DncAction,
    DncAuditRecord,
    DncRegistry,
    DncSource,
    LiftRefusal,
    LiftRefusedError,
    normalize,
)
from obzvon.errors import FieldViolation, abort_invalid
from obzvon.v1 import dnc_pb2, dnc_pb2_grpc

log = logging.getLogger(__name__)
Context: TypeAlias = grpc.aio.ServicerContext[object, object]
MAX_NUMBERS = 10_000
MAX_REASON = 500
MAX_CHANNEL = 100
MAX_CONSENT_TEXT = 2000
MAX_AUDIT_PAGE = 500
NAMED_IN_ERROR = 5  # callee-made numbers named in a refusal; the rest are counted
# A consent "given" a little ahead of the scheduler's clock is clock skew, not a future promise.
CLOCK_SKEW = timedelta(minutes=1)
_PAGE_TOKEN = re.compile(r"\d{1,19}-\d{1,19}")  # a stream id; 19 digits stay below 2**64

SOURCES = {
    DncSource.UNRECORDED: dnc_pb2.DNC_SOURCE_UNSPECIFIED,
    DncSource.CALLEE_OPT_OUT: dnc_pb2.DNC_SOURCE_CALLEE_OPT_OUT,
    DncSource.TENANT: dnc_pb2.DNC_SOURCE_TENANT,
    DncSource.ADMIN: dnc_pb2.DNC_SOURCE_ADMIN,
    DncSource.IMPORT: dnc_pb2.DNC_SOURCE_IMPORT,
}
ACTIONS = {
    DncAction.ADD: dnc_pb2.DNC_ACTION_ADD,
    DncAction.REMOVE: dnc_pb2.DNC_ACTION_REMOVE,
    DncAction.REMOVE_REFUSED: dnc_pb2.DNC_ACTION_REMOVE_REFUSED,
    DncAction.LIFT: dnc_pb2.DNC_ACTION_LIFT,
}


def _timestamp(at: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(at)
    return ts


def _refusal_status(error: CalleeOptOutError) -> grpc.Status:
    """FAILED_PRECONDITION naming the first few callee-made numbers (and how many more), with a
    google.rpc.PreconditionFailure per named number, so the trailer stays small for any request."""
    named = error.entries[:NAMED_IN_ERROR]
    more = len(error.entries) - len(named)
    message = "; ".join(e.describe() for e in named) + (f"; and {more} more" if more else "") + "; nothing was removed"
    detail = any_pb2.Any()
    detail.Pack(
        error_details_pb2.PreconditionFailure(
            violations=[
                error_details_pb2.PreconditionFailure.Violation(
                    type="DNC_CALLEE_OPT_OUT", subject=e.number, description=e.describe()
                )
                for e in named
            ]
        )
    )
    return rpc_status.to_status(status_pb2.Status(code=code_pb2.FAILED_PRECONDITION, message=message, details=[detail]))


class DncApi(dnc_pb2_grpc.DncServiceServicer):
    def __init__(self, dnc: DncRegistry, auth: Authenticator, default_region: str) -> None:
        self._dnc = dnc
        self._auth = auth
        self._region = default_region

    async def _scope(self, context: Context, global_list: bool) -> str | None:
        caller = await self._auth.caller(context)
        if global_list:
            if caller != ADMIN:
                await context.abort(grpc.StatusCode.PERMISSION_DENIED, "the global list needs the admin key")
            return GLOBAL
        if caller == ADMIN:
            await abort_invalid(context, [FieldViolation("global", "the admin key manages only the global list")])
        return caller

    async def _numbers(self, numbers: list[str], context: Context) -> list[str]:
        if not numbers:
            await abort_invalid(context, [FieldViolation("phone_numbers", "at least one number")])
        if len(numbers) > MAX_NUMBERS:
            await abort_invalid(context, [FieldViolation("phone_numbers", f"at most {MAX_NUMBERS} per call")])
        out: list[str] = []
        bad: list[FieldViolation] = []
        for i, raw in enumerate(numbers):
            try:
                out.append(normalize(raw, self._region))
            except ValueError as e:
                bad.append(FieldViolation(f"phone_numbers[{i}]", str(e)))
        if bad:
            await abort_invalid(context, bad)
        return out

    async def AddDncNumbers(
        self, request: dnc_pb2.AddDncNumbersRequest, context: Context
    ) -> dnc_pb2.AddDncNumbersResponse:
        scope = await self._scope(context, getattr(request, "global"))
        if len(request.reason) > MAX_REASON:
            await abort_invalid(context, [FieldViolation("reason", f"at most {MAX_REASON} characters")])
        numbers = await self._numbers(list(request.phone_numbers), context)
        source = DncSource.ADMIN if scope is GLOBAL else DncSource.TENANT
        added = await self._dnc.bulk_add(numbers, scope, source=source, reason=request.reason)
        return dnc_pb2.AddDncNumbersResponse(added=added.added)

    async def RemoveDncNumbers(
        self, request: dnc_pb2.RemoveDncNumbersRequest, context: Context
    ) -> dnc_pb2.RemoveDncNumbersResponse:
        scope = await self._scope(context, getattr(request, "global"))
        numbers = await self._numbers(list(request.phone_numbers), context)
        try:
            removed = await self._dnc.remove_many(numbers, scope)
        except CalleeOptOutError as refused:
            log.info(
                "dnc removal refused: callee opt-outs",
                extra={"tenant_id": scope or "global", "callee_entries": len(refused.entries)},
            )
            await context.abort_with_status(_refusal_status(refused))
            raise AssertionError("abort_with_status returns only by raising") from None
        return dnc_pb2.RemoveDncNumbersResponse(removed=removed)

    async def CheckDncNumber(
        self, request: dnc_pb2.CheckDncNumberRequest, context: Context
    ) -> dnc_pb2.CheckDncNumberResponse:
        tenant = await self._auth.tenant(context)
        (number,) = await self._numbers([request.phone_number], context)
        hit = await self._dnc.check(number, tenant)
        if hit is None:
            return dnc_pb2.CheckDncNumberResponse(listed=False)
        response = dnc_pb2.CheckDncNumberResponse(listed=True, list=hit.scope, source=SOURCES[hit.entry.source])
        if hit.entry.added_at is not None:
            response.create_time.CopyFrom(_timestamp(hit.entry.added_at))
        return response

    async def LiftOptOut(self, request: dnc_pb2.LiftOptOutRequest, context: Context) -> dnc_pb2.LiftOptOutResponse:
        tenant = await self._auth.tenant(context)
        (number,) = await self._numbers([request.phone_number], context)
        consent = await self._consent(request, context)
        try:
            await self._dnc.lift_opt_out(number, tenant, consent)
        except LiftRefusedError as refused:
            if refused.refusal is LiftRefusal.NOT_LISTED:
                await context.abort(grpc.StatusCode.NOT_FOUND, f"{number} is not on the tenant's do-not-call list")
            if refused.refusal is LiftRefusal.NOT_AN_OPT_OUT:
                await context.abort(
                    grpc.StatusCode.FAILED_PRECONDITION,
                    f"{number} is the tenant's own entry, not a callee's opt-out: remove it with RemoveDncNumbers",
                )
            opted_out = refused.entry.added_at if refused.entry else None
            await context.abort(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"the consent ({consent.given_at.isoformat()}) is not newer than the callee's opt-out "
                f"({opted_out.isoformat() if opted_out else 'unrecorded'}); only a new consent can lift it",
            )
        return dnc_pb2.LiftOptOutResponse()

    async def _consent(self, request: dnc_pb2.LiftOptOutRequest, context: Context) -> ConsentEvidence:
        evidence = request.consent
        problems: list[FieldViolation] = []
        given_at: datetime | None = None
        try:
            if evidence.HasField("time") and evidence.time.seconds > 0:
                given_at = evidence.time.ToDatetime(UTC)
        except (ValueError, OverflowError):
            problems.append(FieldViolation("consent.time", "not a valid time"))
        if given_at is None:
            if not problems:
                problems.append(FieldViolation("consent.time", "when the callee gave the consent is required"))
        elif given_at > datetime.now(UTC) + CLOCK_SKEW:
            problems.append(FieldViolation("consent.time", "is in the future"))
        if not evidence.channel.strip():
            problems.append(FieldViolation("consent.channel", "how the consent was given is required"))
        elif len(evidence.channel) > MAX_CHANNEL:
            problems.append(FieldViolation("consent.channel", f"at most {MAX_CHANNEL} characters"))
        if not evidence.text.strip():
            problems.append(FieldViolation("consent.text", "what the callee agreed to is required"))
        elif len(evidence.text) > MAX_CONSENT_TEXT:
            problems.append(FieldViolation("consent.text", f"at most {MAX_CONSENT_TEXT} characters"))
        if problems or given_at is None:
            await abort_invalid(context, problems)
        assert given_at is not None
        return ConsentEvidence(given_at, evidence.channel.strip(), evidence.text)

    async def ListDncAudit(
        self, request: dnc_pb2.ListDncAuditRequest, context: Context
    ) -> dnc_pb2.ListDncAuditResponse:
        scope = await self._scope(context, getattr(request, "global"))
        if request.page_size < 0:
            await abort_invalid(context, [FieldViolation("page_size", "must not be negative")])
        if request.page_token and not _PAGE_TOKEN.fullmatch(request.page_token):
            await abort_invalid(context, [FieldViolation("page_token", "not a token this API returned")])
        size = min(request.page_size or 100, MAX_AUDIT_PAGE)
        page = await self._dnc.audit(scope, size, request.page_token)
        return dnc_pb2.ListDncAuditResponse(
            records=[_record(r) for r in page.records], next_page_token=page.next_cursor
        )


def _record(r: DncAuditRecord) -> dnc_pb2.DncAuditRecord:
    out = dnc_pb2.DncAuditRecord(
        time=_timestamp(r.at),
        action=ACTIONS[r.action],
        phone_number=r.number,
        source=SOURCES[r.source],
        attempt_id=r.attempt,
        reason=r.reason,
    )
    if r.consent is not None:
        out.consent.CopyFrom(
            dnc_pb2.ConsentEvidence(time=_timestamp(r.consent.given_at), channel=r.consent.channel, text=r.consent.text)
        )
    return out
