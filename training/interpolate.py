#!/usr/bin/env python3
"""Weight-space interpolation of two checkpoints of one lineage: (1 - alpha) A + alpha B.

    $PY training/interpolate.py A.pt B.pt --alpha 0.5 --out MIX.pt
    $PY training/export.py --ckpt MIX.pt --out W.pnw

Both checkpoints must have the same shape and the same feature normalisation, i.e. B was
trained from A (directly or through `--init` runs, which keep the normalisation), so the two
lie in one basin and their average is a network too. A parameter only B has (the presence
output, which `--init` added) is taken from B. The result keeps B's config, step and
validation loss and records where it came from (`interpolated`).

Why: a fine-tuned network removes more noise but also some speech detail; the average of the
fine-tuned and the original keeps most of the noise removal and the original's fidelity
(`training/TRAINING.md`, session 5: on the development set the average beat both).
"""

from __future__ import annotations

import argparse

import torch

NORMALISATION = ("feat_mean", "feat_std")


def interpolate(a: dict, b: dict, alpha: float) -> dict:
    """The state dict (1 - alpha) a + alpha b; keys only b has come from b."""
    for k in NORMALISATION:
        if not torch.equal(a[k], b[k]):
            raise SystemExit(f"interpolate: the checkpoints differ in {k}: not one lineage")
    out = {}
    for k, v in b.items():
        if k in a and k not in NORMALISATION:
            if a[k].shape != v.shape:
                raise SystemExit(f"interpolate: {k} has shape {tuple(a[k].shape)} vs {tuple(v.shape)}")
            out[k] = (1.0 - alpha) * a[k] + alpha * v
        else:
            out[k] = v.clone()
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("a", help="the original checkpoint (weight 1 - alpha)")
    p.add_argument("b", help="the fine-tuned checkpoint (weight alpha)")
    p.add_argument("--alpha", type=float, required=True, help="weight of B, in [0, 1]")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    if not 0.0 <= args.alpha <= 1.0:
        raise SystemExit("interpolate: --alpha must be in [0, 1]")
    a = torch.load(args.a, map_location="cpu", weights_only=False)
    b = torch.load(args.b, map_location="cpu", weights_only=False)
    mixed = {k: v for k, v in b.items() if k not in ("swa_n", "swa_start", "swa_every")}
    mixed["model"] = interpolate(a["model"], b["model"], args.alpha)
    mixed["interpolated"] = {"a": args.a, "b": args.b, "alpha": args.alpha}
    torch.save(mixed, args.out)
    print(f"interpolate: wrote {args.out} = {1 - args.alpha:g} x {args.a} + {args.alpha:g} x {args.b}")


if __name__ == "__main__":
    main()
