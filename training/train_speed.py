#!/usr/bin/env python3
"""Training throughput of `train.py` on this machine, per preset, thread count and forward-pass
mode (float32 or bf16 autocast, eager or `torch.compile`), as a markdown table.

    PY=~/.cache/pn-train/torch-venv/bin/python
    $PY training/train_speed.py --train FEATS.pnf --presets small full --threads 1 2

Each configuration is a fresh `train.py` run (a temporary run directory, no validation) of
`--steps` steps; its speed is the frames per second of the log windows after the first
`--warmup` steps (compilation and the allocator's first passes happen there), and "cpu" is the
share of a core the process got meanwhile (the log's own figure). Nothing else should run on
the machine meanwhile; when something does, compare rows of one run only.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
LINE = re.compile(r"\] step (\d+) .* frames/s (\d+) cpu (\d+)%")
MODES = {"f32": [], "bf16": ["--bf16"], "f32+compile": ["--compile"],
         "bf16+compile": ["--bf16", "--compile"]}


def measure(train: list[str], preset: str, threads: int, mode: str, steps: int, warmup: int,
            extra: list[str]) -> tuple[float, float] | None:
    """Median frames/s and CPU % of the log windows after `warmup` steps (None if it failed)."""
    with tempfile.TemporaryDirectory() as run:
        cmd = [sys.executable, str(HERE / "train.py"), "--train", *train, "--run", run,
               "--preset", preset, "--threads", str(threads), "--max-steps", str(steps),
               "--log-every", "10", "--ckpt-every-min", "1000", "--quiet", *MODES[mode], *extra]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            print(f"{preset} {threads} {mode}: failed\n{done.stderr[-2000:]}", file=sys.stderr)
            return None
        rows = [m for m in map(LINE.search, (Path(run) / "train.log").read_text().splitlines())
                if m and int(m.group(1)) > warmup]
    if not rows:
        return None
    return (statistics.median(float(m.group(2)) for m in rows),
            statistics.median(float(m.group(3)) for m in rows))


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train", nargs="+", required=True, help=".pnf files or directories")
    p.add_argument("--presets", nargs="+", default=["small"])
    p.add_argument("--threads", nargs="+", type=int, default=[1])
    p.add_argument("--modes", nargs="+", choices=sorted(MODES), default=list(MODES))
    p.add_argument("--steps", type=int, default=60, help="steps per configuration (60)")
    p.add_argument("--warmup", type=int, default=20, help="steps not timed (20)")
    p.add_argument("--extra", default="", help="more train.py arguments, e.g. '--batch 64'")
    args = p.parse_args(argv)
    print("| preset | threads | forward pass | frames/s | cpu | vs f32 |")
    print("|---|---|---|---|---|---|")
    for preset in args.presets:
        for threads in args.threads:
            base = None
            for mode in args.modes:
                r = measure(args.train, preset, threads, mode, args.steps, args.warmup,
                            args.extra.split())
                if r is None:
                    print(f"| {preset} | {threads} | {mode} | failed | | |", flush=True)
                    continue
                base = r[0] if mode == "f32" else base
                ratio = f"{r[0] / base:.2f}x" if base else ""
                print(f"| {preset} | {threads} | {mode} | {r[0]:.0f} | {r[1]:.0f} % | {ratio} |",
                      flush=True)


if __name__ == "__main__":
    main()
