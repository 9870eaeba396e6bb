"""Tests of the procedural noise generators (training/noisegen.py).

    ~/.cache/pn-train/venv/bin/python -m pytest -q training/test_noisegen.py      (-s: speeds)

Per category, over several seeds and both the training and the dev variant: exact length, finite,
RMS within 1 dB of the requested level, no sample at or above full scale, energy above 12 kHz
(fullband categories), deterministic for a seed and different across seeds; the held-apart
parameter slice is drawn for dev only; speed (>= 5x real time in CPU time).
"""
import sys
import time
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import noisegen as ng  # noqa: E402

SR = ng.SR
N = 4 * SR
CATS = sorted(ng.GENERATORS)
SEEDS = [0, 1, 2, 3, 4, 5]


def talker(rng, n):
    """A stand-in for one speaker's utterances (the corpus passes real training speech):
    a gliding harmonic tone gated at syllable rate."""
    f = rng.uniform(90, 220) * (1 + 0.3 * ng.ctrl(rng, n, 3))
    k = np.arange(1, 80)
    y = ng.harmonics(2 * np.pi * np.cumsum(f) / SR, 1 / k, np.zeros(len(k)))
    return y * (ng.ctrl(rng, n, 4) > 0.4)


def gen(cat, seed, dev=False, n=N, level=-25.0):
    kw = {"talker": talker} if cat == "babble" else {}
    return ng.make(cat, np.random.default_rng([1234, seed]), n, level, dev=dev, **kw)


@pytest.mark.parametrize("cat", CATS)
def test_level_length_peak(cat):
    for seed in SEEDS:
        for level in (-25.0, -35.0):
            y, desc = gen(cat, seed, dev=seed % 3 == 0, level=level)
            assert y.shape == (N,) and y.dtype == np.float64
            assert np.all(np.isfinite(y))
            lvl = 20 * np.log10(np.sqrt(np.mean(y**2)))
            assert abs(lvl - level) < 1.0, (cat, seed, lvl, desc)
            assert np.max(np.abs(y)) < 0.99, (cat, seed, desc)
            assert desc and "\n" not in desc and "," not in desc   # goes into a CSV cell


@pytest.mark.parametrize("cat", [c for c in CATS if c != "babble"])
def test_fullband(cat):
    """Energy above 12 kHz within 60 dB of the total, and a measured bandwidth (the corpus's
    own rule, prepare_corpus.bandwidth) of at least 16 kHz, for every seed and both variants."""
    from prepare_corpus import bandwidth

    f = np.fft.rfftfreq(N, 1 / SR)
    for seed in SEEDS:
        y, desc = gen(cat, seed, dev=seed % 2 == 1)
        p = np.abs(np.fft.rfft(y)) ** 2
        hi = 10 * np.log10(p[f > 12000].sum() / p.sum())
        assert hi > -60, (cat, seed, hi, desc)
        bw, _ = bandwidth(y, SR)
        assert bw >= 16000, (cat, seed, bw, desc)


@pytest.mark.parametrize("cat", CATS)
def test_deterministic(cat):
    a, da = gen(cat, 7, n=SR)
    b, db = gen(cat, 7, n=SR)
    c, _ = gen(cat, 8, n=SR)
    assert da == db and np.array_equal(a, b)
    assert not np.allclose(a, c)


def test_draw_held_apart():
    rng = np.random.default_rng(0)
    tr = np.array([ng.draw(rng, 10, 1000, False, log=True) for _ in range(4000)])
    dv = np.array([ng.draw(rng, 10, 1000, True, log=True) for _ in range(400)])
    u_tr, u_dv = np.log(tr / 10) / np.log(100), np.log(dv / 10) / np.log(100)
    assert np.all((u_tr < 0.45) | (u_tr > 0.60)) and u_tr.min() < 0.02 and u_tr.max() > 0.98
    assert np.all((u_dv >= 0.45) & (u_dv <= 0.60))
    lin = np.array([ng.draw(rng, -7, 1, False) for _ in range(2000)])
    assert np.all((lin < -7 + 0.45 * 8) | (lin > -7 + 0.60 * 8))


def test_shaped_noise_level_flat():
    """The STFT synthesis has no level ripple at the frame rate and follows the gain."""
    rng = np.random.default_rng(3)
    y = ng.shaped_noise(rng, 30 * SR, lambda t, f: np.ones_like(f))
    e = np.mean(y[: 30 * SR // 512 * 512].reshape(-1, 16, 32) ** 2, axis=(0, 2))   # by phase in the hop
    assert e.max() / e.min() < 1.05
    y = ng.shaped_noise(rng, 10 * SR, lambda t, f: (t < 5).astype(float) + 0 * f)
    assert np.mean(y[6 * SR:] ** 2) < 1e-6 * np.mean(y[: 4 * SR] ** 2)


def test_harmonics_matches_sines():
    th = np.linspace(0, 40 * np.pi, 20000)
    a, p = np.array([1.0, 0.5, 0.25]), np.array([0.1, 1.0, 2.0])
    ref = sum(a[k] * np.sin((k + 1) * th + p[k]) for k in range(3))
    assert np.max(np.abs(ng.harmonics(th, a, p) - ref)) < 1e-3


def test_speed(capsys):
    """Every generator runs at >= 5x real time in CPU time of this process (so other jobs on the
    machine do not fail it; 30 s files: 15-400x measured on one idle core)."""
    secs = 10
    rates = {}
    for cat in CATS:
        t0 = time.process_time()
        gen(cat, 11, n=secs * SR)
        rates[cat] = secs / max(time.process_time() - t0, 1e-6)
    with capsys.disabled():
        print("\n  noisegen speed (x real time, CPU): " + ", ".join(f"{c} {r:.0f}" for c, r in rates.items()))
    assert min(rates.values()) >= 5, rates


@pytest.mark.parametrize("lo,hi", [(-1.5, 1.0), (-4.5, -1.5), (-7.0, -4.5)])
def test_stationary_slope_ranges(lo, hi):
    """The white/pink/brown ranges of the synth stage: measured slope (500 Hz-2 kHz, dB/octave)
    within the requested range, 1 dB/oct of tolerance for the random corners."""
    from scipy import signal

    for seed in range(4):
        y, desc = ng.make("stationary", np.random.default_rng([5, seed]), N, dev=seed == 0, slope=(lo, hi))
        f, p = signal.welch(y, SR, nperseg=4096)
        band = (f >= 500) & (f <= 2000)
        k = np.polyfit(np.log2(f[band]), 10 * np.log10(p[band]), 1)[0]
        assert lo - 1 <= k <= hi + 1, (k, desc)
