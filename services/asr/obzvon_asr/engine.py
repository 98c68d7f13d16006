"""Whisper recognition of callee replies, sized for telephone answers.

What differs from running faster-whisper's `transcribe()` on each reply:

* The encoder window is sized to the utterance (CTranslate2 accepts fewer than Whisper's 3,000 mel
  frames). A 1 s «да» padded to 30 s costs as much as a 10 s sentence; a 7.5 s window cuts the
  cost about 5x with the same transcripts (docs/asr.md has the measurements).
* Closed questions are decided by scoring the expected phrasings against the audio (teacher-forced
  decoder log-probabilities in one pass per phrasing with CTranslate2's align(), including the
  chance that the reply ends there), not by reading the free transcript: a garbled transcript of
  a clear «да» must still be yes. The free transcript is one more competing path, so a reply that
  is none of the phrasings comes out as what it is.
* A yes/no reply whose free transcript already is an expected answer, read fluently, skips the
  scoring call (a third of a short reply's CPU).
* Spoken codes are read by a decode that may write digits only, cut where it starts to loop.
* Opt-out phrasings are scored against the audio at every listening moment (open questions,
  codes, speech while the robot talks too), never pruned: a misheard «не звоните» must still be
  heard as one (a missed opt-out breaks the law, a false one costs a contact).
* Requests that arrive together are encoded and scored as one batch.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt

from obzvon_asr import intents, meaning, models

models.force_offline()

import ctranslate2  # noqa: E402  (after the offline switches, which the hub client reads on import)
import tokenizers  # noqa: E402
from faster_whisper.feature_extractor import FeatureExtractor  # noqa: E402
from faster_whisper.tokenizer import Tokenizer  # noqa: E402
from faster_whisper.vad import VadOptions, get_speech_timestamps  # noqa: E402

Expect = Literal["yes_no", "digits", "free", "choice"]
EXPECTS: Final = ("yes_no", "digits", "free", "choice")

SAMPLE_RATE: Final = 16000
HOP: Final = 160  # samples per mel frame: 100 frames a second
FULL_WINDOW: Final = 3000  # Whisper's 30 s
DEFAULT_MODELS: Final[Mapping[str, str]] = {"ru": "base", "en": "base"}

FloatArray = npt.NDArray[np.float32]
# Scored phrasings per align() call, sorted by length: one call for a batch's rows beat calls per
# length bucket (fixed cost per call), but every row is padded to the longest of its call.
_SCORE_CHUNK: Final = 32


@dataclass(frozen=True)
class Utterance:
    pcm16: bytes  # little-endian signed 16-bit mono
    sample_rate: int = 8000
    language: str = "ru"
    expect: str = "yes_no"
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Recognition:
    text: str  # what was heard; for closed questions the winning phrasing or the free transcript
    intent: str  # one of intents.INTENTS
    confidence: float  # 0..1
    language: str
    ms: float  # wall time of the batch this utterance was in, per utterance share
    value: str = ""  # digits for expect="digits", the chosen choice for expect="choice"
    timings: dict[str, float] = field(default_factory=dict)
    transcript: str = ""  # the free transcription, whatever was decided
    # Closed questions: best mean log-prob per token of each answer's phrasings, and of the free
    # transcript under "free" (before EngineOptions.candidate_bonus). For logs and tuning.
    scores: dict[str, float] = field(default_factory=dict)
    # "transcript", "scoring" or "digits" (AsrResult.decided_by): a scored yes/no's confidence is
    # the margin between answers, the one a script's confirm_below is compared with.
    decided_by: str = "transcript"


@dataclass
class EngineOptions:
    # Shortest encoder window, in 10 ms mel frames. Swept on bench/asr_accuracy.py (docs/asr.md):
    # 750 had the best intent accuracy and WER; 500-600 garble and repeat words, 900-1000 cost
    # 10-30 % more CPU for nothing; Whisper's own 3000 costs ~5x.
    min_frames: int = 750
    compute_type: str = "int8"
    threads: int = 0  # 0: all cores
    beam_size: int = 1
    # Off only to measure what scoring the expected phrasings buys (bench/asr_accuracy.py).
    score_closed: bool = True
    # Whisper base loops on short clips of read-out digits («2, 5, 7, 7, 7, 7») at any window size
    # (measured on the Festival voice). A penalty stops it but also eats real repeats («да, да, да»,
    # "7 7 7"), so only a transcript that looks looped is decoded again with it.
    loop_repetition_penalty: float = 1.1
    # Per-token log-prob bonus for the expected phrasings over the free transcript: a caller
    # asked a yes/no question most likely answered it, and Whisper's free transcript of a clear
    # telephone «да» is often a likelier-looking other word. Chosen on the tuning half of
    # bench/asr_accuracy.py with align() scoring: the smallest bonus at that half's best accuracy
    # (0.6 -> 90.0 %, 1.0 -> 95.0 %, 1.2 -> 96.25 %, no gain above), which keeps the nearest
    # non-answer 0.72 nats/token from being read as yes or no (docs/asr.md).
    candidate_bonus: float = 1.2
    # Softmax scale turning per-token log-prob margins between answers into a confidence. At 1.0,
    # on the bench set, wrong answers scored 0.40-0.96 (most below 0.7) and right ones a median of
    # 0.98; larger scales pushed both to 1.0.
    confidence_scale: float = 1.0
    # Encoder positions (20 ms each) kept after the reply when scoring phrasings. Cross-attention
    # keys and values are computed per scored row over every position, which made scoring cost
    # more than encoding; but cutting to 1 s after the reply skewed the scores (a clear «да»
    # went from -0.3 to -1.5 nats a token), 3 s kept them within ~0.1 of the full window.
    score_margin_positions: int = 150
    # Phrasings whose first token is this many nats less likely than the likeliest first token
    # are not scored further (the first-token distribution comes free with the transcript's
    # first decoding step). Wrong answers start 9-15 nats down; each scored row costs about as
    # much as 1/25 of the encoder. 0 scores every phrasing.
    prune_nats: float = 6.0
    min_scored: int = 3
    # A yes/no reply whose free transcript is one of the expected phrasings (after
    # intents.normalize), or is made only of one intent's phrases (intents.phrased: «Да,
    # конечно», "Yes, sure"), read with a mean log-prob per token (ending included) of at least
    # this, is decided without the scoring pass (a third of a 1 s reply's CPU). Greedy decoding
    # already preferred that reading token by token; on bench/asr_accuracy.py scoring decided every
    # such reply the same way (78 of 171), every other answer at least 1.5 nats/token behind.
    # None: always score.
    fast_accept_logprob: float | None = -1.0
    # Free transcripts whose last words resemble an expected phrasing of 2+ words (difflib ratio
    # of the letters at least tail_ratio, one non-negation word in common) are also scored with
    # those words replaced by it (AsrEngine._tails), at most max_tails per reply, with the
    # phrasings' bonus. Set on the tuning half of bench/asr_accuracy.py (docs/asr.md): fixed
    # "... a real burden" and "and then move my armor"; the smallest margin of a non-answer to a
    # yes/no reading stayed 0.76 nats/token. Without the anchor, «Я сейчас в магазине не стою»
    # came within 0.40 of "no". 0 disables it.
    tail_ratio: float = 0.5
    max_tails: int = 3
    vad_threshold: float = 0.5
    max_seconds: float = 30.0
    # Free transcripts are read for their meaning by an intent classifier over sentence
    # embeddings (meaning.py), so new wording («Исключено», "Never ring me again") is understood.
    # Off (phrase rules only) only to measure what it buys.
    meaning: bool = True
    # Score the opt-out phrasings against replies to open questions and codes, and against speech
    # heard while the robot talks (expect "free" and "digits"), not only search the free
    # transcript for them; they get candidate_bonus over the transcript there too. Off only to
    # measure what it buys (bench/asr_accuracy.py --no-opt-out-scoring).
    opt_out_everywhere: bool = True


@dataclass
class _Model:
    path: Path
    whisper: Any  # ctranslate2.models.Whisper (untyped extension)
    tokenizer: Any  # faster_whisper Tokenizer
    multilingual: bool
    n_mels: int
    lock: threading.Lock = field(default_factory=threading.Lock)
    _token_cache: dict[str, list[int]] = field(default_factory=dict)
    _not_digits: list[int] = field(default_factory=list)

    def not_digits(self) -> list[int]:
        """Every text token but ASCII digit runs (with or without a leading space) and the
        separators " ", "," and "." (with "-" allowed too, «девять, ноль, восемь» came out "9-8-3"):
        suppressed, they leave the decoder a digit-only vocabulary."""
        if not self._not_digits:
            hf = self.tokenizer.tokenizer
            keep = set()
            for token in range(self.tokenizer.eot):
                piece = hf.decode([token]).strip()
                if (piece.isascii() and piece.isdigit()) or piece in ("", ",", "."):
                    keep.add(token)
            self._not_digits = [t for t in range(self.tokenizer.eot) if t not in keep]
        return self._not_digits

    def tokens(self, text: str) -> list[int]:
        cached = self._token_cache.get(text)
        if cached is None:
            cached = self._token_cache[text] = self._rejoin(list(self.tokenizer.encode(" " + text.strip())))
        return cached

    def _rejoin(self, ids: list[int]) -> list[int]:
        """The packaged tokenizer.json splits some common words after a space as a bare space
        plus the word (" to" -> "Ġ", "to"; " thanks" -> "Ġ", "th", "anks") where Whisper itself
        writes one token ("Ġto"); forcing the split spelling cost a scored sentence ~3 nats a
        token. A bare space is joined with the word pieces after it into the longest vocabulary
        token that spells them."""
        hf = self.tokenizer.tokenizer
        space = hf.token_to_id("Ġ")
        if space is None or space not in ids:
            return ids
        out: list[int] = []
        i = 0
        while i < len(ids):
            if ids[i] != space:
                out.append(ids[i])
                i += 1
                continue
            pieces = []
            j = i + 1
            while j < len(ids):
                piece = hf.id_to_token(ids[j])
                if piece is None or piece.startswith("Ġ") or not piece.replace("'", "").isalnum():
                    break
                pieces.append(piece)
                j += 1
            for n in range(len(pieces), 0, -1):
                joined = hf.token_to_id("Ġ" + "".join(pieces[:n]))
                if joined is not None:
                    out.append(joined)
                    i += 1 + n
                    break
            else:
                out.append(ids[i])
                i += 1
        return out

    def tokens_raw(self, text: str) -> list[int]:
        key = "\0" + text
        cached = self._token_cache.get(key)
        if cached is None:
            cached = self._token_cache[key] = list(self.tokenizer.encode(text))
        return cached

    def start_sequence(self, language: str) -> list[int]:
        tok = self.tokenizer
        if not self.multilingual:
            return [tok.sot, tok.no_timestamps]
        lang_id = tok.tokenizer.token_to_id(f"<|{language}|>")
        if lang_id is None:
            raise ValueError(f"model {self.path} does not know language {language!r}")
        return [tok.sot, lang_id, tok.transcribe, tok.no_timestamps]


@dataclass(frozen=True)
class _Path:
    """One reading of a reply scored against its audio."""

    intent: str
    text: str
    value: str = ""  # the choice it names (choice questions)
    free: bool = False  # the free transcript itself: scored on its own tokens, without the bonus


@dataclass(frozen=True)
class _Scored:
    path: _Path
    mean: float  # mean log-prob per token, the ending included (AsrEngine._align_means)


@dataclass
class _Item:
    index: int
    utt: Utterance
    audio: FloatArray
    speech_s: float
    frames: int = 0
    text: str = ""
    free_tokens: list[int] = field(default_factory=list)
    free_score: float = -math.inf
    hit_cap: bool = False
    first_logp: npt.NDArray[np.float64] | None = None  # log-probs of the reply's first token
    # Mean log-prob per token of the transcript plus its ending, as _score_closed scores a path.
    free_mean: float = -math.inf
    digits: str | None = None  # expect="digits": what the digit-only decoding read
    # What the free transcript means (AsrEngine._understand: meaning.Meaning.read, or the rules alone).
    free_intent: str = intents.OTHER
    result: Recognition | None = None


def _load(path: Path, options: EngineOptions) -> _Model:
    threads = options.threads or (os.cpu_count() or 1)
    whisper = ctranslate2.models.Whisper(
        str(path), device="cpu", compute_type=options.compute_type, intra_threads=threads
    )
    multilingual = bool(whisper.is_multilingual)
    hf = tokenizers.Tokenizer.from_file(str(path / "tokenizer.json"))
    tokenizer = Tokenizer(hf, multilingual, task="transcribe", language="en" if multilingual else None)
    n_mels = 80
    pre = path / "preprocessor_config.json"
    if pre.is_file():
        n_mels = int(json.loads(pre.read_text()).get("feature_size", 80))
    return _Model(path, whisper, tokenizer, multilingual, n_mels)


def to_16k(pcm16: bytes, sample_rate: int) -> FloatArray:
    """PCM16 at any rate -> float32 at 16 kHz. FFT resampling: exact for band-limited telephone
    audio and needs no extra dependency."""
    x = np.frombuffer(pcm16[: len(pcm16) // 2 * 2], dtype="<i2").astype(np.float32) / 32768.0
    if sample_rate == SAMPLE_RATE or x.size == 0:
        return x
    n_out = round(x.size * SAMPLE_RATE / sample_rate)
    spectrum = np.fft.rfft(x)
    bins = n_out // 2 + 1
    if bins > spectrum.size:
        spectrum = np.concatenate([spectrum, np.zeros(bins - spectrum.size, spectrum.dtype)])
    else:
        spectrum = spectrum[:bins]
    return (np.fft.irfft(spectrum, n_out) * (n_out / x.size)).astype(np.float32)


def _log_softmax(rows: FloatArray) -> npt.NDArray[np.float64]:
    r = rows.astype(np.float64)
    r -= r.max(axis=-1, keepdims=True)
    out: npt.NDArray[np.float64] = r - np.log(np.exp(r).sum(axis=-1, keepdims=True))
    return out


class AsrEngine:
    """Load once, call `recognize()` from any thread; calls on one model run one at a time (the
    model already uses every core it was given)."""

    def __init__(self, models: dict[str, str] | None = None, options: EngineOptions | None = None) -> None:
        # models: language -> "tiny.en" | "base" | a model folder
        chosen = dict(models or DEFAULT_MODELS)
        self.options = options or EngineOptions()
        self._features: dict[int, FeatureExtractor] = {}
        self._by_path: dict[Path, _Model] = {}
        self._by_language: dict[str, _Model] = {}
        for language, name in chosen.items():
            path = _resolve(name)
            model = self._by_path.get(path)
            if model is None:
                model = self._by_path[path] = _load(path, self.options)
            if not model.multilingual and language != "en":
                raise ValueError(f"model {name!r} is English-only, cannot serve {language!r}")
            self._by_language[language] = model
        self._meaning = meaning.shared() if self.options.meaning else None
        self._vad_options = VadOptions(
            threshold=self.options.vad_threshold, min_silence_duration_ms=300, speech_pad_ms=200
        )

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(self._by_language)

    def model_path(self, language: str) -> Path:
        return self._by_language[language].path

    def recognize(self, items: Sequence[Utterance]) -> list[Recognition]:
        started = time.perf_counter()
        results: list[Recognition | None] = [None] * len(items)
        groups: dict[tuple[int, str], list[_Item]] = {}
        for index, utt in enumerate(items):
            if utt.expect not in EXPECTS:
                raise ValueError(f"expect must be one of {EXPECTS}, not {utt.expect!r}")
            model = self._by_language.get(utt.language)
            if model is None:
                raise ValueError(f"no model for language {utt.language!r} (have {self.languages})")
            item = self._prepare(index, utt)
            if item.speech_s <= 0.0:
                results[index] = Recognition("", intents.OTHER, 0.0, utt.language, 0.0)
                continue
            groups.setdefault((id(model), utt.language), []).append(item)
        for (_, language), group in groups.items():
            model = self._by_language[language]
            with model.lock:
                self._run_group(model, language, group)
            for item in group:
                results[item.index] = item.result
        elapsed = (time.perf_counter() - started) * 1000.0
        share = elapsed / max(1, len(items))
        return [dataclasses.replace(r, ms=round(share, 1)) for r in results if r is not None]

    def _prepare(self, index: int, utt: Utterance) -> _Item:
        audio = to_16k(utt.pcm16, utt.sample_rate)
        audio = audio[: int(self.options.max_seconds * SAMPLE_RATE)]
        if audio.size < SAMPLE_RATE // 10:
            return _Item(index, utt, audio, 0.0)
        spans = get_speech_timestamps(audio, self._vad_options, sampling_rate=SAMPLE_RATE)
        if spans:
            # One span from the first speech to the last: pauses inside a reply («нет... не
            # надо») are part of it, and silence around it only costs encoder frames.
            start, end = spans[0]["start"], spans[-1]["end"]
        else:
            # Silero misses some short, flat words («Sure» from a synthetic voice) that the
            # dialer's VAD already took for speech: fall back to where the signal is loud.
            loud = _loud_span(audio)
            if loud is None:
                return _Item(index, utt, audio, 0.0)
            start, end = loud.start, loud.end
        audio = audio[start:end]
        return _Item(index, utt, audio, audio.size / SAMPLE_RATE)

    def _features_for(self, n_mels: int) -> FeatureExtractor:
        fe = self._features.get(n_mels)
        if fe is None:
            fe = self._features[n_mels] = FeatureExtractor(feature_size=n_mels)
        return fe

    def _window(self, frames: int) -> int:
        # Rounded up to whole seconds so batches of similar replies share a window size.
        wanted = math.ceil((frames + 50) / 100.0) * 100
        return max(self.options.min_frames, min(FULL_WINDOW, wanted))

    def _run_group(self, model: _Model, language: str, group: list[_Item]) -> None:
        t0 = time.perf_counter()
        fe = self._features_for(model.n_mels)
        for item in group:
            item.frames = item.audio.size // HOP
        window = self._window(max(item.frames for item in group))
        batch = np.zeros((len(group), model.n_mels, window), dtype=np.float32)
        for row, item in enumerate(group):
            # Zero audio, not zero features, beyond the reply: Whisper was trained on audio padded
            # with silence, whose log-mel is the clip's floor, not 0.
            padded = np.zeros(window * HOP, dtype=np.float32)
            padded[: item.audio.size] = item.audio[: window * HOP]
            batch[row] = fe(padded, padding=0)[:, :window]
        encoded = model.whisper.encode(ctranslate2.StorageView.from_array(batch), to_cpu=True)
        t1 = time.perf_counter()

        start = model.start_sequence(language)
        longest = max(item.speech_s for item in group)
        # Telephone replies run about 3 tokens a second; the cap bounds what a repetition loop
        # costs without cutting real speech.
        cap = 8 + math.ceil(longest * 6)
        self._decode_free(model, start, encoded, group, list(range(len(group))), cap, 1.0)
        looped = [n for n, item in enumerate(group) if _looks_looped(item)]
        if looped:
            sub = np.asarray(encoded)[looped]
            self._decode_free(
                model,
                start,
                ctranslate2.StorageView.from_array(np.ascontiguousarray(sub)),
                group,
                looped,
                cap,
                self.options.loop_repetition_penalty,
            )
        self._understand(group, language)
        t2 = time.perf_counter()

        spoken_codes = [
            n for n, item in enumerate(group) if item.utt.expect == "digits" and item.free_intent not in _OVERRIDES
        ]
        if spoken_codes:
            self._decode_digits(model, start, encoded, group, spoken_codes, cap)
        closed = [item for item in group if item.utt.expect in ("yes_no", "choice") and self.options.score_closed]
        closed = [item for item in closed if not self._fast_accept(model, language, item)]
        closed += [item for item in group if self._listens_for_opt_out(item)]
        if closed:
            self._score_closed(model, language, start, encoded, group, closed)
        for item in group:
            if item.result is None:
                item.result = self._open_result(item, language)
        t3 = time.perf_counter()
        share = 1000.0 / len(group)
        for item in group:
            assert item.result is not None
            item.result.timings.update(
                encode_ms=round((t1 - t0) * share, 1),
                decode_ms=round((t2 - t1) * share, 1),
                score_ms=round((t3 - t2) * share, 1),
                window_frames=float(window),
                speech_s=round(item.speech_s, 3),
            )

    def _decode_free(
        self,
        model: _Model,
        start: list[int],
        encoded: Any,
        group: list[_Item],
        which: list[int],
        cap: int,
        penalty: float,
    ) -> None:
        free = model.whisper.generate(
            encoded,
            [start] * len(which),
            beam_size=self.options.beam_size,
            max_length=len(start) + cap,
            return_scores=True,
            return_logits_vocab=True,
            suppress_blank=True,
            repetition_penalty=penalty,
        )
        for n, res in zip(which, free, strict=True):
            item = group[n]
            tokens = [t for t in res.sequences_ids[0] if t < model.tokenizer.eot]
            item.free_mean = -math.inf
            if res.logits:
                steps = np.asarray(res.logits[0], dtype=np.float32)
                item.first_logp = _log_softmax(steps[:1])[0]
                if tokens and steps.shape[0] > len(tokens):
                    logp = _log_softmax(steps[: len(tokens) + 1])
                    token_lp = float(sum(logp[i, t] for i, t in enumerate(tokens)))
                    end_lp = float(np.logaddexp.reduce(logp[len(tokens), _enders(model)]))
                    item.free_mean = (token_lp + end_lp) / (len(tokens) + 1)
            item.free_tokens = tokens
            item.text = model.tokenizer.decode(tokens).strip()
            item.free_score = float(res.scores[0]) if res.scores else -math.inf
            item.hit_cap = len(tokens) >= cap - 1

    def _decode_digits(
        self, model: _Model, start: list[int], encoded: Any, group: list[_Item], which: list[int], cap: int
    ) -> None:
        """Read a spoken code with every token but digits suppressed, so «два, пять, семь» cannot
        come out as words Whisper half-heard, then cut the reading where it most likely ended.

        Greedy decoding of read-out digits loops: it reads the code, then starts it again
        (5181 -> 5181518) or repeats its end (8955 -> 8955555, 8767 -> 8767676), and ends. Where
        the digits after some point repeat the code's start or end, the reading is also cut there,
        and of the whole and the cuts the one with the highest total log-prob, its ending
        included, is the reading. Cutting every reading that way lost right codes («6, 2, 7, 6» ->
        "6": a short reading is likelier just for being short), hence only at repeats."""
        sub = np.ascontiguousarray(np.asarray(encoded)[which])
        out = model.whisper.generate(
            ctranslate2.StorageView.from_array(sub),
            [start] * len(which),
            beam_size=1,
            max_length=len(start) + cap,
            return_logits_vocab=True,
            suppress_tokens=model.not_digits(),
            suppress_blank=True,
        )
        # Only <|endoftext|> ends a code: "." and "," separate its digits as often as they close it.
        eot = model.tokenizer.eot
        for n, res in zip(which, out, strict=True):
            tokens = [t for t in res.sequences_ids[0] if t < eot]
            read = [_only_digits(model.tokenizer.decode([t])) for t in tokens]
            if not res.logits or not "".join(read):
                group[n].digits = ""
                continue
            logp = _log_softmax(np.asarray(res.logits[0], dtype=np.float32)[: len(tokens) + 1])
            cuts = [i for i in range(1, len(tokens)) if _repeats("".join(read[:i]), "".join(read[i:]))]
            total, best, cut = 0.0, -math.inf, len(tokens)
            for i in range(min(len(tokens), logp.shape[0] - 1) + 1):
                if i in cuts or i == len(tokens):
                    ended = total + float(logp[i, eot])
                    if ended > best:
                        best, cut = ended, i
                if i < len(tokens):
                    total += float(logp[i, tokens[i]])
            group[n].digits = "".join(read[:cut])

    def _fast_accept(self, model: _Model, language: str, item: _Item) -> bool:
        """Decide a yes/no reply from its free transcript alone when that transcript is one of
        the expected phrasings, read fluently (EngineOptions.fast_accept_logprob)."""
        floor = self.options.fast_accept_logprob
        if floor is None or item.utt.expect != "yes_no" or item.free_mean < floor or not item.free_tokens:
            return False
        intent = intents.phrased(item.text, language)
        if intent == intents.OTHER:
            intent = intents.classify(item.text, language)
            heard = intents.normalize(item.text)
            if heard not in {intents.normalize(p) for p in intents.candidates(language).get(intent, ())}:
                return False
        # The transcript's per-token probability, ending included.
        confidence = round(min(1.0, math.exp(item.free_mean)), 3)
        item.result = Recognition(
            item.text,
            intent,
            confidence,
            language,
            0.0,
            transcript=item.text,
            scores={"free": round(item.free_mean, 4)},
            decided_by="transcript",
        )
        return True

    def _listens_for_opt_out(self, item: _Item) -> bool:
        """A reply to an open question or a code (or speech while the robot talks) whose transcript
        is not already an opt-out: its opt-out phrasings are scored against the transcript."""
        return (
            self.options.opt_out_everywhere
            and self.options.score_closed
            and item.utt.expect in ("free", "digits")
            and bool(item.free_tokens)
            and item.free_intent != intents.OPT_OUT
        )

    def _understand(self, group: list[_Item], language: str) -> None:
        """Sets each item's free_intent: its transcript read for meaning (meaning.Meaning.read:
        the intent head, with the phrase rules where they must win), or by the phrase rules alone
        when EngineOptions.meaning is off."""
        texts = [item.text for item in group]
        if self._meaning is None:
            read = [intents.classify(text, language) for text in texts]
        else:
            read = self._meaning.read(texts, language)
        for item, intent in zip(group, read, strict=True):
            item.free_intent = intent

    def _open_result(self, item: _Item, language: str) -> Recognition:
        intent = item.free_intent
        confidence = math.exp(item.free_score) if math.isfinite(item.free_score) else 0.0
        value = ""
        decided_by = "transcript"
        if item.utt.expect == "digits":
            value = item.digits if item.digits is not None else intents.digits(item.text)
            decided_by = "digits" if item.digits is not None else "transcript"
        return Recognition(
            item.text,
            intent,
            round(min(1.0, confidence), 3),
            language,
            0.0,
            value,
            transcript=item.text,
            decided_by=decided_by,
        )

    def _paths(self, model: _Model, language: str, item: _Item) -> list[_Path]:
        """Every phrasing to score for this item."""
        paths: list[_Path] = []
        table = intents.candidates(language)
        if item.utt.expect == "choice":
            # Capitalised as Whisper starts a transcript; the choice itself is the value.
            paths += [_Path(intents.OTHER, choice[:1].upper() + choice[1:], choice) for choice in item.utt.choices]
            # Whatever the question, these must still be heard.
            for intent in _OVERRIDES:
                paths += [_Path(intent, phrase) for phrase in table[intent]]
        elif item.utt.expect == "yes_no":
            paths += [_Path(intent, phrase) for intent, phrases in table.items() for phrase in phrases]
        else:  # an open question or a code: only an opt-out competes with what was transcribed
            paths += [_Path(intents.OPT_OUT, phrase) for phrase in table[intents.OPT_OUT]]
        return paths

    def _tails(self, model: _Model, item: _Item, language: str) -> list[_Path]:
        """The free transcript with its last words replaced by an expected
        phrasing of two or more words that they resemble and share a word with: "I want to speak
        to a real burden." -> "... to a real person.", "and then move my armor." -> "and then
        remove my number.". A long request misheard in its key words is scored as what it asks;
        such a path gets the phrasings' bonus (EngineOptions.tail_ratio)."""
        ratio_floor = self.options.tail_ratio
        if ratio_floor <= 0 or not item.free_tokens:
            return []
        words = item.text.split()
        ending = ""
        if words:
            stripped = words[-1].rstrip(".!?,")
            ending, words[-1] = words[-1][len(stripped) :], stripped
        heard_intent = item.free_intent
        table = intents.candidates(language)
        wanted = {"yes_no": tuple(table), "choice": _OVERRIDES}.get(item.utt.expect, (intents.OPT_OUT,))
        found: list[tuple[float, _Path]] = []  # (resemblance, path), best first once sorted
        for intent in wanted:
            for phrase in table.get(intent, ()):
                k = len(phrase.split())
                if k < 2 or len(words) <= k:
                    continue
                # Anchored: at least one word of the phrasing other than a negation was heard as
                # such («не стою» must not become «не нужно» on the strength of «не»).
                shared = set(intents.normalize(phrase).split()) & set(intents.normalize(" ".join(words[-k:])).split())
                if not shared - intents.NEGATIONS:
                    continue
                tail = "".join(intents.normalize(" ".join(words[-k:])).split())
                target = "".join(intents.normalize(phrase).split())
                ratio = SequenceMatcher(None, tail, target).ratio()
                if ratio < ratio_floor or tail == target:
                    continue
                first = phrase.split()[0]
                lowered = phrase if first in ("I", "I'm", "I'll") else phrase[:1].lower() + phrase[1:]
                text = " ".join([*words[:-k], lowered]) + (ending or ".")
                label = intents.classify(text, language, fuzzy=False)
                if label == heard_intent or label == intents.OTHER:
                    continue
                found.append((ratio, _Path(label, text)))
        found.sort(key=lambda f: f[0], reverse=True)
        return [path for _, path in found[: self.options.max_tails]]

    def _prune(self, model: _Model, item: _Item, paths: list[_Path]) -> list[_Path]:
        """Drop phrasings the reply cannot start with. The free transcript always stays, and so do
        the opt-out phrasings: a mishearing that starts an opt-out wrong ("stop calling me" heard as
        "How's Colin me?") must not hide it."""
        if self.options.prune_nats <= 0 or item.first_logp is None:
            return paths
        phrasings = [p for p in paths if not p.free]
        first = [float(item.first_logp[model.tokens(p.text)[0]]) for p in phrasings]
        if not first:
            return paths
        floor = float(item.first_logp.max()) - self.options.prune_nats
        ranked = sorted(range(len(phrasings)), key=lambda i: first[i], reverse=True)
        keep = set(ranked[: self.options.min_scored]) | {i for i, lp in enumerate(first) if lp >= floor}
        kept = [p for i, p in enumerate(phrasings) if i in keep or p.intent == intents.OPT_OUT]
        return kept + [p for p in paths if p.free]

    def _score_closed(
        self,
        model: _Model,
        language: str,
        start: list[int],
        encoded: Any,
        group: list[_Item],
        closed: list[_Item],
    ) -> None:
        row_of = {id(item): row for row, item in enumerate(group)}
        enc = np.asarray(encoded)
        keep = max(item.frames for item in closed) // 2 + self.options.score_margin_positions
        enc = enc[:, : min(enc.shape[1], keep)]
        rows: list[int] = []
        texts: list[list[int]] = []
        owners: list[tuple[_Item, _Path]] = []
        for item in closed:
            paths = self._paths(model, language, item)
            if item.free_tokens:
                free_value = _match_choice(item.text, item.utt.choices) if item.utt.expect == "choice" else ""
                paths.append(_Path(item.free_intent, item.text, free_value, free=True))
            paths = self._prune(model, item, paths) + self._tails(model, item, language)
            for path in paths:
                rows.append(row_of[id(item)])
                texts.append(item.free_tokens if path.free else model.tokens(path.text))
                owners.append((item, path))
        by_item: dict[int, list[_Scored]] = {}
        frames = [item.frames for item in group]
        means = self._align_means(model, start, enc, rows, texts, frames)
        for mean, (item, path) in zip(means, owners, strict=True):
            by_item.setdefault(id(item), []).append(_Scored(path, mean))
        for item in closed:
            item.result = self._decide(item, language, by_item.get(id(item), []))

    def _align_means(
        self,
        model: _Model,
        start: list[int],
        enc: FloatArray,
        rows: list[int],
        texts: list[list[int]],
        frames: list[int],
    ) -> list[float]:
        """Mean log-prob per token of each phrasing plus its ending, from CTranslate2's align():
        one decoder pass over all of a row's tokens instead of one generate() step per token
        (about 40 % less scoring time, docs/asr.md). align() gives each token's probability among
        text tokens only, so "the reply ends here" is read as its closing punctuation mark: the
        path's own (a free transcript ending in "?") or "." for a bare phrasing."""
        enders = set(_enders(model)[1:])
        period = model.tokens_raw(".")[0]
        forced: list[list[int]] = []
        for tokens in texts:
            body = list(tokens)
            end = period
            while body and body[-1] in enders:
                end = body.pop()
            forced.append([*body, end])
        means: list[float] = [0.0] * len(forced)
        order = sorted(range(len(forced)), key=lambda n: len(forced[n]))
        for first in range(0, len(order), _SCORE_CHUNK):
            members = order[first : first + _SCORE_CHUNK]
            features = ctranslate2.StorageView.from_array(np.ascontiguousarray(enc[[rows[n] for n in members]]))
            out = model.whisper.align(
                features,
                start,
                [forced[n] for n in members],
                # Frames of the reply itself: align() uses them only for its timing output.
                [max(2, min(enc.shape[1] * 2, frames[rows[n]])) for n in members],
            )
            for n, res in zip(members, out, strict=True):
                probs = np.asarray(res.text_token_probs, dtype=np.float64)[: len(forced[n])]
                means[n] = float(np.log(np.maximum(probs, 1e-30)).sum() / len(forced[n]))
        return means

    def _decide(self, item: _Item, language: str, scored: list[_Scored]) -> Recognition:
        if not scored:
            return self._open_result(item, language)
        # Best path per answer (intent, or choice value for choice questions); the free transcript
        # competes as the answer its text reads as, without the bonus the expected phrasings get.
        best: dict[tuple[str, str], _Scored] = {}  # by (intent, value); mean with the bonus added
        raw: dict[str, float] = {}
        for one in scored:
            path = one.path
            name = "free" if path.free else (path.value or path.intent)
            raw[name] = max(raw.get(name, -math.inf), round(one.mean, 4))
            boosted = one.mean if path.free else one.mean + self.options.candidate_bonus
            key = (path.intent, path.value)
            if key not in best or boosted > best[key].mean:
                best[key] = _Scored(path, boosted)
        ranked = sorted(best.values(), key=lambda b: b.mean, reverse=True)
        top, winner = ranked[0].mean, ranked[0].path
        intent, value, text, is_free = winner.intent, winner.value, winner.text, winner.free
        if item.utt.expect in ("free", "digits") and intent != intents.OPT_OUT:
            # Only listened for an opt-out, and none won: the reply reads as its transcript (or code) says.
            return dataclasses.replace(self._open_result(item, language), scores=raw)
        # Softmax over answers of their per-token margins to the winner (see confidence_scale).
        scale = self.options.confidence_scale
        weights = np.exp(scale * (np.array([b.mean for b in ranked]) - top))
        confidence = float(1.0 / weights.sum())
        # Report what was heard: the free transcript when it agrees or won, else the phrasing.
        heard = item.text if is_free or item.free_intent == intent else text
        return Recognition(
            heard,
            intent,
            round(confidence, 3),
            language,
            0.0,
            value,
            transcript=item.text,
            scores=raw,
            decided_by="scoring",
        )


# Requests heard at any question, whatever it expects (a choice, a keypad code): scored at choice
# questions, read from the free transcript at open and keypad ones (where the opt-out is scored too).
_OVERRIDES: Final = (intents.OPT_OUT, intents.OPERATOR, intents.CALLBACK)


def _enders(model: _Model) -> list[int]:
    """Tokens that end a reply: <|endoftext|> or a closing . ! ?"""
    return [model.tokenizer.eot, *(model.tokens_raw(p)[0] for p in (".", "!", "?"))]


def _only_digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def _repeats(head: str, rest: str) -> bool:
    """Does `rest` look like a decoding loop after `head`: the code's start again, or its last one
    to three digits over and over (at least two digits of either)?"""
    if len(rest) < 2 or not head:
        return False
    if head.startswith(rest[: len(head)]):
        return True
    return any(len(head) >= k and (head[-k:] * len(rest)).startswith(rest) for k in (1, 2, 3))


@dataclass(frozen=True)
class _Span:
    start: int  # first sample
    end: int  # one past the last


def _loud_span(audio: FloatArray, floor_db: float = -40.0, pad_s: float = 0.2) -> _Span | None:
    """First to last 20 ms frame above floor_dB (full scale), padded; None if none is, or if
    fewer than 0.1 s are (a click is not a reply)."""
    frame = SAMPLE_RATE // 50
    n = audio.size // frame
    if n == 0:
        return None
    rms = np.sqrt(np.mean(audio[: n * frame].reshape(n, frame) ** 2, axis=1) + 1e-12)
    loud = np.flatnonzero(20 * np.log10(rms) > floor_db)
    if loud.size < 5:
        return None
    pad = int(pad_s * SAMPLE_RATE)
    return _Span(max(0, int(loud[0]) * frame - pad), min(audio.size, (int(loud[-1]) + 1) * frame + pad))


def _looks_looped(item: _Item) -> bool:
    """A transcript Whisper stopped by the token cap, or ending in one word four times over, or
    faster than anyone speaks (5 words a second), is taken for a decoding loop."""
    words = intents.normalize(item.text).split()
    if item.hit_cap:
        return True
    if len(words) >= 4 and len(set(words[-4:])) == 1:
        return True
    return len(words) > 5 * max(item.speech_s, 0.5) + 2


def _match_choice(text: str, choices: Sequence[str]) -> str:
    """The choice the transcript names; each word of a choice may be inflected («вечер» matches
    «вечером»), the way Russian answers name an option."""
    words = intents.normalize(text).split()
    for choice in choices:
        pattern = " ".join(w + "*" for w in intents.normalize(choice).split())
        if pattern and intents.contains(words, pattern):
            return choice
    return ""


def _resolve(name: str) -> Path:
    return models.resolve(name)


def models_from_env(value: str | None = None) -> dict[str, str]:
    """ "ru=base,en=tiny.en" (OBZVON_ASR_MODELS) -> {"ru": "base", "en": "tiny.en"}."""
    raw = value if value is not None else os.environ.get("OBZVON_ASR_MODELS", "")
    if not raw.strip():
        return dict(DEFAULT_MODELS)
    out: dict[str, str] = {}
    for part in raw.split(","):
        language, _, name = part.partition("=")
        if not name:
            raise ValueError(f"OBZVON_ASR_MODELS entry {part!r} is not language=model")
        out[language.strip()] = name.strip()
    return out
