#!/usr/bin/env python3
"""Before/after spectrogram of the bundled example, from the current build: docs/spectrogram.png.

    cargo build --release && python3 scripts/spectrogram.py [--bin target/release/percepnet] [--out docs/spectrogram.png]

Denoises examples/noisy.wav with the CLI (defaults, as a user would) into a temporary folder and
draws three panels on one time and frequency axis: the clean speech (examples/clean.wav), the
noisy input (the same speech with pink noise and 50 Hz hum at 5 dB SNR) and PercepNet's output.
Under each panel: the level of what is left in the speech pauses (frames where the clean speech
is more than 40 dB below its loudest frame) relative to the noisy input there.

Needs numpy, soundfile and matplotlib: started with a Python that lacks them, it re-executes
itself with the evaluation harness's venv ($PN_EVAL_CACHE/venv, default ~/.cache/percepnet-eval,
made by `bash eval/setup.sh`).
"""

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

try:
    import numpy as np
    import soundfile as sf
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    venv_python = Path(os.environ.get("PN_EVAL_CACHE", Path.home() / ".cache/percepnet-eval")) / "venv/bin/python"
    if not venv_python.exists() or Path(sys.executable) == venv_python:
        sys.exit("scripts/spectrogram.py: needs numpy, soundfile and matplotlib: run `bash eval/setup.sh` first")
    os.execv(venv_python, [str(venv_python), __file__, *sys.argv[1:]])

# Analysis: 2048-point Hann windows every 10 ms at 48 kHz (43 ms, 23 Hz per bin).
N_FFT = 2048
HOP = 480
# Colour range: 0 dB is the loudest bin of the clean speech; 90 dB below it is black.
RANGE_DB = 90.0
# Pause frames: clean-speech frame energy this far below its loudest frame.
PAUSE_DB = 40.0


def spectrogram(x):
    """Power spectrogram, bins x frames."""
    win = np.hanning(N_FFT).astype(np.float64)
    frames = 1 + (len(x) - N_FFT) // HOP
    idx = np.arange(N_FFT)[None, :] + HOP * np.arange(frames)[:, None]
    return (np.abs(np.fft.rfft(x[idx] * win, axis=1)) ** 2).T


def pause_frames(clean_spec):
    """Frames where the clean speech's energy is more than PAUSE_DB under its loudest frame."""
    frame_energy = clean_spec.sum(axis=0)
    return frame_energy < frame_energy.max() * 10 ** (-PAUSE_DB / 10)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=str(ROOT / "target/release/percepnet"))
    ap.add_argument("--out", default=str(ROOT / "docs/spectrogram.png"))
    args = ap.parse_args()

    clean, rate = sf.read(ROOT / "examples/clean.wav", dtype="float64")
    noisy, _ = sf.read(ROOT / "examples/noisy.wav", dtype="float64")
    with tempfile.TemporaryDirectory(prefix="percepnet-spectrogram-") as tmp:
        out_path = Path(tmp) / "denoised.wav"
        subprocess.run([args.bin, "denoise", str(ROOT / "examples/noisy.wav"), str(out_path)], check=True,
                       stdout=subprocess.DEVNULL)
        denoised, _ = sf.read(out_path, dtype="float64")
    n = min(len(clean), len(noisy), len(denoised))
    signals = [clean[:n], noisy[:n], denoised[:n]]
    specs = [spectrogram(s) for s in signals]
    ref = specs[0].max()

    pauses = pause_frames(specs[0])
    noisy_pause = specs[1][:, pauses].sum()

    titles = ["clean speech (examples/clean.wav)", "noisy input (examples/noisy.wav: pink noise + 50 Hz hum, 5 dB SNR)",
              "PercepNet output (percepnet denoise, defaults)"]
    fig, axes = plt.subplots(3, 1, figsize=(10, 8.5), sharex=True, constrained_layout=True)
    extent = [0, specs[0].shape[1] * HOP / rate, 0, rate / 2000]
    for ax, spec, title, i in zip(axes, specs, titles, range(3)):
        db = 10 * np.log10(np.maximum(spec / ref, 1e-30))
        im = ax.imshow(db, origin="lower", aspect="auto", extent=extent, vmin=-RANGE_DB, vmax=0, cmap="magma")
        ax.set_ylabel("kHz")
        if i > 0:
            left = 10 * np.log10(max(spec[:, pauses].sum(), 1e-30) / max(noisy_pause, 1e-30))
            title += f"; in the pauses: {left:+.1f} dB"
        ax.set_title(title, fontsize=10, loc="left")
    axes[-1].set_xlabel("seconds")
    fig.colorbar(im, ax=axes, label="dB (0 = loudest clean-speech bin)", shrink=0.6)
    fig.savefig(args.out, dpi=80)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
