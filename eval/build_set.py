#!/usr/bin/env python3
"""Build a noisy/clean test set: every clean file mixed with noise at every SNR, 48 kHz mono.

    python eval/build_set.py --clean DIR --noise DIR --out DIR [--snrs=-5,0,5,10,15,20] [--seed 0]

(`--snrs=` with `=`, because the value starts with a dash.)

Inputs: audio files (wav/flac/ogg/aiff, any rate and channel count; mixed to mono and resampled
to 48 kHz with soxr HQ) found recursively under --clean and --noise, sorted by relative path.
A noise file's name (without extension) is its noise type in the manifest and the tables.

Levels: each clean file is set to --level-dbfs (-26) active speech level (RMS of its 20 ms frames
within 40 dB of the loudest). The noise excerpt (seeded random start; looped when shorter than
the speech) is made zero-mean and scaled so that speech level / noise RMS = the SNR. If the
mixture would peak above -1 dBFS, clean and noisy are scaled down together (the pair stays
consistent; the SNR is unchanged).

Noise assignment (N noise types, C clean files): the pairs of SNR number j use the noises
j*C, j*C+1, ..., j*C+C-1 (mod N), a block that continues where the previous SNR's ended. So each
noise is used equally often at each SNR, and over the whole set, to within one when N does not
divide C. Inside a block the noises are handed to the clean files in a rotation chosen so that
a clean file meets as many different noises over the SNRs as possible.

Deterministic: the same inputs and arguments give byte-identical files (no time stamps, random
numbers from sha256-seeded generators keyed by file and SNR).

Writes OUT/clean/ID.wav, OUT/noisy/ID.wav (--subtype, default PCM_16) and OUT/manifest.csv:
id, noisy, clean (paths relative to OUT), snr_db, noise (type), clean_src, noise_src (relative
to --clean / --noise), noise_offset_s, duration_s, gain_db (the -1 dBFS guard, 0 when unused).
The clean/ and noisy/ folders are emptied first.
"""
from __future__ import annotations

import argparse
import csv
import os
import re
import shutil
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pn_audio import AUDIO_EXTS, SR, active_rms, read_mono, rms, rng_for, write_wav  # noqa: E402

PEAK_LIMIT = 10 ** (-1 / 20)


def audio_files(folder: str) -> list[str]:
    """Relative paths of the audio files under folder, sorted."""
    found = []
    for root, _, names in os.walk(folder):
        for name in names:
            if name.lower().endswith(AUDIO_EXTS):
                found.append(os.path.relpath(os.path.join(root, name), folder))
    return sorted(found)


def tag(rel: str) -> str:
    """File name without extension, made safe for ids and table headers."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", os.path.splitext(os.path.basename(rel))[0]).strip("-")[:48] or "x"


def assignment(n_clean: int, n_snr: int, n_noise: int) -> list[list[int]]:
    """noise index for [snr j][clean i]; see the module docstring."""
    plan: list[list[int]] = []
    met: list[set[int]] = [set() for _ in range(n_clean)]
    for j in range(n_snr):
        block = [(j * n_clean + p) % n_noise for p in range(n_clean)]
        best_row, best_repeats = None, None
        for shift in range(n_clean):
            row = [block[(i + shift) % n_clean] for i in range(n_clean)]
            repeats = sum(1 for i in range(n_clean) if row[i] in met[i])
            if best_repeats is None or repeats < best_repeats:
                best_row, best_repeats = row, repeats
        plan.append(best_row)
        for i, k in enumerate(best_row):
            met[i].add(k)
    return plan


def excerpt(noise: np.ndarray, n: int, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """n samples of noise from a random start (looped when the noise is shorter)."""
    if len(noise) >= n:
        start = int(rng.integers(0, len(noise) - n + 1))
        return noise[start: start + n], start
    reps = -(-n // len(noise))
    return np.tile(noise, reps)[:n], 0


def build(clean_dir: str, noise_dir: str, out_dir: str, snrs: list[float], seed: int = 0,
          level_dbfs: float = -26.0, subtype: str = "PCM_16", log=print) -> list[dict]:
    cleans, noises = audio_files(clean_dir), audio_files(noise_dir)
    if not cleans or not noises:
        raise SystemExit(f"build_set: no audio under {clean_dir if not cleans else noise_dir}")
    types = [tag(p) for p in noises]
    if len(set(types)) != len(types):
        raise SystemExit("build_set: two noise files have the same name; the name is the noise type")
    for sub in ("clean", "noisy"):
        shutil.rmtree(os.path.join(out_dir, sub), ignore_errors=True)
        os.makedirs(os.path.join(out_dir, sub))
    plan = assignment(len(cleans), len(snrs), len(noises))
    target = 10 ** (level_dbfs / 20)
    noise_audio: dict[int, np.ndarray] = {}
    rows = []
    for i, crel in enumerate(cleans):
        speech = read_mono(os.path.join(clean_dir, crel))
        speech = (speech - speech.mean()) * (target / active_rms(speech))
        for j, snr in enumerate(snrs):
            k = plan[j][i]
            if k not in noise_audio:
                x = read_mono(os.path.join(noise_dir, noises[k]))
                noise_audio[k] = x - x.mean()
            seg, start = excerpt(noise_audio[k], len(speech), rng_for(seed, "excerpt", crel, f"{snr:g}", noises[k]))
            seg = seg - seg.mean()
            seg = seg * (target / 10 ** (snr / 20) / rms(seg))
            noisy = speech + seg
            gain = min(1.0, PEAK_LIMIT / max(float(np.abs(noisy).max()), 1e-12))
            pid = f"{i:03d}_{tag(crel)}_{types[k]}_{snr:+g}dB"
            write_wav(os.path.join(out_dir, "clean", pid + ".wav"), speech * gain, subtype)
            write_wav(os.path.join(out_dir, "noisy", pid + ".wav"), noisy * gain, subtype)
            rows.append({"id": pid, "noisy": f"noisy/{pid}.wav", "clean": f"clean/{pid}.wav", "snr_db": f"{snr:g}",
                         "noise": types[k], "clean_src": crel, "noise_src": noises[k],
                         "noise_offset_s": f"{start / SR:.4f}", "duration_s": f"{len(speech) / SR:.4f}",
                         "gain_db": f"{20 * np.log10(gain):.2f}"})
    with open(os.path.join(out_dir, "manifest.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    log(f"build_set: {len(rows)} pairs = {len(cleans)} clean x {len(snrs)} SNRs, {len(noises)} noise types "
        f"-> {os.path.join(out_dir, 'manifest.csv')}")
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clean", required=True, help="folder of clean speech")
    ap.add_argument("--noise", required=True, help="folder of noise (one file per noise type)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--snrs", default="-5,0,5,10,15,20", help="dB, comma-separated")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--level-dbfs", type=float, default=-26.0, help="active speech level of the clean files")
    ap.add_argument("--subtype", default="PCM_16", help="WAV sample format: PCM_16, PCM_24, FLOAT")
    a = ap.parse_args(argv)
    snrs = [float(s) for s in a.snrs.split(",") if s.strip()]
    build(a.clean, a.noise, a.out, snrs, a.seed, a.level_dbfs, a.subtype)
    return 0


if __name__ == "__main__":
    sys.exit(main())
