"""The PercepNet network (PyTorch), laid out so that its weights map 1:1 to `.pnw`.

    features [B, T, NF]  (raw, as in `.pnf`)
      -> (f - mean) / std                      (buffers, stored in the weights file)
      -> dense D, tanh
      -> conv1d C1, kernel k1, tanh            (causal: output j reads inputs j-k1+1..j)
      -> conv1d C2, kernel k2, tanh            (causal likewise)
      -> gru_layers x GRU G
      -> gain head:     GRU Hg -> dense NB -> sigmoid   (g_b)
      -> strength head: GRU Hr -> dense NB -> sigmoid   (r_b)
      -> presence head: dense 1 -> sigmoid on the trunk's output (speech presence of the
         frame, for the voice gate; only when config["presence"] is 1, `.pnw` version 2)

Everything is strictly causal in rows: the output at row j depends on rows <= j only. The
engine's one frame of lookahead comes from the data layout (row j's targets describe frame
j - 1; see docs/FORMATS.md), not from the network.

Start of a stream (the convention the Rust engine follows and `.pnr` files encode): every GRU
starts from h = 0, and each convolution's history before row 0 is zeros of *its own input*
(the dense / conv1 outputs after tanh), which is what left zero-padding does here.

Convolution taps: PyTorch `Conv1d` is a cross-correlation, so with k - 1 zeros of left
padding, out[o, j] = b[o] + sum_i sum_t w[o, i, t] * in[i, j - (k - 1) + t]: tap t = k - 1
multiplies the newest input (row j), tap 0 the oldest (row j - k + 1).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

NF_DEFAULT = 70
NB_DEFAULT = 34

# Widths: dense, conv1 (kernel 5), conv2 (kernel 3), GRU width and count, head GRUs.
PRESETS = {
    "tiny": dict(dense=32, conv1=64, conv2=64, gru=64, gru_layers=3, head_g=64, head_r=32),
    "small": dict(dense=128, conv1=256, conv2=256, gru=256, gru_layers=3, head_g=256, head_r=128),
    "full": dict(dense=128, conv1=512, conv2=512, gru=512, gru_layers=3, head_g=512, head_r=128),
}

# Order of the `.pnw` header's u32[11] shape array.
SHAPE_KEYS = ("nf", "nb", "dense", "conv1", "conv1_kernel", "conv2", "conv2_kernel",
              "gru", "gru_layers", "head_g", "head_r")


def make_config(preset: str = "small", nf: int = NF_DEFAULT, nb: int = NB_DEFAULT,
                presence: bool = True, **overrides) -> dict:
    """A full config dict (all SHAPE_KEYS, plus "presence": 1 with a presence head) from a
    preset name plus overrides (None = keep)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; known: {', '.join(PRESETS)}")
    cfg = dict(nf=nf, nb=nb, conv1_kernel=5, conv2_kernel=3)
    cfg.update(PRESETS[preset])
    for k, v in overrides.items():
        if k not in SHAPE_KEYS:
            raise ValueError(f"unknown config key {k!r}")
        if v is not None:
            cfg[k] = int(v)
    out = {k: int(cfg[k]) for k in SHAPE_KEYS}
    out["presence"] = int(bool(presence))
    return out


def has_presence(config: dict) -> bool:
    """Whether a config has the presence head (configs from before it have no key)."""
    return bool(config.get("presence", 0))


class PercepNet(nn.Module):
    def __init__(self, config: dict):
        super().__init__()
        c = {k: int(config[k]) for k in SHAPE_KEYS}
        c["presence"] = int(has_presence(config))
        self.config = c
        nf, nb = c["nf"], c["nb"]
        self.register_buffer("feat_mean", torch.zeros(nf))
        self.register_buffer("feat_std", torch.ones(nf))
        self.dense = nn.Linear(nf, c["dense"])
        self.conv1 = nn.Conv1d(c["dense"], c["conv1"], c["conv1_kernel"])
        self.conv2 = nn.Conv1d(c["conv1"], c["conv2"], c["conv2_kernel"])
        grus = []
        width_in = c["conv2"]
        for _ in range(c["gru_layers"]):
            grus.append(nn.GRU(width_in, c["gru"], batch_first=True))
            width_in = c["gru"]
        self.grus = nn.ModuleList(grus)
        self.gru_g = nn.GRU(width_in, c["head_g"], batch_first=True)
        self.dense_g = nn.Linear(c["head_g"], nb)
        self.gru_r = nn.GRU(width_in, c["head_r"], batch_first=True)
        self.dense_r = nn.Linear(c["head_r"], nb)
        self.dense_p = nn.Linear(width_in, 1) if c["presence"] else None

    def set_normalisation(self, mean, std) -> None:
        self.feat_mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        self.feat_std.copy_(torch.as_tensor(std, dtype=torch.float32))

    @staticmethod
    def _causal_conv(x: torch.Tensor, conv: nn.Conv1d) -> torch.Tensor:
        # x: [B, C, T]; k - 1 zeros on the left only, so output j reads inputs j-k+1..j.
        return torch.tanh(conv(F.pad(x, (conv.kernel_size[0] - 1, 0))))

    def forward(self, feats: torch.Tensor, return_logits: bool = False, with_presence: bool = False):
        """feats [B, T, NF] raw features -> (g, r), each [B, T, NB] (or their logits); with
        `with_presence`, also the presence [B, T] (or its logit; zeros without the head)."""
        x = (feats - self.feat_mean) / self.feat_std
        x = torch.tanh(self.dense(x))              # [B, T, D]
        x = x.transpose(1, 2)                      # [B, D, T]
        x = self._causal_conv(x, self.conv1)
        x = self._causal_conv(x, self.conv2)
        x = x.transpose(1, 2).contiguous()         # [B, T, C2]
        for gru in self.grus:
            x, _ = gru(x)
        hg, _ = self.gru_g(x)
        hr, _ = self.gru_r(x)
        g_logit = self.dense_g(hg)
        r_logit = self.dense_r(hr)
        if with_presence:
            p_logit = (self.dense_p(x)[..., 0] if self.dense_p is not None
                       else torch.zeros(x.shape[:2], dtype=x.dtype, device=x.device))
            if return_logits:
                return g_logit, r_logit, p_logit
            return torch.sigmoid(g_logit), torch.sigmoid(r_logit), torch.sigmoid(p_logit)
        if return_logits:
            return g_logit, r_logit
        return torch.sigmoid(g_logit), torch.sigmoid(r_logit)

    def export_tensors(self):
        """(name, tensor) in exactly the `.pnw` order of docs/FORMATS.md."""
        out = [("dense.weight", self.dense.weight), ("dense.bias", self.dense.bias),
               ("conv1.weight", self.conv1.weight), ("conv1.bias", self.conv1.bias),
               ("conv2.weight", self.conv2.weight), ("conv2.bias", self.conv2.bias)]

        def gru_tensors(prefix, gru):
            return [(f"{prefix}.{n}", getattr(gru, n + "_l0"))
                    for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]

        for i, gru in enumerate(self.grus):
            out += gru_tensors(f"grus.{i}", gru)
        out += gru_tensors("gru_g", self.gru_g)
        out += [("dense_g.weight", self.dense_g.weight), ("dense_g.bias", self.dense_g.bias)]
        out += gru_tensors("gru_r", self.gru_r)
        out += [("dense_r.weight", self.dense_r.weight), ("dense_r.bias", self.dense_r.bias)]
        if self.dense_p is not None:
            out += [("dense_p.weight", self.dense_p.weight), ("dense_p.bias", self.dense_p.bias)]
        return out

    def num_weights(self) -> int:
        return sum(p.numel() for p in self.parameters())


GAMMA = 0.5
C4 = 10.0
# Default first band where `keep_highs` weighs taking too much: band 26 (centre 6,650 Hz,
# src/dsp/bands.rs). Band 28 (8,850 Hz) is the first `tests/quality.rs` holds clean fullband
# speech to within 3 dB in, and the first above PESQ-WB's 8 kHz.
HIGH_BAND = 26


def percepnet_loss(g_logit, r_logit, g_target, r_target, care, reduce: bool = True,
                   keep_highs: float = 1.0, keep_highs_from: int = HIGH_BAND):
    """The paper's loss with gamma = 1/2, per band:

        (g^γ - ĝ^γ)^2 + C4 (g^γ - ĝ^γ)^4 + ((1-r)^γ - (1-r̂)^γ)^2,   C4 = 10,

    masked by `care` (1 = counts, 0 = don't care) and averaged over the cared bands.
    With keep_highs = w > 1 the gain terms of bands >= keep_highs_from count w times where the
    network's gain is below the target (it takes speech), once where it is above (it leaves
    noise): where the target is 0 (noise alone, above a band-limited voice) nothing changes.
    Takes the network's logits: ĝ^γ = exp(γ log σ(x)) and (1-r̂)^γ = exp(γ log σ(-x)) stay
    finite with finite gradients even where σ saturates to 0 or 1 in float32.
    With reduce=False returns (sum of masked per-band losses, sum of care).
    """
    g_hat = torch.exp(GAMMA * F.logsigmoid(g_logit))
    one_minus_r_hat = torch.exp(GAMMA * F.logsigmoid(-r_logit))
    g_t = g_target.clamp(0.0, 1.0).pow(GAMMA)
    omr_t = (1.0 - r_target.clamp(0.0, 1.0)).pow(GAMMA)
    d = g_t - g_hat
    d2 = d * d
    gain_terms = d2 + C4 * d2 * d2
    if keep_highs != 1.0:
        high = torch.zeros(g_t.shape[-1], dtype=torch.bool, device=g_t.device)
        high[keep_highs_from:] = True
        gain_terms = torch.where(high & (d > 0), keep_highs * gain_terms, gain_terms)
    per_band = gain_terms + (omr_t - one_minus_r_hat) ** 2
    total = (per_band * care).sum()
    n = care.sum()
    if not reduce:
        return total, n
    return total / n.clamp_min(1.0)


# Weight of the presence loss against the band loss: the head is one dense layer on the trunk,
# so a small weight trains it without pulling the trunk away from the gains.
PRESENCE_WEIGHT = 0.1


def presence_loss(p_logit, p_target, reduce: bool = True):
    """Binary cross-entropy of the presence logits against 0/1 labels, over the frames whose
    label is known (>= 0; `.pnf` version 1 files have no labels and give -1).
    With reduce=False returns (sum of losses, number of labelled frames)."""
    known = (p_target >= 0).to(p_logit.dtype)
    bce = F.binary_cross_entropy_with_logits(p_logit, p_target.clamp(0.0, 1.0), reduction="none")
    total = (bce * known).sum()
    n = known.sum()
    if not reduce:
        return total, n
    return total / n.clamp_min(1.0)
