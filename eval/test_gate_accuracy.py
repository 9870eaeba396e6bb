"""Self-tests of eval/gate_accuracy.py's labelling and counting, on synthetic sequences (no CLI).

    ~/.cache/percepnet-eval/venv/bin/python -m pytest eval/test_gate_accuracy.py   # or, without pytest:
    ~/.cache/percepnet-eval/venv/bin/python eval/test_gate_accuracy.py

Every test needs numpy and skips when it is missing.
"""
from __future__ import annotations

import importlib
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

try:
    import pytest
except ImportError:  # the __main__ runner below stands in
    pytest = None


class Skipped(Exception):
    pass


def need(module: str):
    try:
        return importlib.import_module(module)
    except ImportError:
        if pytest is not None:
            pytest.skip(f"{module} not installed")
        raise Skipped(f"{module} not installed")


def ga():
    """The module under test (it needs numpy)."""
    need("numpy")
    return importlib.import_module("gate_accuracy")


def test_frame_energies_sum_whole_frames_only():
    np = need("numpy")
    g = ga()
    x = np.concatenate([np.full(480, 0.5), np.full(480, -0.1), np.ones(100)])   # 2 frames + a partial one
    assert np.allclose(g.frame_energies(x), [480 * 0.25, 480 * 0.01])


def test_labels_relative_to_the_active_level():
    np = need("numpy")
    g = ga()
    # 100 frames at 0 dB, then frames at these dB under the loudest, then digital silence
    db = np.array([-29.8, -30.2, -44.8, -45.2, -80.0])
    energy = np.concatenate([np.ones(100), 10 ** (db / 10), [0.0]])
    level = g.active_level(energy)
    # A: mean of the frames within 40 dB of the loudest: the 0 dB ones and the two near -30 dB,
    # so A is 0.086 dB under the loudest and those two fall 29.7 and 30.1 dB under A
    assert abs(level - (100 + 10 ** -2.98 + 10 ** -3.02) / 102) < 1e-12
    labels = g.frame_labels(energy, level)
    assert (labels[:100] == g.SPEECH).all()
    assert list(labels[100:]) == [g.SPEECH, g.AMBIGUOUS, g.AMBIGUOUS, g.PAUSE, g.PAUSE, g.PAUSE]
    # Frames far under the loudest (pauses, silence) do not lower A, whatever their number.
    more = np.concatenate([energy, np.full(1000, 1e-6), np.zeros(1000)])
    assert g.active_level(more) == level
    assert (g.frame_labels(more, level)[: len(energy)] == labels).all()
    assert (g.frame_labels(more, level)[len(energy):] == g.PAUSE).all()


def test_silence_is_all_pause():
    np = need("numpy")
    g = ga()
    energy = np.zeros(5)
    assert g.active_level(energy) == 0.0
    assert (g.frame_labels(energy, 0.0) == g.PAUSE).all()


def test_misses_and_false_alarms_counted_at_each_threshold():
    np = need("numpy")
    g = ga()
    S, P, A = g.SPEECH, g.PAUSE, g.AMBIGUOUS
    labels = np.array([S, S, S, S, P, P, P, A, A])
    presence = np.array([0.1, 0.5, 0.49, 0.9, 0.5, 0.2, 0.0, 0.0, 1.0])
    energy = np.ones(len(labels))
    c = g.file_counts(labels, presence, energy, [0.5, 0.2])
    # θ = 0.5: misses 0.1, 0.49 (0.5 itself is called speech); false alarm 0.5; ambiguous ignored
    assert list(c[0, :4]) == [4, 2, 3, 1]
    # θ = 0.2: miss 0.1; false alarms 0.5 and 0.2
    assert list(c[1, :4]) == [4, 1, 3, 2]
    miss, fa, _ = g.rates(c)
    assert np.allclose(miss, [50, 25]) and np.allclose(fa, [100 / 3, 200 / 3])


def test_gate_holds_20_frames_after_speech_and_18_at_the_start():
    np = need("numpy")
    g = ga()
    presence = np.zeros(100)
    presence[[40, 45]] = 0.5
    open_ = g.gate_open(presence, 0.5)
    assert list(np.flatnonzero(open_)) == list(range(18)) + list(range(40, 66))
    assert not g.gate_open(presence, 0.51)[18:].any()
    assert g.gate_open(np.full(50, 0.5), 0.5).all()


def test_lost_energy_is_the_energy_of_closed_frames():
    np = need("numpy")
    g = ga()
    S, P = g.SPEECH, g.PAUSE
    presence = np.zeros(70)
    presence[30] = 0.8
    energy = np.arange(70, dtype=float)
    labels = np.where(energy > 0, S, P)
    c = g.file_counts(labels, presence, energy, [0.5, 0.9])
    closed_05 = [i for i in range(70) if 18 <= i < 30 or i > 50]     # open: 0-17 (start), 30-50
    assert c[0, 4] == energy.sum() and c[0, 5] == energy[closed_05].sum()
    assert c[1, 5] == energy[18:].sum()
    assert np.allclose(g.rates(c)[2], 100 * c[:, 5] / energy.sum())


def test_group_sums_pool_frames_by_group():
    np = need("numpy")
    g = ga()
    rows = [{"snr_db": "5"}, {"snr_db": "-5"}, {"snr_db": "5"}]
    counts = [np.full((1, 6), 1.0), np.full((1, 6), 2.0), np.full((1, 6), 4.0)]
    sums = g.group_sums(rows, counts, lambda r: float(r["snr_db"]))
    assert list(sums) == [-5.0, 5.0]
    assert (sums[5.0] == 5).all() and (sums[-5.0] == 2).all()


def test_read_presence_checks_the_frame_grid():
    np = need("numpy")
    g = ga()
    with tempfile.TemporaryDirectory() as tmp:
        good = os.path.join(tmp, "good.csv")
        with open(good, "w") as f:
            f.write("time_s,presence\n" + "".join(f"{i * 0.01:.2f},{p:.4f}\n" for i, p in enumerate([0.1, 0.9, 0.5])))
        assert np.allclose(g.read_presence(good), [0.1, 0.9, 0.5])
        bad = os.path.join(tmp, "bad.csv")
        with open(bad, "w") as f:
            f.write("time_s,presence\n0.00,0.1\n0.02,0.2\n")
        try:
            g.read_presence(bad)
        except ValueError:
            pass
        else:
            raise AssertionError("a row off the 10 ms grid was accepted")
        stereo = os.path.join(tmp, "stereo.csv")
        with open(stereo, "w") as f:
            f.write("time_s,presence_1,presence_2\n0.00,0.1,0.2\n")
        try:
            g.read_presence(stereo)
        except ValueError:
            pass
        else:
            raise AssertionError("a stereo presence file was accepted")


if __name__ == "__main__":
    passed = skipped = 0
    for name, fn in sorted((n, f) for n, f in globals().items() if n.startswith("test_") and callable(f)):
        try:
            fn()
            passed += 1
            print(f"ok      {name}")
        except Skipped as e:
            skipped += 1
            print(f"skipped {name} ({e})")
    print(f"{passed} passed, {skipped} skipped")
