#!/usr/bin/env python3
"""Compare denoiser settings on a tuning set made from TRAINING material only (never the dev set).

    ~/.cache/pn-eval/venv/bin/python training/tune_settings.py [--bin target/release/percepnet] \
        [--files 36] --variant "pf1=--post-filter 1" --variant "pf0=--post-filter 0" ...

Builds (once, seeded) `training/data/tuneset/`: `--files` utterances from
`lists/speech_train.txt` (recordings of 4-12 s) each mixed with an excerpt of
`lists/noise_train.txt` at an SNR cycling through 0, 5, 10, 20 dB and "clean" (no noise),
speech at -26 dBFS RMS. Then runs `percepnet denoise OPTIONS` for every variant and prints
PESQ-WB (against the clean speech) and DNSMOS P.835 SIG/BAK/OVRL per condition. Runs under the
peer-harness venv (speechmos, pesq, soundfile).
"""
from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys

import numpy as np
import soundfile as sf

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
LISTS = os.path.join(HERE, "data", "lists")
OUT = os.path.join(HERE, "data", "tuneset")
SR = 48000
CONDITIONS = ["0", "5", "10", "20", "clean"]


def read_list(path):
    with open(path) as f:
        return [ln.split(",")[0].strip() for ln in f if ln.strip() and not ln.startswith("#")]


def build(n: int, seed: int) -> list[tuple[str, str, str]]:
    rng = random.Random(seed)
    speech = [p for p in read_list(os.path.join(LISTS, "speech_train.txt")) if "tts-" not in p]
    noise = read_list(os.path.join(LISTS, "noise_train.txt"))
    rng.shuffle(speech)
    rng.shuffle(noise)
    os.makedirs(os.path.join(OUT, "clean"), exist_ok=True)
    os.makedirs(os.path.join(OUT, "noisy"), exist_ok=True)
    items, si, ni = [], 0, 0
    while len(items) < n and si < len(speech):
        s, sr = sf.read(speech[si], dtype="float32", always_2d=True)
        si += 1
        s = s.mean(axis=1)
        if sr != SR or not 4 * SR <= len(s) <= 12 * SR:
            continue
        s *= 10 ** (-26 / 20) / max(np.sqrt(np.mean(s**2)), 1e-9)
        cond = CONDITIONS[len(items) % len(CONDITIONS)]
        x = s.copy()
        if cond != "clean":
            nz = np.zeros(0, dtype=np.float32)
            while len(nz) < len(s):
                v, nsr = sf.read(noise[ni % len(noise)], dtype="float32", always_2d=True)
                ni += 1
                if nsr == SR and len(v) > SR:
                    nz = np.concatenate([nz, v.mean(axis=1)])
            start = rng.randrange(0, len(nz) - len(s) + 1)
            nz = nz[start:start + len(s)]
            g = np.sqrt(np.mean(s**2) / max(np.mean(nz**2), 1e-12)) * 10 ** (-float(cond) / 20)
            x = s + g * nz
        name = f"{len(items):03d}_{cond}.wav"
        sf.write(os.path.join(OUT, "clean", name), s, SR, subtype="FLOAT")
        sf.write(os.path.join(OUT, "noisy", name), x, SR, subtype="FLOAT")
        items.append((name, cond, speech[si - 1]))
    with open(os.path.join(OUT, "manifest.csv"), "w") as f:
        f.writelines(f"{a},{b},{c}\n" for a, b, c in items)
    return items


def scores(clean: np.ndarray, y: np.ndarray) -> dict:
    import soxr
    from pesq import pesq
    from speechmos import dnsmos
    c16 = soxr.resample(clean, SR, 16000, quality="HQ")
    y16 = soxr.resample(y, SR, 16000, quality="HQ")
    r = dnsmos.run(y16, 16000)
    return {"pesq": pesq(16000, c16, y16, "wb"), "sig": r["sig_mos"], "bak": r["bak_mos"],
            "ovrl": r["ovrl_mos"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "percepnet"))
    ap.add_argument("--files", type=int, default=36)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--variant", action="append", default=[], help="NAME=denoise options")
    ap.add_argument("--noisy", action="store_true", help="also score the unprocessed input")
    a = ap.parse_args()
    man = os.path.join(OUT, "manifest.csv")
    if os.path.exists(man):
        with open(man) as f:
            items = [tuple(ln.strip().split(",", 2)) for ln in f if ln.strip()]
    else:
        items = build(a.files, a.seed)
    variants = [v.split("=", 1) for v in a.variant]
    if a.noisy:
        variants.insert(0, ["noisy", None])
    print(f"{len(items)} files; conditions {CONDITIONS}")
    print("| variant | " + " | ".join(f"{c}: PESQ SIG/BAK/OVRL" for c in CONDITIONS) + " | all OVRL |")
    print("|---|" + "---|" * (len(CONDITIONS) + 1))
    for name, opts in variants:
        out_dir = os.path.join(OUT, "out-" + name)
        os.makedirs(out_dir, exist_ok=True)
        if opts is not None:
            files = [os.path.join(OUT, "noisy", it[0]) for it in items]
            subprocess.run([a.bin, "denoise", "--overwrite", "-o", out_dir, *opts.split(), *files],
                           check=True, stdout=subprocess.DEVNULL)
        per = {c: [] for c in CONDITIONS}
        for it in items:
            clean, _ = sf.read(os.path.join(OUT, "clean", it[0]), dtype="float32")
            src = os.path.join(OUT, "noisy", it[0]) if opts is None else os.path.join(out_dir, it[0])
            y, _ = sf.read(src, dtype="float32")
            per[it[1]].append(scores(clean, y[: len(clean)]))
        cells, allo = [], []
        for c in CONDITIONS:
            m = {k: np.mean([r[k] for r in per[c]]) for k in ("pesq", "sig", "bak", "ovrl")}
            allo += [r["ovrl"] for r in per[c]]
            cells.append(f"{m['pesq']:.2f} {m['sig']:.2f}/{m['bak']:.2f}/{m['ovrl']:.2f}")
        print(f"| {name} | " + " | ".join(cells) + f" | {np.mean(allo):.3f} |", flush=True)


if __name__ == "__main__":
    sys.exit(main())
