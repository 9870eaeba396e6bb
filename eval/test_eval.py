"""Self-tests of the harness that need no model and no venv.

    python3 -m pytest eval/test_eval.py     # or, without pytest:  python3 eval/test_eval.py

Tests that need numpy (or soundfile, for the set builder) skip when it is missing; the rest
use the standard library only. The eval venv has everything:
    ~/.cache/percepnet-eval/venv/bin/python eval/test_eval.py
"""
from __future__ import annotations

import importlib
import math
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


def speechlike(seconds: float = 3.0, seed: int = 1):
    """Bursts of a harmonic 'voice' separated by digital silence, 48 kHz."""
    np = need("numpy")
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 48000)) / 48000
    f0 = 120 + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / 48000
    x = sum(np.sin(h * phase) / h for h in range(1, 30)) * 0.05
    x = x + 0.002 * rng.standard_normal(len(t))
    gate = (np.sin(2 * np.pi * 0.8 * t) > -0.2).astype(float)   # about 40 % pauses
    return x * gate


def lowpass(x, hz: float):
    np = need("numpy")
    spec = np.fft.rfft(x)
    spec[np.fft.rfftfreq(len(x), 1 / 48000) > hz] = 0
    return np.fft.irfft(spec, len(x))


# ------------------------------------------------------------------------------- delay, SI-SDR
def test_delayed_copy_measures_its_delay_exactly():
    np = need("numpy")
    from pn_metrics import align, delay_of, si_sdr, system_delay, xcorr_lags
    ref = speechlike()
    for d in (0, 1, 137, 480, 1440, 4799):
        out = np.concatenate([np.zeros(d), ref, np.zeros(300)])
        assert delay_of(xcorr_lags(out, ref, 4800)) == d
        assert si_sdr(ref, align(out, d, len(ref))) > 100
    # one system, five files at 1440 and one with its peak elsewhere: the pooled delay stays 1440
    at_1440 = xcorr_lags(np.concatenate([np.zeros(1440), ref]), ref, 4800)
    corrs = [at_1440] * 5 + [xcorr_lags(np.concatenate([np.zeros(300), ref]), ref, 4800)]
    assert system_delay(corrs) == 1440


def test_delay_with_noise_and_gain():
    np = need("numpy")
    from pn_metrics import delay_of, xcorr_lags
    ref = speechlike(seed=2)
    rng = np.random.default_rng(3)
    out = 0.3 * np.concatenate([np.zeros(960), ref]) + 0.01 * rng.standard_normal(len(ref) + 960)
    assert delay_of(xcorr_lags(out, ref, 4800)) == 960


def test_si_sdr_is_scale_invariant():
    np = need("numpy")
    from pn_metrics import si_sdr
    ref = speechlike()
    noise = np.random.default_rng(4).standard_normal(len(ref))
    noise *= np.sqrt(np.sum(ref**2) / np.sum(noise**2)) / 10 ** (10 / 20)   # 10 dB SNR
    est = ref + noise
    a = si_sdr(ref, est)
    assert abs(a - si_sdr(ref, 0.25 * est)) < 1e-9
    assert abs(a - si_sdr(ref, 7.0 * est)) < 1e-9
    assert abs(a - 10.0) < 0.3     # independent noise: SI-SDR close to the SNR
    assert math.isnan(si_sdr(np.zeros(100), est[:100]))


# ------------------------------------------------------------------------ pause / above-band
def test_pause_db_of_the_noisy_input_is_zero():
    np = need("numpy")
    from pn_metrics import residual_noise
    ref = speechlike()
    noisy = ref + 0.01 * np.random.default_rng(5).standard_normal(len(ref))
    r = residual_noise(ref, noisy, noisy)
    assert abs(r["pause_db"]) < 1e-9
    assert abs(residual_noise(ref, noisy, 0.1 * noisy)["pause_db"] + 20) < 1e-9
    assert residual_noise(ref, noisy, ref)["pause_db"] < -100      # silence where the reference is silent


def test_pause_db_needs_pauses():
    np = need("numpy")
    from pn_metrics import residual_noise
    tone = 0.1 * np.sin(2 * np.pi * 440 * np.arange(96000) / 48000)
    assert math.isnan(residual_noise(tone, tone, tone)["pause_db"])


def test_above_band_on_band_limited_speech():
    np = need("numpy")
    from pn_metrics import residual_noise
    ref = lowpass(speechlike(seed=6), 8000)
    noisy = ref + 0.003 * np.random.default_rng(7).standard_normal(len(ref))
    r = residual_noise(ref, noisy, noisy)
    assert abs(r["oob_db"]) < 1e-9
    assert 7500 <= r["bandwidth_hz"] <= 8300
    assert residual_noise(ref, noisy, lowpass(noisy, 8000))["oob_db"] < -40


def test_above_band_is_nan_on_fullband_speech():
    np = need("numpy")
    from pn_metrics import residual_noise
    ref = speechlike(seed=8)
    ref = ref + 0.01 * np.random.default_rng(9).standard_normal(len(ref)) * (np.abs(ref) > 0)
    noisy = ref + 0.003 * np.random.default_rng(10).standard_normal(len(ref))
    assert math.isnan(residual_noise(ref, noisy, noisy)["oob_db"])


# ------------------------------------------------------------------------------ audio helpers
def test_pad_tail_mirrors_instead_of_silence():
    np = need("numpy")
    from pn_audio import pad_tail
    x = np.arange(1.0, 11.0)
    y = pad_tail(x, 4)
    assert len(y) == 14 and list(y[10:]) == [9.0, 8.0, 7.0, 6.0]


def test_active_level_ignores_silence():
    np = need("numpy")
    from pn_audio import active_rms
    x = np.concatenate([0.1 * np.ones(48000), np.zeros(48000)])
    assert abs(active_rms(x) - 0.1) < 1e-9


def test_seeded_streams_are_reproducible_and_distinct():
    need("numpy")
    from pn_audio import rng_for
    a = rng_for(0, "x", 1).integers(0, 1 << 30, 4)
    assert list(a) == list(rng_for(0, "x", 1).integers(0, 1 << 30, 4))
    assert list(a) != list(rng_for(0, "x", 2).integers(0, 1 << 30, 4))


# ----------------------------------------------------------------------------------- set builder
def test_noise_assignment_is_balanced():
    need("numpy")
    from build_set import assignment
    for n_clean in (27, 24, 10, 7):
        for n_noise in range(1, 31):
            plan = assignment(n_clean, 6, n_noise)
            total = [0] * n_noise
            for row in plan:
                counts = [row.count(k) for k in range(n_noise)]
                assert max(counts) - min(counts) <= 1
                for k, c in enumerate(counts):
                    total[k] += c
            assert max(total) - min(total) <= 1
            for i in range(n_clean):                    # a clean file meets different noises
                assert len({row[i] for row in plan}) == min(6, n_noise)


def test_builder_is_deterministic_and_hits_the_snr():
    np = need("numpy")
    sf = need("soundfile")
    from build_set import build
    from pn_audio import active_rms, rms
    with tempfile.TemporaryDirectory() as tmp:
        for sub in ("clean", "noise"):
            os.makedirs(os.path.join(tmp, sub))
        for k in range(3):
            sf.write(os.path.join(tmp, "clean", f"c{k}.wav"), speechlike(2.0 + k, seed=k), 48000, subtype="FLOAT")
        rng = np.random.default_rng(11)
        sf.write(os.path.join(tmp, "noise", "white.wav"), 0.1 * rng.standard_normal(48000 * 4), 48000, subtype="FLOAT")
        sf.write(os.path.join(tmp, "noise", "short.wav"), 0.1 * rng.standard_normal(4800), 48000, subtype="FLOAT")
        outs = []
        for run in ("a", "b"):
            out = os.path.join(tmp, run)
            rows = build(os.path.join(tmp, "clean"), os.path.join(tmp, "noise"), out, [-5.0, 10.0], seed=3,
                         subtype="FLOAT", log=lambda *_: None)
            outs.append(out)
        assert len(rows) == 6 and {r["noise"] for r in rows} == {"white", "short"}
        for r in rows:
            for key in ("clean", "noisy"):
                assert open(os.path.join(outs[0], r[key]), "rb").read() == open(os.path.join(outs[1], r[key]), "rb").read()
            clean = sf.read(os.path.join(outs[0], r["clean"]))[0]
            noise = sf.read(os.path.join(outs[0], r["noisy"]))[0] - clean
            assert abs(20 * np.log10(active_rms(clean) / rms(noise)) - float(r["snr_db"])) < 0.01
            if float(r["gain_db"]) == 0:
                assert abs(20 * np.log10(active_rms(clean)) + 26) < 0.01
        assert open(os.path.join(outs[0], "manifest.csv")).read() == open(os.path.join(outs[1], "manifest.csv")).read()


# ------------------------------------------------------------------------- systems and report
def test_templates_split_before_substitution():
    import pn_systems
    argv = pn_systems.command("prog --x {in} -o {out}", "/a b/in.wav", "/c/out put.wav", python="py")
    assert argv == ["prog", "--x", "/a b/in.wav", "-o", "/c/out put.wav"]
    assert pn_systems.command("{py} {eval}/dfn3_stream.py {in} {out}", "i", "o", python="P")[0] == "P"
    assert pn_systems.parse_system("x=cmd {in} {out}") == ("x", "cmd {in} {out}")
    assert pn_systems.parse_system("noisy") == ("noisy", None)
    for bad in ("x=cmd {in}", "nosuchpreset", "=cmd {in} {out}"):
        try:
            pn_systems.parse_system(bad)
        except ValueError:
            continue
        raise AssertionError(bad)


def test_run_timed_counts_child_cpu_and_times_out():
    import pn_systems
    busy = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass"
    r = pn_systems.run_timed([sys.executable, "-c", busy], timeout_s=60)
    assert r.rc == 0 and r.cpu_s >= 0.25
    r = pn_systems.run_timed([sys.executable, "-c", "import time; time.sleep(30)"], timeout_s=0.5)
    assert r.rc == 124 and r.wall_s < 10
    assert pn_systems.run_timed(["/nonexistent/denoiser"]).rc == 127


def test_report_means_skip_nan_and_show_counts():
    import pn_report
    rows = [{"system": "a", "id": str(k), "snr_db": "0" if k < 2 else "5", "noise": "n", "rc": 0,
             "pesq_wb": v, "oob_db": o} for k, (v, o) in enumerate([(1.0, "nan"), (2.0, -10.0), (4.0, "")])]
    assert pn_report.mean_of(rows, "pesq_wb") == (7.0 / 3, 3)
    assert pn_report.mean_of(rows, "oob_db") == (-10.0, 1)
    text = pn_report.breakdown_table(["a"], rows, "snr_db", "pesq_wb", "SNR")
    assert "| 0 dB | 2 | 1.500 |" in text and "| 5 dB | 1 | 4.000 |" in text
    assert "-10.0 (1)" in pn_report.overall_table(["a"], rows, {}, {"a": 480})


# ------------------------------------------------------------------------------- example pauses

def test_example_pauses_levels_and_a_weighting():
    np = need("numpy")
    need("soundfile")
    need("matplotlib")
    import example_pauses as ep
    assert abs(ep.a_weight_power(np.array(1000.0)) - 1.0) < 1e-12
    # IEC 61672: A(100 Hz) = -19.1 dB, A(10 kHz) = -2.5 dB
    assert abs(10 * np.log10(ep.a_weight_power(np.array(100.0))) + 19.1) < 0.1
    assert abs(10 * np.log10(ep.a_weight_power(np.array(10000.0))) + 2.5) < 0.1
    freqs = np.arange(1025) * 48000 / 2048
    rng = np.random.default_rng(3)
    x = rng.random((1025, 50)) + 0.1
    pauses = np.arange(50) % 2 == 0
    y = x.copy()
    y[freqs < 150] *= 0.01           # 20 dB off the hum range only
    y[:, ~pauses] *= 1000.0          # what happens outside the pauses does not count
    lv = ep.pause_levels(x, y, pauses, freqs)
    assert abs(lv["0-150"] + 20.0) < 1e-9
    assert abs(lv["150-1000"]) < 1e-9 and abs(lv["8000-24000"]) < 1e-9
    assert -20.0 < lv["all"] < 0.0 and -20.0 < lv["A-weighted"] < lv["all"] + 20.0


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
