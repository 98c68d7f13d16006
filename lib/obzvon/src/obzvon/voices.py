"""The TTS voices the platform offers, by name ("<engine>:<voice>") and language.

Shared by the scheduler, which refuses a campaign with a voice not listed here (an unknown voice
used to give answered calls with seconds of silence and no disclosure), and the tts service, whose
engines (obzvon_tts.engines) render exactly these; tests/unit/test_input_bounds.py keeps the two
lists in step.
"""

from __future__ import annotations

# voice name -> language of the text it reads
VOICES: dict[str, str] = {
    "default:ru": "ru",
    "default:en": "en",
    "espeak-ng:ru": "ru",
    "espeak-ng:en": "en",
    "espeak-ng:en-us": "en",
    "espeak-ng:en-gb": "en",
    "festival:ru": "ru",
    "festival:msu_ru_nsh_clunits": "ru",
    "festival:en": "en",
    "festival:cmu_us_slt_arctic_hts": "en",
    "festival:slt": "en",
    "festival:kal_diphone": "en",
    "festival:kal": "en",
    "piper:en": "en",
    "piper:en_US-joe-medium": "en",
    "piper:joe": "en",
}

LANGUAGES = ("ru", "en")


def default_voice(language: str) -> str:
    """The voice a campaign gets when it names none: the tts service picks the best installed one."""
    return f"default:{language}"
