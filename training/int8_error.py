#!/usr/bin/env python3
"""Where the int8 network's error comes from: float64 simulation of `src/model/quant`, layer by layer.

    $PY training/int8_error.py training/checkpoints/current/model.pt \
        [--val training/data/features/dev/dev2-balanced.pnf] [--frames 300] [--chunks 4] [--mode both]

Runs the checkpoint frame by frame in float64 on `--chunks` evenly spaced runs of `--frames`
frames of a `.pnf` file, once exact and once per group of matrices with those matrices
simulated as the Rust int8 path computes them (module documentation of src/model/quant):

    weights  q_ij = round(w_ij / s_i), s_i = max_j |w_ij| / 127     (per row; ties to even)
    inputs   p_j  = round(x_j / t),    t   = max_j |x_j| / 127      (per product, per frame)
    product  y_i  = s_i t sum_j q_ij p_j                            (exact here, as in i32)

(`--mode weights` or `inputs` rounds only one side.) The int8 matrices are those the Rust
network switches: conv1, conv2 (their taps side by side as one matrix), W_ih and W_hh of each
GRU, the dense g and r heads; the first dense layer and the presence output stay f32, as do
biases and activations. Prints max, 99.9th percentile and mean of |g_int8 - g| and |r_int8 - r|
per group. The simulation with no matrix rounded is the model's own forward pass (tested in
test_trainer.py), so the differences are the rounding alone.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from train import PnfFile, int8_rounded  # noqa: E402

D = torch.float64


def round_input(x: torch.Tensor) -> torch.Tensor:
    """One scale for the whole input vector, back in float: t round(x_j / t)."""
    t = x.abs().max() / 127
    if t == 0:
        return x
    return torch.round(x / t).clamp(-127, 127) * t


def matrix_names(config: dict) -> list[str]:
    """The matrices the Rust network runs in int8, in its order."""
    grus = [f"grus.{i}" for i in range(int(config["gru_layers"]))] + ["gru_g", "gru_r"]
    return ["conv1", "conv2"] + [f"{g}.{s}" for g in grus for s in ("ih", "hh")] + ["dense_g", "dense_r"]


@torch.no_grad()
def simulate(state: dict, config: dict, feats: torch.Tensor, rounded=frozenset(), mode="both"):
    """feats [T, NF] raw features -> (g, r) [T, NB] in float64, the matrices named in
    `rounded` computed as the int8 path does (`mode`: both sides, or only weights / inputs)."""
    p = {k: v.to(D) for k, v in state.items()}

    def product(name, w):
        w = w.reshape(w.shape[0], -1)
        q = name in rounded
        if q and mode in ("both", "weights"):
            w = int8_rounded(w)
        rx = q and mode in ("both", "inputs")
        return lambda x: w @ (round_input(x) if rx else x)

    x = (feats.to(D) - p["feat_mean"]) / p["feat_std"]
    y = torch.tanh(x @ p["dense.weight"].T + p["dense.bias"])
    frames = y.shape[0]
    for name in ("conv1", "conv2"):
        w = p[name + ".weight"]                                 # [out, in, k]
        k = w.shape[2]
        mul = product(name, w.permute(0, 2, 1))                 # columns: tap-major
        padded = torch.cat([torch.zeros(k - 1, y.shape[1], dtype=D), y])
        y = torch.stack([torch.tanh(mul(padded[t:t + k].reshape(-1)) + p[name + ".bias"])
                         for t in range(frames)])

    def gru(inp, pre):
        h_size = p[pre + ".weight_hh_l0"].shape[1]
        mi = product(pre + ".ih", p[pre + ".weight_ih_l0"])
        mh = product(pre + ".hh", p[pre + ".weight_hh_l0"])
        h, out = torch.zeros(h_size, dtype=D), []
        for t in range(frames):
            gi = mi(inp[t]) + p[pre + ".bias_ih_l0"]
            gh = mh(h) + p[pre + ".bias_hh_l0"]
            r = torch.sigmoid(gi[:h_size] + gh[:h_size])
            z = torch.sigmoid(gi[h_size:2 * h_size] + gh[h_size:2 * h_size])
            n = torch.tanh(gi[2 * h_size:] + r * gh[2 * h_size:])
            h = (1 - z) * n + z * h
            out.append(h)
        return torch.stack(out)

    for i in range(int(config["gru_layers"])):
        y = gru(y, f"grus.{i}")
    hg, hr = gru(y, "gru_g"), gru(y, "gru_r")
    mg, mr = product("dense_g", p["dense_g.weight"]), product("dense_r", p["dense_r.weight"])
    g = torch.sigmoid(torch.stack([mg(v) for v in hg]) + p["dense_g.bias"])
    r = torch.sigmoid(torch.stack([mr(v) for v in hr]) + p["dense_r.bias"])
    return g, r


def groups(config: dict) -> dict[str, frozenset]:
    names = matrix_names(config)
    return {
        "all int8": frozenset(names),
        "all but the heads": frozenset(names) - {"dense_g", "dense_r"},
        "dense heads only": frozenset({"dense_g", "dense_r"}),
        "convolutions only": frozenset({"conv1", "conv2"}),
        "trunk GRUs only": frozenset(n for n in names if n.startswith("grus.")),
        "head GRUs only": frozenset(n for n in names if n.startswith("gru_")),
    }


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("ckpt")
    ap.add_argument("--val", default="training/data/features/dev/dev2-balanced.pnf")
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--chunks", type=int, default=4)
    ap.add_argument("--mode", choices=("both", "weights", "inputs"), default="both")
    args = ap.parse_args(argv)
    ck = torch.load(args.ckpt, map_location="cpu", weights_only=False)
    state, config = ck["model"], ck["config"]
    f = PnfFile(args.val)
    n = min(args.frames, f.frames)
    chunks = []
    for s in np.linspace(0, f.frames - n, args.chunks).astype(int):
        feats = torch.from_numpy(np.array(f.rows(int(s), n)[:, :f.nf]))
        chunks.append((feats, simulate(state, config, feats)))
    print(f"{args.ckpt}: {args.chunks} x {n} frames of {args.val}, rounding {args.mode}")
    for name, rounded in groups(config).items():
        eg, er = [], []
        for feats, (g0, r0) in chunks:
            g, r = simulate(state, config, feats, rounded, args.mode)
            eg.append((g - g0).abs().flatten())
            er.append((r - r0).abs().flatten())
        eg, er = torch.cat(eg), torch.cat(er)
        print(f"{name:18s} |g| max {eg.max():.4f} p99.9 {eg.quantile(0.999):.4f} mean {eg.mean():.5f}"
              f"   |r| max {er.max():.4f} mean {er.mean():.5f}")


if __name__ == "__main__":
    main()
