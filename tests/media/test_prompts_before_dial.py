"""The dialer sends INVITE only once the prompts before the first question are in the tts cache (real Redis, real SIP).

A callee may answer at once; a robot that then falls silent while tts renders sounds broken. The wait is
bounded: past `prompt_ready_before_dial_s` the dialer dials anyway, logs and counts it; a request whose
deadline passes during the wait is not dialed at all.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from dialer_call import load_platform_prompts
from obzvon import keys
from obzvon.audio import audio_key, pcmu_key
from obzvon.compliance import MemoryAuditLog, MemoryCounterStore, MemoryDncRegistry
from obzvon.media import MediaClock
from obzvon.script import disclosure_text, load_script_yaml
from obzvon.sip import IncomingCall, SipTrunk, SipUas
from obzvon.v1 import campaigns_pb2, events_pb2
from obzvon_devstack.devstack import numbers_awake_now
from obzvon_dialer.call import DialerContext, place
from obzvon_dialer.prompts import Prompts
from obzvon_dialer.settings import DialerSettings
from prometheus_client import REGISTRY
from redis.asyncio import Redis

pytestmark = pytest.mark.stack

VOICE, LANGUAGE = "espeak-ng:ru", "ru"
T = events_pb2.CallEventType
SCRIPT = load_script_yaml("""
start: hello
nodes:
  hello: {say: "{name}, здравствуйте!", next: confirm}
  confirm: {ask: "{name}, вы придёте на приём в {time}?", expect: yes_no, on: {yes: thanks, no: bye}}
  thanks: {say: "Ждём вас, {name}.", next: bye}
  bye: {hangup: "До свидания"}
""")
AUDIO = b"\x01\x00" * 800
CALLBACK = "+74951112233"


class FakeProducer:
    """Records the tts requests; tts itself is not under test here."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send(self, topic: object, key: str, value: object) -> None:
        self.sent.append(key)


@dataclass
class Events:
    emitted: list[tuple[int, str]] = field(default_factory=list)

    async def emit(self, type_: int, **fields: object) -> None:
        self.emitted.append((type_, str(fields.get("reason", ""))))


@dataclass
class Phone:
    """A callee that notes when the INVITE came and is busy: the test ends at the INVITE."""

    port: int
    invited_at: list[float]


@pytest.fixture
async def phone() -> AsyncIterator[Phone]:
    invited_at: list[float] = []

    async def busy(call: IncomingCall) -> None:
        invited_at.append(time.monotonic())
        await call.reject(486)

    uas = await SipUas.start(busy)
    try:
        yield Phone(uas.local_port, invited_at)
    finally:
        await uas.close()


def late_total() -> float:
    """The dialer's late-prompt counter (obzvon_dialer.metrics.PROMPTS_LATE) as this process exports it."""
    return REGISTRY.get_sample_value("obzvon_dialer_prompts_late_total") or 0.0


@pytest.fixture
def late_calls() -> float:
    """The late-prompt counter before the test: the test checks what it adds."""
    return late_total()


def counted(before: float) -> int:
    return int(late_total() - before)


@dataclass
class Attempt:
    request: events_pb2.DialRequest
    opening_keys: list[str]  # disclosure, hello, confirm: what the callee hears before the first question
    later_key: str  # thanks: personal, but after the question


def attempt(sim_port: int, deadline_s: float = 300.0) -> Attempt:
    name, tenant = f"Анна {uuid.uuid4().hex[:6]}", f"Клиника {uuid.uuid4().hex[:6]}"  # audio of this test's own
    number = numbers_awake_now(1)[0]
    request = events_pb2.DialRequest(
        attempt_id=f"att-prompts-{uuid.uuid4().hex[:8]}",
        tenant_id="t1",
        campaign_id="c1",
        contact_id="k1",
        phone_number=number,
        caller_id="+74950000000",
        script=SCRIPT,
        language=LANGUAGE,
        voice=VOICE,
        variables={"name": name, "time": "10:30"},
        trunk=campaigns_pb2.Trunk(host="127.0.0.1", port=sim_port),
        callback_number=CALLBACK,
        tenant_display_name=tenant,
        attempt_number=1,
        compliance_profile="default",
        purpose=campaigns_pb2.PURPOSE_INFORMATIONAL,
        registered_caller_ids=["+74950000000"],
        expected_duration_seconds=60,
    )
    request.not_after.FromNanoseconds(time.time_ns() + int(deadline_s * 1e9))
    # The disclosure with the campaign's callback number: the text the scheduler pre-rendered.
    disclosure = disclosure_text(LANGUAGE, tenant, callback_number=CALLBACK)
    texts = [disclosure, f"{name}, здравствуйте!", f"{name}, вы придёте на приём в 10:30?"]
    return Attempt(
        request, [audio_key(t, VOICE, LANGUAGE) for t in texts], audio_key(f"Ждём вас, {name}.", VOICE, LANGUAGE)
    )


@dataclass
class Dialer:
    ctx: DialerContext
    producer: FakeProducer
    redis: Redis


@pytest.fixture
async def dialer(test_redis: str, clock: MediaClock) -> AsyncIterator[Callable[[float], Dialer]]:
    redis = Redis.from_url(test_redis)
    trunk = await SipTrunk.start()
    producer = FakeProducer()
    prompts = Prompts(redis, cast(Any, producer), 1.0)
    await load_platform_prompts(redis, prompts)  # stored beforehand: nothing asked of tts

    def make(wait_before_dial_s: float) -> Dialer:
        settings = DialerSettings(prompt_ready_before_dial_s=wait_before_dial_s, ring_timeout_s=3)
        ctx = DialerContext(
            settings=settings,
            trunk=trunk,
            clock=clock,
            prompts=prompts,
            asr=cast(Any, None),  # the callee is busy: no dialog, nothing to recognise
            dnc=MemoryDncRegistry(),
            counters=MemoryCounterStore(),
            audit=MemoryAuditLog(),
        )
        return Dialer(ctx, producer, redis)

    try:
        yield make
    finally:
        await trunk.close()
        await redis.aclose()


async def store(redis: Redis, key: str) -> None:
    # As tts writes it: PCMU first, then the PCM16 the dialer looks for.
    await redis.set(pcmu_key(key), b"\xff" * 800, ex=60)
    await redis.set(keys.tts_audio(key), AUDIO, ex=60)


async def test_wait_returns_as_soon_as_the_audio_is_stored(test_redis: str) -> None:
    redis = Redis.from_url(test_redis)
    ready, late = f"k-{uuid.uuid4().hex}", f"k-{uuid.uuid4().hex}"
    await store(redis, ready)
    prompts = Prompts(redis, cast(Any, FakeProducer()), 1.0)
    stored_at: list[float] = []

    async def render_late() -> None:
        await asyncio.sleep(0.5)
        await store(redis, late)
        stored_at.append(time.monotonic())

    try:
        renderer = asyncio.create_task(render_late())
        started = time.monotonic()
        missing = await prompts.wait_ready([ready, late], timeout_s=5.0)
        returned = time.monotonic()
        await renderer
    finally:
        await redis.aclose()
    assert missing == []
    assert returned >= stored_at[0]
    assert returned - started < 1.0  # not the 5 s bound: polling notices the key within its backoff


async def test_wait_gives_up_after_the_bound(test_redis: str) -> None:
    redis = Redis.from_url(test_redis)
    ready, never = f"k-{uuid.uuid4().hex}", f"k-{uuid.uuid4().hex}"
    await store(redis, ready)
    await redis.set(pcmu_key(never), b"\xff" * 800, ex=60)  # half written by tts: not ready yet
    prompts = Prompts(redis, cast(Any, FakeProducer()), 1.0)
    try:
        started = time.monotonic()
        missing = await prompts.wait_ready([ready, never], timeout_s=0.6)
        waited = time.monotonic() - started
    finally:
        await redis.aclose()
    assert missing == [never]
    assert 0.6 <= waited < 1.2


async def test_invite_waits_for_the_opening_prompts(
    dialer: Callable[[float], Dialer], phone: Phone, late_calls: float
) -> None:
    d = dialer(5.0)
    a = attempt(phone.port)
    stored_at: list[float] = []

    async def render_opening() -> None:
        await asyncio.sleep(0.8)
        for key in a.opening_keys:
            await store(d.redis, key)
        stored_at.append(time.monotonic())

    events = Events()
    renderer = asyncio.create_task(render_opening())
    started = time.monotonic()
    await place(d.ctx, a.request, cast(Any, events))
    await renderer
    assert len(phone.invited_at) == 1
    assert phone.invited_at[0] >= stored_at[0]  # no INVITE before the audio was there
    assert phone.invited_at[0] - started < 0.8 + 1.0  # and soon after: the 5 s bound was not run out
    assert events.emitted[-1] == (T.CALL_EVENT_TYPE_FAILED, "busy")
    # Every personal prompt is asked for, the ones before the question first.
    assert d.producer.sent == [*a.opening_keys, a.later_key]
    assert counted(late_calls) == 0


async def test_invite_goes_out_after_the_bound_when_tts_is_behind(
    dialer: Callable[[float], Dialer], phone: Phone, late_calls: float, caplog: pytest.LogCaptureFixture
) -> None:
    d = dialer(0.7)
    a = attempt(phone.port)
    await store(d.redis, a.opening_keys[0])  # the disclosure was rendered at campaign start; the rest never is
    events = Events()
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="obzvon_dialer.call"):
        await place(d.ctx, a.request, cast(Any, events))
    assert len(phone.invited_at) == 1
    assert 0.7 <= phone.invited_at[0] - started < 0.7 + 1.0
    assert events.emitted[-1] == (T.CALL_EVENT_TYPE_FAILED, "busy")
    warnings = [r for r in caplog.records if r.getMessage() == "dialing before the opening prompts are ready"]
    assert len(warnings) == 1
    assert warnings[0].late_prompts == a.opening_keys[1:]  # type: ignore[attr-defined]
    assert counted(late_calls) == 1


async def test_request_that_expires_during_the_wait_is_not_dialed(
    dialer: Callable[[float], Dialer], phone: Phone, late_calls: float
) -> None:
    d = dialer(1.0)
    a = attempt(phone.port, deadline_s=0.4)
    events = Events()
    await place(d.ctx, a.request, cast(Any, events))
    await asyncio.sleep(0.2)  # room for a wrongful INVITE to arrive
    assert phone.invited_at == []
    assert events.emitted == [(T.CALL_EVENT_TYPE_FAILED, "expired before dialing")]
    assert counted(late_calls) == 0  # not dialed, so not dialed late


async def test_no_wait_when_the_bound_is_zero(
    dialer: Callable[[float], Dialer], phone: Phone, late_calls: float
) -> None:
    d = dialer(0.0)
    a = attempt(phone.port)
    started = time.monotonic()
    await place(d.ctx, a.request, cast(Any, events := Events()))
    assert len(phone.invited_at) == 1
    assert phone.invited_at[0] - started < 0.5  # nothing is stored, and nothing waited for
    assert events.emitted[-1] == (T.CALL_EVENT_TYPE_FAILED, "busy")
    assert d.producer.sent == [*a.opening_keys, a.later_key]  # still requested, rendered while it rings
    assert counted(late_calls) == 0


async def test_opt_out_during_the_wait_stops_the_invite(
    dialer: Callable[[float], Dialer], phone: Phone, late_calls: float
) -> None:
    # The DNC check comes after the wait for prompts, right before INVITE (issue #10, item 10).
    d = dialer(1.0)
    a = attempt(phone.port)

    async def opt_out_meanwhile() -> None:
        await asyncio.sleep(0.3)
        await d.ctx.dnc.add(a.request.phone_number, a.request.tenant_id)

    events = Events()
    opting_out = asyncio.create_task(opt_out_meanwhile())
    await place(d.ctx, a.request, cast(Any, events))
    await opting_out
    await asyncio.sleep(0.2)  # room for a wrongful INVITE to arrive
    assert phone.invited_at == []
    assert events.emitted == [(T.CALL_EVENT_TYPE_FAILED, "blocked: DNC")]
