#!/usr/bin/env python3
"""What the denoiser does to the highs of clean fullband speech (no noise added).

    python3 eval/highs.py [--bin target/release/percepnet] [--weights W.pnw ...]
                          [--material training/data/devset/material] [--min-bandwidth 19000]

For `examples/clean.wav` and every clean development utterance whose clips all reach
--min-bandwidth Hz (their `bandwidth_hz` in the material's selection.csv, written by
training/eval_dev.py), runs `BIN denoise [--weights W] IN OUT` and compares the long-term energy
of the output with the input's in the top bands of the engine's 34-band layout
(src/dsp/bands.rs: triangles between the centres below, in bins of 50 Hz, 960-sample
power-complementary windows, 480-sample hops; bins above 20 kHz count in the last band), the
measurement `tests/quality.rs` makes on `examples/clean.wav` (which allows 3 dB in every band
above 8 kHz). Prints, per weights file, the example's change in bands 26-33 and the mean and
worst change over the development utterances. A denoiser that keeps a voice's highs changes
them by ~0 dB; one that has learned that energy near 20 kHz is noise takes dB off the top bands.
"""

import argparse
import csv
import importlib.util
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

if __name__ == "__main__" and not all(importlib.util.find_spec(m) for m in ("numpy", "soundfile")):
    venv_python = Path(os.environ.get("PN_EVAL_CACHE", Path.home() / ".cache/percepnet-eval")) / "venv/bin/python"
    if not venv_python.exists() or Path(sys.executable) == venv_python:
        sys.exit("eval/highs.py: needs numpy and soundfile: run `bash eval/setup.sh` first")
    os.execv(venv_python, [str(venv_python), __file__, *sys.argv[1:]])

import numpy as np  # noqa: E402  (after the re-execution above)
import soundfile as sf  # noqa: E402

# Band centres in bins of 50 Hz, as src/dsp/bands.rs BAND_CENTERS.
CENTRES = [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 23, 26, 29, 33, 37, 41, 46, 52, 58, 64, 71,
           81, 91, 103, 117, 133, 154, 177, 206, 241, 283, 336, 400]
WINDOW = 960
HOP = 480
# Bands reported: 26 (6.6 kHz) to 33 (20 kHz).
FIRST_BAND = 26


def band_matrix() -> np.ndarray:
    """W[b, k]: weight of bin k in band b (triangles; bins above the last centre in the last band)."""
    w = np.zeros((len(CENTRES), WINDOW // 2 + 1))
    for b in range(len(CENTRES) - 1):
        lo, hi = CENTRES[b], CENTRES[b + 1]
        for k in range(lo, hi):
            f = (k - lo) / (hi - lo)
            w[b, k] += 1 - f
            w[b + 1, k] += f
    w[-1, CENTRES[-1]:] = 1.0
    return w


BANDS = band_matrix()


def long_term_bands(x: np.ndarray) -> np.ndarray:
    """Band energies summed over all frames."""
    n = np.arange(WINDOW)
    win = np.sin(np.pi / 2 * np.sin(np.pi * (n + 0.5) / WINDOW) ** 2)
    frames = (len(x) - WINDOW) // HOP + 1
    idx = n[None, :] + HOP * np.arange(frames)[:, None]
    power = (np.abs(np.fft.rfft(x[idx] * win, axis=1)) ** 2).sum(0)
    return BANDS @ power


def fullband_utterances(material: Path, min_bandwidth: float) -> list:
    sel = material / "selection.csv"
    if not sel.exists():
        return []
    bandwidths = {}
    with open(sel, newline="") as f:
        for row in csv.DictReader(f):
            if row["kind"] == "clean":
                bandwidths.setdefault(row["file"], []).append(float(row["bandwidth_hz"]))
    return [material / "clean" / name for name, bw in sorted(bandwidths.items()) if min(bw) >= min_bandwidth]


def change_db(binary: str, weights: str, path: Path, tmp: Path) -> np.ndarray:
    x, rate = sf.read(path, dtype="float64")
    if x.ndim > 1:
        x = x.mean(axis=1)
    if rate != 48000:
        raise SystemExit(f"eval/highs.py: {path} is not at 48 kHz")
    out = tmp / "out.wav"
    cmd = [binary, "denoise", "--overwrite"] + (["--weights", weights] if weights else []) + [str(path), str(out)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    y, _ = sf.read(out, dtype="float64")
    if y.ndim > 1:
        y = y.mean(axis=1)
    a, b = long_term_bands(x), long_term_bands(y[: len(x)])
    return 10 * np.log10(b[FIRST_BAND:] / a[FIRST_BAND:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=str(ROOT / "target" / "release" / "percepnet"))
    ap.add_argument("--weights", nargs="*", default=[""], help="weights files (default: the embedded ones)")
    ap.add_argument("--material", default=str(ROOT / "training" / "data" / "devset" / "material"))
    ap.add_argument("--min-bandwidth", type=float, default=19000.0)
    args = ap.parse_args()
    utterances = fullband_utterances(Path(args.material), args.min_bandwidth)
    header = " ".join(f"b{b}" for b in range(FIRST_BAND, len(CENTRES)))
    print(f"bands {FIRST_BAND}-{len(CENTRES) - 1} ({CENTRES[FIRST_BAND] * 50} Hz to 20 kHz): {header}")
    with tempfile.TemporaryDirectory() as tmp:
        for weights in args.weights:
            name = os.path.basename(weights) or "embedded weights"
            example = change_db(args.bin, weights, ROOT / "examples" / "clean.wav", Path(tmp))
            print(f"{name}: examples/clean.wav  " + " ".join(f"{v:+.2f}" for v in example))
            if not utterances:
                print("  (no development material: build it with training/eval_dev.py --build-only)")
                continue
            dev = np.array([change_db(args.bin, weights, u, Path(tmp)) for u in utterances])
            print(f"{name}: mean of {len(utterances)} fullband dev utterances  " + " ".join(f"{v:+.2f}" for v in dev.mean(0)))
            print(f"{name}: worst of them  " + " ".join(f"{v:+.2f}" for v in dev.min(0)))


if __name__ == "__main__":
    main()
