"""DncService: the tenant's do-not-call list, and the platform's global one for the admin key."""

from __future__ import annotations

from typing import TypeAlias

import grpc
from obzvon.auth import ADMIN, Authenticator
from obzvon.compliance import GLOBAL, DncRegistry, normalize
from obzvon.errors import FieldViolation, abort_invalid
from obzvon.v1 import dnc_pb2, dnc_pb2_grpc

Context: TypeAlias = grpc.aio.ServicerContext[object, object]
MAX_NUMBERS = 10_000


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
        added = 0
        for number in await self._numbers(list(request.phone_numbers), context):
            added += int(await self._dnc.add(number, scope))
        return dnc_pb2.AddDncNumbersResponse(added=added)

    async def RemoveDncNumbers(
        self, request: dnc_pb2.RemoveDncNumbersRequest, context: Context
    ) -> dnc_pb2.RemoveDncNumbersResponse:
        scope = await self._scope(context, getattr(request, "global"))
        removed = 0
        for number in await self._numbers(list(request.phone_numbers), context):
            removed += int(await self._dnc.remove(number, scope))
        return dnc_pb2.RemoveDncNumbersResponse(removed=removed)

    async def CheckDncNumber(
        self, request: dnc_pb2.CheckDncNumberRequest, context: Context
    ) -> dnc_pb2.CheckDncNumberResponse:
        tenant = await self._auth.tenant(context)
        (number,) = await self._numbers([request.phone_number], context)
        hit = await self._dnc.check(number, tenant)
        return dnc_pb2.CheckDncNumberResponse(listed=hit is not None, list=hit.scope if hit else "")
