#!/usr/bin/env python3
"""Room impulse responses for the reverberation augmentation (pyroomacoustics, image method).

    ~/.cache/pn-train/venv/bin/python training/make_irs.py [--count 300] [--out training/data/irs]

Shoebox rooms from a small booth to a hall (3x2.5x2.2 m .. 20x15x6 m), RT60 0.1-1.2 s (Sabine
inversion gives the wall absorption and the image order), source 0.3-4 m from the microphone
(kept inside the room, 0.3 m from walls), both at 1-2 m height; 48 kHz. Orders above 20 are
capped (the late tail of long rooms comes out a little short; the target keeps only the direct
path + 50 ms anyway, see src/dataset.rs). Each IR is cut where it has decayed by 60 dB, peak
normalised, written as 48 kHz float WAV, and listed in `lists/irs.txt`, the list
`percepnet features --irs` reads. Deterministic for a given --seed. Takes ~1 min.
"""
import argparse
from pathlib import Path

import numpy as np
import pyroomacoustics as pra
import soundfile as sf

SR = 48000


def room_ir(rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """One random shoebox room -> (impulse response, parameters)."""
    while True:
        dims = np.array([rng.uniform(3, 20), rng.uniform(2.5, 15), rng.uniform(2.2, 6)])
        rt60 = float(rng.uniform(0.1, 1.2))
        try:
            absorption, order = pra.inverse_sabine(rt60, dims)
        except ValueError:   # this RT60 is impossible in this room: draw again
            continue
        mic = np.array([rng.uniform(0.3, dims[0] - 0.3), rng.uniform(0.3, dims[1] - 0.3), rng.uniform(1, 2)])
        d = float(rng.uniform(0.3, 4.0))
        for _ in range(50):
            az = rng.uniform(0, 2 * np.pi)
            src = mic + np.array([d * np.cos(az), d * np.sin(az), rng.uniform(-0.3, 0.3)])
            if np.all(src > 0.3) and np.all(src < dims - 0.3):
                break
        else:
            continue
        room = pra.ShoeBox(dims, fs=SR, materials=pra.Material(absorption), max_order=min(order, 20))
        room.add_source(src)
        room.add_microphone(mic)
        room.compute_rir()
        h = np.asarray(room.rir[0][0], dtype=np.float64)
        e = np.cumsum(h[::-1] ** 2)[::-1]
        end = int(np.searchsorted(-e, -e[0] * 1e-6)) + 1    # Schroeder decay reaches -60 dB
        h = h[: max(end, SR // 100)]
        return h / np.max(np.abs(h)), dict(dims=dims.round(2).tolist(), rt60=round(rt60, 2), dist=round(d, 2))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=300)
    ap.add_argument("--seed", type=int, default=20251125)
    ap.add_argument("--out", type=Path, default=Path("training/data/irs"))
    ap.add_argument("--lists", type=Path, default=Path("training/data/lists"))
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    a.out.mkdir(parents=True, exist_ok=True)
    a.lists.mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(a.count):
        h, p = room_ir(rng)
        path = (a.out / f"ir_{i:04d}.wav").resolve()
        sf.write(str(path), h.astype(np.float32), SR, subtype="FLOAT")
        lines.append(str(path))
        if i % 50 == 0:
            print(f"ir {i}: {p}, {len(h) / SR:.2f} s", flush=True)
    (a.lists / "irs.txt").write_text("\n".join(lines) + "\n")
    print(f"{a.count} impulse responses -> {a.out}, list {a.lists / 'irs.txt'}")


if __name__ == "__main__":
    main()
