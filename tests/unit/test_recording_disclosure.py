"""The disclosure tells the callee when the call is recorded, and says nothing of it otherwise."""

from __future__ import annotations

from obzvon.script import disclosure_text


def test_disclosure_mentions_recording_only_when_on() -> None:
    en = disclosure_text("en", "Acme", callback_number="", recorded=True)
    ru = disclosure_text("ru", "Акме", callback_number="+74950000000", recorded=True)
    assert "recorded" in en.lower()
    assert "записывается" in ru.lower()
    plain = disclosure_text("en", "Acme", callback_number="")
    assert "record" not in plain.lower()
    assert en.startswith(plain)
