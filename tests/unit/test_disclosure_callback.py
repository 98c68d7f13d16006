"""The disclosure names the tenant and, where the profile requires it, a callback number spoken in
digit groups (issue #10, item 7). Pure logic: the text, the profile data, the tts reading."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from obzvon.compliance import ProfileError, load_profile, parse_profile
from obzvon.script import disclosure_text, load_script_yaml
from obzvon_dialer.dialog import run_dialog
from obzvon_tts.normalize import normalize


def test_disclosure_names_the_tenant_and_the_callback_number_in_groups() -> None:
    en = disclosure_text("en", "Acme Clinic", callback_number="+12025550143")
    assert en.startswith("Hello! This is an automated call from Acme Clinic.")
    assert en.endswith("You can call us back at +1 202-555-0143.")
    ru = disclosure_text("ru", "Клиника Здоровье", callback_number="+74950000000")
    assert "«Клиника Здоровье»" in ru and ru.endswith("Перезвонить нам можно по номеру +7 495 000-00-00.")


def test_without_a_callback_number_the_disclosure_is_unchanged() -> None:
    assert disclosure_text("en", "Acme", callback_number="") == (
        "Hello! This is an automated call from Acme. To stop our calls, say stop or press 9."
    )


def test_tts_reads_the_callback_number_group_by_group() -> None:
    assert normalize(disclosure_text("en", "Acme", callback_number="+12025550143"), "en").endswith(
        "call us back at plus one, two oh two, five five five, oh one four three."
    )
    assert "плюс семь, четыреста девяносто пять" in normalize(
        disclosure_text("ru", "Клиника", callback_number="+74951234567"), "ru"
    )


def test_only_us_tcpa_requires_a_callback_number() -> None:
    assert load_profile("us-tcpa").callback_number_required is True
    assert load_profile("default").callback_number_required is False
    assert load_profile("ru-230fz").callback_number_required is False


def test_profile_flag_must_be_a_boolean() -> None:
    with pytest.raises(ProfileError, match="callback_number_required"):
        parse_profile({"name": "x", "callback_number_required": "yes"})


class _Channel:
    """Records what the robot says; every other channel call (listening, opt-out...) does nothing."""

    def __init__(self) -> None:
        self.said: list[str] = []

    async def say(self, text: str, *args: object, **kwargs: object) -> None:
        self.said.append(text)

    def __getattr__(self, name: str) -> Callable[..., Awaitable[None]]:
        async def nothing(*args: object, **kwargs: object) -> None:
            return None

        return nothing


async def test_the_call_opens_with_the_callback_disclosure() -> None:
    script = load_script_yaml('start: bye\nnodes:\n  bye: {hangup: "Goodbye"}\n')
    channel = _Channel()
    await run_dialog(
        script,
        {},
        channel,  # type: ignore[arg-type]
        _Channel(),  # type: ignore[arg-type]  # events: node_entered and reply are no-ops here
        language="en",
        tenant_display_name="Acme",
        callback_number="+12025550143",
    )
    assert channel.said[0] == disclosure_text("en", "Acme", callback_number="+12025550143")
