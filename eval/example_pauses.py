#!/usr/bin/env python3
"""The noise left in the bundled example's speech pauses, per frequency range and A-weighted.

    python3 eval/example_pauses.py [--bin target/release/percepnet] [--weights W.pnw ...]

Denoises examples/noisy.wav (speech in pink noise and 50 Hz hum at 5 dB SNR) with `BIN denoise
[--weights W]` and measures, over the pause frames of scripts/spectrogram.py (its analysis:
2048-point Hann windows every 10 ms; pauses: clean-speech frame energy more than 40 dB under
its loudest frame), the output's energy relative to the noisy input's, in dB:

    left(range) = 10 log10( sum over pause frames and bins in range of |Y|^2
                           / the same sum of |X|^2 )

for the whole spectrum (the figure under the spectrogram's bottom panel), for 0-150 Hz (the
hum), 150-1000, 1000-4000, 4000-8000 and 8000-24000 Hz, and A-weighted (each bin's power
weighed by the IEC 61672 A curve, normalised to 0 dB at 1 kHz; what a listener notices more).
In the example, 80 % of the noisy pauses' energy lies below 150 Hz, so the unweighted figure
is mostly the hum.
"""

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

if __name__ == "__main__" and not all(importlib.util.find_spec(m) for m in ("numpy", "soundfile", "matplotlib")):
    venv_python = Path(os.environ.get("PN_EVAL_CACHE", Path.home() / ".cache/percepnet-eval")) / "venv/bin/python"
    if not venv_python.exists() or Path(sys.executable) == venv_python:
        sys.exit("eval/example_pauses.py: needs numpy, soundfile and matplotlib: run `bash eval/setup.sh` first")
    os.execv(venv_python, [str(venv_python), __file__, *sys.argv[1:]])

import numpy as np  # noqa: E402  (after the re-execution above)
import soundfile as sf  # noqa: E402

sys.path.insert(0, str(ROOT / "scripts"))
from spectrogram import N_FFT, pause_frames, spectrogram  # noqa: E402

RATE = 48000
# Frequency ranges reported, in Hz, lower edge included, upper edge not (the Nyquist bin is only
# in the whole-spectrum and A-weighted figures).
RANGES = [(0, 150), (150, 1000), (1000, 4000), (4000, 8000), (8000, RATE // 2)]


def a_weight_power(f):
    """A-weighting as a power factor, 1 at 1 kHz (IEC 61672 pole frequencies)."""
    def ra(f):
        f2 = np.maximum(f, 1.0) ** 2
        return 12194.0**2 * f2**2 / ((f2 + 20.6**2) * np.sqrt((f2 + 107.7**2) * (f2 + 737.9**2)) * (f2 + 12194.0**2))
    return (ra(f) / ra(np.array(1000.0))) ** 2


def pause_levels(noisy_spec, out_spec, pauses, freqs):
    """dB left in the pauses: whole spectrum, each of RANGES, A-weighted."""
    x, y = noisy_spec[:, pauses], out_spec[:, pauses]
    db = lambda num, den: 10 * np.log10(max(num, 1e-30) / max(den, 1e-30))  # noqa: E731
    levels = {"all": db(y.sum(), x.sum())}
    for lo, hi in RANGES:
        k = (freqs >= lo) & (freqs < hi)
        levels[f"{lo}-{hi}"] = db(y[k].sum(), x[k].sum())
    w = a_weight_power(freqs)[:, None]
    levels["A-weighted"] = db((w * y).sum(), (w * x).sum())
    return levels


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=str(ROOT / "target/release/percepnet"))
    ap.add_argument("--weights", nargs="*", default=[None], help="weights files (default: the embedded ones)")
    args = ap.parse_args()

    clean, _ = sf.read(ROOT / "examples/clean.wav", dtype="float64")
    noisy, _ = sf.read(ROOT / "examples/noisy.wav", dtype="float64")
    freqs = np.arange(N_FFT // 2 + 1) * RATE / N_FFT
    pauses = pause_frames(spectrogram(clean))
    noisy_spec = spectrogram(noisy)
    share = noisy_spec[freqs < 150][:, pauses].sum() / noisy_spec[:, pauses].sum()
    print(f"{pauses.sum()} pause frames; {100 * share:.0f} % of the noisy pauses' energy is below 150 Hz")
    for w in args.weights:
        with tempfile.TemporaryDirectory(prefix="percepnet-pauses-") as tmp:
            out = Path(tmp) / "denoised.wav"
            cmd = [args.bin, "denoise"] + (["--weights", w] if w else []) + [str(ROOT / "examples/noisy.wav"), str(out)]
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
            y, _ = sf.read(out, dtype="float64")
        n = min(len(clean), len(y))
        out_spec = spectrogram(y[:n])
        frames = min(out_spec.shape[1], noisy_spec.shape[1])
        levels = pause_levels(noisy_spec[:, :frames], out_spec[:, :frames], pauses[:frames], freqs)
        print(f"{w or 'embedded'}: " + ", ".join(f"{k} {v:.1f} dB" for k, v in levels.items()))


if __name__ == "__main__":
    main()
