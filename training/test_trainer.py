"""Tests of the PercepNet trainer (pytest; a few seconds on CPU; skipped where torch is absent).

    ~/.cache/pn-train/torch-venv/bin/python -m pytest -q training/test_trainer.py

`read_pnw` and `numpy_forward` below are an independent float64 reference of docs/FORMATS.md
(`.pnw` layout, causal convolutions, PyTorch GRU gate order r, z, n): the Rust `src/model/`
must compute the same thing.
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import export  # noqa: E402
import train  # noqa: E402
from model import PercepNet, make_config, percepnet_loss  # noqa: E402

torch.set_num_threads(1)
NF, NB = 70, 34


# ---------------------------------------------------------------------------------------------
# synthetic .pnf

def synthetic_rows(frames: int, seed: int, bandwidth: int = NB) -> np.ndarray:
    """Random, temporally smooth features; targets a smooth causal function of rows j, j-1."""
    # Bands move together, as in real spectra: a few smooth latent factors, mixed per band by a
    # basis shared by all files, plus a little independent noise.
    basis = np.random.default_rng(1234).standard_normal((2, 4, NB)) / 2.0
    rng = np.random.default_rng(seed)
    z = np.empty((frames, 4))
    s = rng.standard_normal(4)
    for j in range(frames):
        s = 0.8 * s + 0.6 * rng.standard_normal(4)
        z[j] = s
    e = -2.0 + 1.5 * z @ basis[0] + 0.2 * rng.standard_normal((frames, NB))
    q = 1.0 / (1.0 + np.exp(-2.0 * (z @ basis[1] + 0.2 * rng.standard_normal((frames, NB)))))
    period = np.clip(0.5 * np.sin(np.arange(frames) / 37.0) + 0.1 * rng.standard_normal(frames), -2, 1.5)
    corr = q.mean(1)
    feats = np.concatenate([e, q, period[:, None], corr[:, None]], axis=1)
    e_prev = np.vstack([e[:1], e[:-1]])
    snr = 0.5 * (e + e_prev) + 2.0
    gain = 1.0 / (1.0 + np.exp(-1.5 * snr))
    strength = np.clip(q * (1.0 - gain), 0.0, 1.0)
    care = np.ones((frames, NB))
    care[:, bandwidth:] = 0.0
    rows = np.concatenate([feats, gain, strength, care], axis=1).astype(np.float32)
    return rows


def with_presence(rows: np.ndarray) -> np.ndarray:
    """Version 2 rows: the presence label is 1 where the mean log energy of row j is high."""
    label = (rows[:, :NB].mean(1) > -2.0).astype(np.float32)
    return np.concatenate([rows, label[:, None]], axis=1)


def write_pnf(path: Path, rows: np.ndarray) -> Path:
    version = 2 if rows.shape[1] == NF + 3 * NB + 1 else 1
    with open(path, "wb") as f:
        f.write(b"PNFEAT01" + struct.pack("<4I", version, NF, NB, rows.shape[0]))
        f.write(np.ascontiguousarray(rows, dtype="<f4").tobytes())
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("pnf")
    (d / "train").mkdir()
    (d / "val").mkdir()
    write_pnf(d / "train" / "a.pnf", synthetic_rows(3000, 1))
    write_pnf(d / "train" / "b.pnf", synthetic_rows(2000, 2, bandwidth=24))
    write_pnf(d / "val" / "c.pnf", synthetic_rows(1500, 3))
    return d


# ---------------------------------------------------------------------------------------------
# independent numpy reader and forward pass (float64)

def read_pnw(path):
    buf = Path(path).read_bytes()
    assert buf[:8] == b"PNWEIGHT"
    (version,) = struct.unpack_from("<I", buf, 8)
    assert version in (1, 2)
    names = ("nf", "nb", "dense", "conv1", "conv1_kernel", "conv2", "conv2_kernel",
             "gru", "gru_layers", "head_g", "head_r")
    shape = dict(zip(names, struct.unpack_from("<11I", buf, 12)))
    shape["presence"] = int(version == 2)
    off = 56
    nf = shape["nf"]
    mean = np.frombuffer(buf, "<f4", nf, off).astype(np.float64)
    off += 4 * nf
    std = np.frombuffer(buf, "<f4", nf, off).astype(np.float64)
    off += 4 * nf

    def tensor():
        nonlocal off
        (ndim,) = struct.unpack_from("<I", buf, off)
        dims = struct.unpack_from(f"<{ndim}I", buf, off + 4)
        off += 4 + 4 * ndim
        n = int(np.prod(dims))
        a = np.frombuffer(buf, "<f4", n, off).astype(np.float64).reshape(dims)
        off += 4 * n
        return a

    def gru():
        return dict(w_ih=tensor(), w_hh=tensor(), b_ih=tensor(), b_hh=tensor())

    w = dict(mean=mean, std=std)
    w["dense_w"], w["dense_b"] = tensor(), tensor()
    w["conv1_w"], w["conv1_b"] = tensor(), tensor()
    w["conv2_w"], w["conv2_b"] = tensor(), tensor()
    w["grus"] = [gru() for _ in range(shape["gru_layers"])]
    w["gru_g"] = gru()
    w["dense_g_w"], w["dense_g_b"] = tensor(), tensor()
    w["gru_r"] = gru()
    w["dense_r_w"], w["dense_r_b"] = tensor(), tensor()
    if version == 2:
        w["dense_p_w"], w["dense_p_b"] = tensor(), tensor()
    assert off == len(buf), "trailing bytes after the last tensor"
    return shape, w


def read_pnr(path):
    buf = Path(path).read_bytes()
    assert buf[:8] in (b"PNREF001", b"PNREF002")
    cols_extra = 1 if buf[:8] == b"PNREF002" else 0
    frames, nf, nb = struct.unpack_from("<3I", buf, 8)
    cols = 2 * nb + cols_extra
    feats = np.frombuffer(buf, "<f4", frames * nf, 20).reshape(frames, nf)
    outs = np.frombuffer(buf, "<f4", frames * cols, 20 + 4 * frames * nf).reshape(frames, cols)
    assert len(buf) == 20 + 4 * frames * (nf + cols)
    return feats, outs


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def np_conv_causal(x, w, b):
    """x [T, Cin], w [Cout, Cin, k]: out[j] = b + sum_t w[:, :, t] @ x[j - k + 1 + t] (zeros before 0)."""
    k = w.shape[2]
    xp = np.vstack([np.zeros((k - 1, x.shape[1])), x])
    out = np.tile(b, (x.shape[0], 1))
    for t in range(k):
        out += xp[t:t + x.shape[0]] @ w[:, :, t].T
    return np.tanh(out)


def np_gru(x, p):
    hidden = p["w_hh"].shape[1]
    h = np.zeros(hidden)
    out = np.empty((x.shape[0], hidden))
    for j in range(x.shape[0]):
        gi = p["w_ih"] @ x[j] + p["b_ih"]
        gh = p["w_hh"] @ h + p["b_hh"]
        r = _sigmoid(gi[:hidden] + gh[:hidden])
        z = _sigmoid(gi[hidden:2 * hidden] + gh[hidden:2 * hidden])
        n = np.tanh(gi[2 * hidden:] + r * gh[2 * hidden:])
        h = (1.0 - z) * n + z * h
        out[j] = h
    return out


def numpy_forward(w, feats):
    """feats [T, NF] raw -> [T, 2 NB] gains then strengths (then the presence, with its head)."""
    x = (feats.astype(np.float64) - w["mean"]) / w["std"]
    x = np.tanh(x @ w["dense_w"].T + w["dense_b"])
    x = np_conv_causal(x, w["conv1_w"], w["conv1_b"])
    x = np_conv_causal(x, w["conv2_w"], w["conv2_b"])
    for p in w["grus"]:
        x = np_gru(x, p)
    g = _sigmoid(np_gru(x, w["gru_g"]) @ w["dense_g_w"].T + w["dense_g_b"])
    r = _sigmoid(np_gru(x, w["gru_r"]) @ w["dense_r_w"].T + w["dense_r_b"])
    cols = [g, r]
    if "dense_p_w" in w:
        cols.append(_sigmoid(x @ w["dense_p_w"].T + w["dense_p_b"]))
    return np.concatenate(cols, axis=1)


def tiny_model(seed=0) -> PercepNet:
    torch.manual_seed(seed)
    m = PercepNet(make_config("tiny"))
    rng = np.random.default_rng(seed)
    m.set_normalisation(rng.normal(0, 1, NF), rng.uniform(0.3, 2.0, NF))
    with torch.no_grad():  # larger weights than the default init, so every path matters
        for p in m.parameters():
            p.mul_(2.0)
    return m.eval()


# ---------------------------------------------------------------------------------------------

def test_model_is_causal():
    m = tiny_model()
    x = torch.randn(2, 40, NF) * 2
    with torch.no_grad():
        g0, r0 = m(x)
        for j in (0, 1, 7, 20, 39):
            y = x.clone()
            y[:, j] += torch.randn(2, NF) * 3
            g1, r1 = m(y)
            assert torch.equal(g0[:, :j], g1[:, :j]) and torch.equal(r0[:, :j], r1[:, :j]), j
            # and row j itself does see its own input (no hidden delay)
            assert (g0[:, j] - g1[:, j]).abs().max() > 1e-6, j


def test_weight_counts():
    counts = {p: PercepNet(make_config(p)).num_weights() for p in ("tiny", "small", "full")}
    assert 7.4e6 < counts["full"] < 8.0e6, counts
    assert 1.8e6 < counts["small"] < 2.2e6, counts


def test_export_matches_numpy_reference(tmp_path, data):
    m = tiny_model(3)
    pnw, pnr = tmp_path / "m.pnw", tmp_path / "m.pnr"
    export.export(m, pnw, pnr, ref_pnf=data / "val" / "c.pnf", ref_frames=120)
    shape, w = read_pnw(pnw)
    assert shape == m.config
    assert np.array_equal(w["mean"], m.feat_mean.numpy().astype(np.float64))
    feats, outs = read_pnr(pnr)
    assert feats.shape == (120, NF) and outs.shape == (120, 2 * NB + 1)
    assert np.array_equal(feats, synthetic_rows(1500, 3)[:120, :NF])
    ref = numpy_forward(w, feats)
    assert np.abs(ref - outs).max() <= 1e-5
    # outputs are not trivially saturated: the comparison means something
    assert 0.05 < outs.std() and ((outs > 0.02) & (outs < 0.98)).mean() > 0.5


def test_export_cli_synthetic_reference(tmp_path, data):
    m = tiny_model(4)
    torch.save(dict(config=m.config, model=m.state_dict()), tmp_path / "best.pt")
    export.main(["--run", str(tmp_path), "--out", str(tmp_path / "w.pnw"), "--ref", str(tmp_path / "w.pnr")])
    _, w = read_pnw(tmp_path / "w.pnw")
    feats, outs = read_pnr(tmp_path / "w.pnr")
    assert feats.shape == (100, NF)
    assert np.abs(numpy_forward(w, feats) - outs).max() <= 1e-5
    again = export.synthetic_features(m, 100)
    assert np.array_equal(again, feats)  # deterministic


def test_loss_zero_for_perfect_prediction_and_masks_dont_care():
    torch.manual_seed(0)
    g = torch.rand(4, 10, NB) * 0.98 + 0.01
    r = torch.rand(4, 10, NB) * 0.98 + 0.01
    care = torch.ones(4, 10, NB)
    assert percepnet_loss(torch.logit(g.double()), torch.logit(r.double()), g.double(), r.double(), care.double()) < 1e-12
    # extreme targets: 0 and 1 with saturated logits
    g01 = (torch.rand(4, 10, NB) > 0.5).float()
    big = 40.0 * (2 * g01 - 1)
    assert percepnet_loss(big, -big, g01, 1 - g01, care) < 1e-12
    # don't-care bands change neither the loss nor receive gradient
    care[:, :, 20:] = 0
    gl = torch.logit(g).clone().requires_grad_(True)
    rl = torch.logit(r).clone().requires_grad_(True)
    base = percepnet_loss(gl, rl, g, r, care)
    g2, r2 = g.clone(), r.clone()
    g2[:, :, 20:], r2[:, :, 20:] = 1 - g2[:, :, 20:], 1 - r2[:, :, 20:]
    assert percepnet_loss(gl, rl, g2, r2, care) == base
    gl2 = gl.detach().clone()
    gl2[:, :, 5] += 1.0
    wrong = percepnet_loss(gl2, rl.detach(), g, r, care)
    assert wrong > 1e-4
    gl3 = gl.detach().clone()
    gl3[:, :, 25] += 1.0
    assert percepnet_loss(gl3, rl.detach(), g, r, care) == base
    base.backward()
    assert gl.grad[:, :, 20:].abs().max() == 0 and rl.grad[:, :, 20:].abs().max() == 0
    # mean over cared bands: a single wrong band of 20 cared ones
    one = torch.zeros(1, 1, NB)
    one[..., 0] = 1.0
    c = torch.zeros(1, 1, NB)
    c[..., :20] = 1
    loss = percepnet_loss(torch.full((1, 1, NB), 40.0), torch.full((1, 1, NB), -40.0),
                          torch.ones(1, 1, NB) - one, torch.zeros(1, 1, NB), c)
    assert abs(float(loss) - (1 + 10) / 20) < 1e-5


def test_keep_highs_weighs_only_taking_too_much_from_8_khz_up():
    from model import HIGH_BAND
    care = torch.ones(1, 1, NB)
    target = torch.full((1, 1, NB), 0.5)
    r = torch.full((1, 1, NB), 0.5)
    rl = torch.logit(r)

    def loss(band, gain, w, first=HIGH_BAND):
        g = torch.full((1, 1, NB), 0.5)
        g[..., band] = gain
        return float(percepnet_loss(torch.logit(g), rl, target, r, care, keep_highs=w,
                                    keep_highs_from=first))

    exact = float(percepnet_loss(torch.logit(target), rl, target, r, care, keep_highs=4.0))
    assert exact < 1e-12
    # a high band that takes too much counts four times; one that leaves too much, once
    assert abs(loss(HIGH_BAND, 0.2, 4.0) - 4 * loss(HIGH_BAND, 0.2, 1.0)) < 1e-7
    assert loss(HIGH_BAND, 0.2, 4.0) > 1e-4
    assert abs(loss(NB - 1, 0.8, 4.0) - loss(NB - 1, 0.8, 1.0)) < 1e-9
    # below 8 kHz nothing changes either way
    assert abs(loss(HIGH_BAND - 1, 0.2, 4.0) - loss(HIGH_BAND - 1, 0.2, 1.0)) < 1e-9
    # from another first band: below it nothing changes, from it on taking too much counts w times
    assert abs(loss(27, 0.2, 4.0, first=28) - loss(27, 0.2, 1.0)) < 1e-9
    assert abs(loss(28, 0.2, 4.0, first=28) - 4 * loss(28, 0.2, 1.0)) < 1e-7


def test_pnf_reader_checks_size(tmp_path):
    p = write_pnf(tmp_path / "x.pnf", synthetic_rows(50, 0))
    f = train.PnfFile(p)
    assert (f.nf, f.nb, f.frames) == (NF, NB, 50)
    with open(p, "ab") as fh:
        fh.write(b"\0\0\0\0")
    with pytest.raises(ValueError):
        train.PnfFile(p)


def common_args(data, run):
    return ["--train", str(data / "train"), "--val", str(data / "val"), "--run", str(run),
            "--preset", "tiny", "--batch", "8", "--seq-len", "32", "--threads", "1",
            "--quiet", "--log-every", "1000", "--val-max-frames", "600", "--val-seq", "200"]


def test_training_reduces_loss(tmp_path, data):
    run = tmp_path / "run"
    out = train.main(common_args(data, run) + ["--max-steps", "200", "--val-every", "100",
                                               "--lr", "3e-3", "--lr-decay", "0"])
    assert out["step"] == 200
    # loss of the untrained network (same seed => same initial weights)
    torch.manual_seed(1)
    m0 = PercepNet(make_config("tiny"))
    m0.load_state_dict({**m0.state_dict(), "feat_mean": out["model"].feat_mean,
                        "feat_std": out["model"].feat_std})
    chunks = train.validation_chunks(train.open_all([data / "val"]), 200, 600)
    initial = train.evaluate(m0, chunks, "cpu")
    final = out["history"][-1][1]
    print(f"untrained val loss {initial:.4f}, after 200 steps {final:.4f}")
    assert final < 0.25 * initial, (initial, out["history"])
    assert (run / "best.pt").exists() and (run / "last.pt").exists() and (run / "stats.json").exists()
    # feature statistics: cached, and over all training frames
    rows = np.vstack([synthetic_rows(3000, 1), synthetic_rows(2000, 2, bandwidth=24)])
    assert np.allclose(out["model"].feat_mean.numpy(), rows[:, :NF].mean(0), atol=1e-4)


def test_bf16_autocast_learns_as_float32_does_and_keeps_float32_weights(tmp_path, data):
    """--bf16 runs the forward pass in bfloat16 (the loss and the weights stay float32): it
    must learn about as well as float32 over the same steps, and what it saves must be plain
    float32 weights that export and resume like any other."""
    args = ["--max-steps", "120", "--val-every", "120", "--lr", "3e-3", "--lr-decay", "0"]
    f32 = train.main(common_args(data, tmp_path / "f32") + args)
    bf16 = train.main(common_args(data, tmp_path / "bf16") + args + ["--bf16"])
    a, b = f32["history"][-1][1], bf16["history"][-1][1]
    print(f"val loss after 120 steps: float32 {a:.4f}, bf16 autocast {b:.4f}")
    assert abs(b - a) < 0.15 * a, (a, b)
    # not the same run: the bf16 forward pass really ran in bfloat16
    assert b != a
    state = torch.load(tmp_path / "bf16" / "last.pt", weights_only=False)["model"]
    assert all(v.dtype == torch.float32 for v in state.values() if v.is_floating_point())
    assert "forward pass: eager, bf16 autocast" in (tmp_path / "bf16" / "train.log").read_text()


def test_resume_continues_exactly(tmp_path, data):
    a = train.main(common_args(data, tmp_path / "a") + ["--max-steps", "30", "--val-every", "10"])
    b1 = train.main(common_args(data, tmp_path / "b") + ["--max-steps", "17", "--val-every", "10"])
    assert b1["step"] == 17
    with pytest.raises(SystemExit):  # refuses to overwrite a run without --resume
        train.main(common_args(data, tmp_path / "b") + ["--max-steps", "30"])
    b2 = train.main(["--run", str(tmp_path / "b"), "--resume", "--max-steps", "30", "--quiet", "--threads", "1"])
    assert b2["step"] == a["step"] == 30
    sa, sb = a["model"].state_dict(), b2["model"].state_dict()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k
    assert [h for h in a["history"] if h[0] % 10 == 0] == [h for h in b2["history"] if h[0] % 10 == 0]


def test_presence_head_learns_and_v1_files_carry_no_label(tmp_path, data):
    d = tmp_path / "v2"
    (d / "train").mkdir(parents=True)
    (d / "val").mkdir()
    write_pnf(d / "train" / "a.pnf", with_presence(synthetic_rows(3000, 1)))
    write_pnf(d / "train" / "old.pnf", synthetic_rows(2000, 2))   # version 1: no labels
    write_pnf(d / "val" / "c.pnf", with_presence(synthetic_rows(1500, 3)))
    f1 = train.PnfFile(d / "train" / "old.pnf")
    assert f1.version == 1 and np.all(f1.rows(5, 3)[:, -1] == -1.0)
    out = train.main(common_args(d, tmp_path / "run") + ["--max-steps", "300", "--val-every", "300",
                                                         "--lr", "3e-3", "--lr-decay", "0"])
    chunks = train.validation_chunks(train.open_all([d / "val"]), 200, 1500)
    pres = {}
    train.evaluate(out["model"], chunks, "cpu", presence=pres)
    labels = with_presence(synthetic_rows(1500, 3))[:, -1]
    chance = max(labels.mean(), 1 - labels.mean())
    print(f"presence accuracy {pres['accuracy']:.3f} (chance {chance:.3f})")
    assert pres["accuracy"] > chance + 0.5 * (1 - chance), pres


def test_init_starts_from_a_checkpoint_without_presence(tmp_path, data):
    old = train.main(common_args(data, tmp_path / "old") + ["--max-steps", "20"])
    m_old = old["model"]
    torch.save(dict(config={k: v for k, v in m_old.config.items() if k != "presence"},
                    model={k: v for k, v in m_old.state_dict().items() if not k.startswith("dense_p")}),
               tmp_path / "old.pt")
    new = train.main(common_args(data, tmp_path / "new") + ["--max-steps", "0", "--init", str(tmp_path / "old.pt")])
    sn = new["model"].state_dict()
    for k, v in m_old.state_dict().items():
        if not k.startswith("dense_p"):
            assert torch.equal(v, sn[k]), k   # weights and normalisation taken over
    assert "dense_p.weight" in sn


def test_block_mask_keeps_the_largest_blocks():
    # 16 x 7: blocks (strip, column block) with known norms, one of them partial (8 x 3).
    w = torch.zeros(16, 7)
    w[:8, :4], w[:8, 4:], w[8:, :4], w[8:, 4:] = 0.1, 3.0, 2.0, -0.5
    m = train.block_mask(w, 0.5)
    want = torch.zeros(16, 7)
    want[:8, 4:], want[8:, :4] = 1.0, 1.0
    assert torch.equal(m, want)
    assert torch.equal(train.block_mask(w, 1.0), torch.ones(16, 7))


def test_density_schedule():
    hp = dict(gru_density=0.25, prune_start=100, prune_steps=400)
    d = [train.density_at(s, hp) for s in range(0, 700, 10)]
    assert d[0] == 1.0 and train.density_at(100, hp) == 1.0
    assert all(a >= b for a, b in zip(d, d[1:])), "never grows"
    assert train.density_at(500, hp) == pytest.approx(0.25) and d[-1] == pytest.approx(0.25)
    assert train.density_at(10**6, dict(gru_density=None)) == 1.0


def test_block_sparse_training_exports_whole_zero_blocks(tmp_path, data):
    out = train.main(common_args(data, tmp_path / "run") + [
        "--max-steps", "60", "--val-every", "30", "--gru-density", "0.25", "--prune-steps", "40"])
    mats = train.gru_matrices(out["model"])
    assert len(mats) == 2 * (make_config("tiny")["gru_layers"] + 2)
    for w in mats:
        rows, cols = w.shape
        br, bc = -(-rows // train.BLOCK_ROWS), -(-cols // train.BLOCK_COLS)
        wp = torch.nn.functional.pad(w.detach(), (0, -cols % 4, 0, -rows % 8))
        nonzero = (wp.reshape(br, 8, bc, 4).abs().sum(dim=(1, 3)) > 0).sum().item()
        assert nonzero <= -(-br * bc // 4), (w.shape, nonzero)  # ceil(0.25 n)
        assert nonzero > 0
    # the exported weights carry the zeros (the Rust loader picks the block-sparse kernels)
    path = tmp_path / "sparse.pnw"
    export.main(["--ckpt", str(tmp_path / "run" / "last.pt"), "--out", str(path)])
    assert path.stat().st_size > 0


def test_weight_averaging_is_the_mean_of_the_snapshots(tmp_path, data):
    swa = ["--swa-start", "10", "--swa-every", "5", "--val-every", "10"]
    out = train.main(common_args(data, tmp_path / "a") + swa + ["--max-steps", "20"])
    ck = train.load_checkpoint(tmp_path / "a" / "last.pt")
    assert ck["swa_n"] == 3  # steps 10, 15, 20
    # the same run stopped and resumed at each snapshot step gives the weights to average
    snaps = []
    for stop in (10, 15, 20):
        resume = ["--resume"] if stop > 10 else []
        b = train.main(common_args(data, tmp_path / "b") + swa + resume + ["--max-steps", str(stop)])
        snaps.append({k: v.clone() for k, v in b["model"].state_dict().items()})
    for k, v in out["model"].state_dict().items():
        assert torch.equal(v, snaps[-1][k]), k
        mean = sum(s[k].double() for s in snaps) / 3
        assert torch.allclose(ck["swa_model"][k].double(), mean, atol=1e-6), k
    saved = train.load_checkpoint(tmp_path / "a" / "swa.pt")
    assert saved["swa_n"] in (1, 3) and saved["val"] == ck["best_swa_val"]
    # swa.pt exports like any checkpoint, and --swa exports the mean kept in last.pt
    export.main(["--ckpt", str(tmp_path / "a" / "swa.pt"), "--out", str(tmp_path / "swa.pnw")])
    export.main(["--ckpt", str(tmp_path / "a" / "last.pt"), "--swa", "--out", str(tmp_path / "mean.pnw")])
    m = export.load_model(tmp_path / "a" / "last.pt", swa=True)
    for k, v in m.state_dict().items():
        assert torch.equal(v, ck["swa_model"][k]), k


def test_balanced_noise_list_gives_each_category_a_similar_share():
    import make_lists
    cats = {"music": [f"m{i}" for i in range(100)], "babble": ["b0", "b1"], "fan": [f"f{i}" for i in range(30)]}
    lines = make_lists.balanced(cats)
    share = {c: sum(ln in set(v) for ln in lines) for c, v in cats.items()}
    assert share == {"music": 100, "babble": 100, "fan": 90}
    assert set(lines) == {ln for v in cats.values() for ln in v}  # nothing lost


def test_speech_lists_count_recordings_twice_and_keep_only_fullband_files():
    import make_lists
    train = ["/c/speech/a/x.flac,19999", "/c/speech/tts-mei/y.flac,24000", "/c/speech/b/z.flac,20000"]
    mixes = make_lists.speech_mixes(train)
    assert mixes["speech_train_weighted"] == [train[0], train[2], train[0], train[2], train[1]]
    assert mixes["speech_train_fullband"] == train[1:]


def test_interpolation_mixes_one_lineage_and_refuses_two():
    import interpolate

    cfg = make_config("tiny")
    a = PercepNet(cfg).state_dict()
    torch.manual_seed(5)
    b = PercepNet(cfg).state_dict()
    for k in interpolate.NORMALISATION:
        b[k] = a[k].clone()
    b["extra.weight"] = torch.ones(3)
    mixed = interpolate.interpolate(a, b, 0.25)
    k = "dense.weight"
    assert torch.allclose(mixed[k], 0.75 * a[k] + 0.25 * b[k])
    assert torch.equal(mixed["feat_mean"], a["feat_mean"])
    assert torch.equal(mixed["extra.weight"], b["extra.weight"])
    b["feat_std"] = b["feat_std"] * 2.0
    with pytest.raises(SystemExit):
        interpolate.interpolate(a, b, 0.5)


def test_int8_error_simulation_is_the_model_when_nothing_is_rounded():
    import int8_error

    m = tiny_model(3)
    feats = torch.from_numpy(synthetic_rows(40, seed=5)[:, :NF])
    g_ref, r_ref = m(feats[None].float())
    state = {k: v.detach() for k, v in m.state_dict().items()}
    g, r = int8_error.simulate(state, m.config, feats)
    assert torch.allclose(g, g_ref[0].double(), atol=1e-5)
    assert torch.allclose(r, r_ref[0].double(), atol=1e-5)
    names = int8_error.matrix_names(m.config)
    gq, rq = int8_error.simulate(state, m.config, feats, frozenset(names))
    err = max((gq - g).abs().max().item(), (rq - r).abs().max().item())
    assert 1e-6 < err < 0.1


def test_int8_aware_training_learns_and_keeps_unrounded_weights(tmp_path, data):
    """--int8-aware 1: the forward pass sees the int8-rounded matrices, the update goes to the
    unrounded ones (so the saved weights are not on the int8 grid), and the network still
    learns. (It prints how far the Rust rounding moves each network's gains: informative only,
    a 150-step tiny run says little.)"""
    import int8_error

    w = torch.randn(6, 5, 3)
    once = train.int8_rounded(w)
    assert torch.equal(train.int8_rounded(once), once)  # on its grid already
    assert (once - w).abs().max() <= w.reshape(6, -1).abs().amax(1).max() / 254 + 1e-7
    args = common_args(data, tmp_path / "x") + ["--max-steps", "150", "--val-every", "150",
                                               "--lr", "3e-3", "--lr-decay", "0"]
    plain = train.main(args[:5] + [str(tmp_path / "plain")] + args[6:])
    aware = train.main(args[:5] + [str(tmp_path / "aware")] + args[6:] + ["--int8-aware", "1"])
    assert aware["history"][-1][1] < 1.5 * plain["history"][-1][1]
    m = aware["model"]
    off_grid = [(p - train.int8_rounded(p)).abs().max().item() for p in train.int8_matrices(m)]
    assert len(off_grid) == len(int8_error.matrix_names(m.config)) and max(off_grid) > 0

    def rounding_error(model):
        feats = torch.from_numpy(synthetic_rows(200, seed=9)[:, :NF])
        state = {k: v.detach() for k, v in model.state_dict().items()}
        g0, _ = int8_error.simulate(state, model.config, feats)
        names = frozenset(int8_error.matrix_names(model.config))
        g1, _ = int8_error.simulate(state, model.config, feats, names, mode="weights")
        return (g1 - g0).abs().mean().item()

    print(f"int8 weight rounding |g| mean: plain {rounding_error(plain['model']):.5f}, "
          f"int8-aware {rounding_error(m):.5f}")
