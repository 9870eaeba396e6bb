"""Synthetic fullband speech from the pyopenjtalk-plus "mei" HTS voice (48 kHz, content to ~22 kHz).

Used by `prepare_corpus.py --tts mei` (tts_corpus.py). Real recordings listed in docs/DATA.md are mostly band-limited
(only about a quarter reaches 12 kHz), so a network trained on them alone learns that speech
has no highs; mei is the one offline source with energy up to 20 kHz.

Text: pseudo-Japanese sentences drawn from the CV mora inventory (no language model is needed
for the acoustics we train on: formants, pitch contours, fricative and plosive highs). Each
"voice" is a (half_tone, speed) pair applied to the one HTS model: half_tone shifts F0 by
semitones (-8 .. +5: from a low, male-range pitch to a high one), speed changes the speaking
rate (0.8 .. 1.3). Voices are the split groups, so dev voices never appear in training.
"""
from __future__ import annotations

import numpy as np

# Moras of the Japanese syllabary (hiragana), with weights so common moras come more often.
MORAS = list("あいうえおかきくけこさしすせそたちつてとなにぬねのはひふへほまみむめもやゆよらりるれろわがぎぐげござじずぜぞだでどばびぶべぼぱぴぷぺぽ") + \
    ["きゃ", "きゅ", "きょ", "しゃ", "しゅ", "しょ", "ちゃ", "ちゅ", "ちょ", "じゃ", "じゅ", "じょ", "りょ", "ん", "っ"]


def sentence(rng: np.random.Generator) -> str:
    """A pseudo-sentence: 3-12 words of 1-4 moras, commas between some words, a final 。 or ？."""
    words = []
    for _ in range(int(rng.integers(3, 13))):
        n = int(rng.integers(1, 5))
        w = "".join(MORAS[int(i)] for i in rng.integers(0, len(MORAS) - 2, n))
        if rng.random() < 0.15:
            w += "ん"
        words.append(w)
        if rng.random() < 0.2:
            words.append("、")
    return "".join(words) + ("？" if rng.random() < 0.15 else "。")


def voices(n: int, seed: int) -> list[tuple[float, float]]:
    """n (half_tone, speed) pairs spread over the plausible range (stratified in half_tone)."""
    rng = np.random.default_rng(seed)
    ht = np.linspace(-8.0, 5.0, n) + rng.uniform(-0.3, 0.3, n)
    sp = rng.uniform(0.8, 1.3, n)
    return [(float(a), float(b)) for a, b in zip(ht, sp)]


def synthesize(text: str, half_tone: float, speed: float) -> tuple[np.ndarray, int]:
    """-> (float64 samples in -1..1, sample rate). pyopenjtalk returns int16-scaled floats."""
    import pyopenjtalk  # only the tts stage needs it (installed by setup.sh)

    x, sr = pyopenjtalk.tts(text, speed=speed, half_tone=half_tone, use_sudachi_kanji_yomi=False)
    return np.asarray(x, dtype=np.float64) / 32768.0, int(sr)


def utterance(rng: np.random.Generator, half_tone: float, speed: float, seconds: float):
    """Sentences of one voice joined with 0.2-0.6 s pauses until about `seconds` long."""
    parts, total, sr = [], 0.0, 48000
    while total < seconds:
        y, sr = synthesize(sentence(rng), half_tone, speed)
        parts.append(y)
        gap = np.zeros(int(rng.uniform(0.2, 0.6) * sr))
        parts.append(gap)
        total += (len(y) + len(gap)) / sr
    return np.concatenate(parts[:-1]), sr
