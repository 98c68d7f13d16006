"""TTS: renders prompts to 8 kHz PCM16 into Redis, keyed by a content hash."""
