"""Procedural noise generators for the training corpus (48 kHz, mono, float64).

Used by `prepare_corpus.py` (stages `generated` and `synth`), tested by `test_noisegen.py`.
Each category generator `gen(rng, n, dev=False) -> (y, desc)` draws every parameter from the
seeded `rng` (so a seed gives the same file on any machine), returns n samples at an arbitrary
level (`make()` sets the level) and a one-line description of the drawn parameters. Content
reaches 16-24 kHz wherever the real sound has highs (every generator but babble carries a
broadband component), because the network must learn to remove noise above a band-limited voice.

Dev variants: besides disjoint seeds, the dev files of each category come from a held-apart
part of one key parameter (`draw(..., dev=True)`: by default the 45-60 % slice of its range,
which training never draws), so dev measures generalisation to unseen settings.

Speed: everything is vectorised (events are impulse trains convolved with kernel banks, moving
spectra are synthesised frame by frame in the STFT domain); `python3 training/noisegen.py`
prints the speed of each generator (40-700x real time on one core of the 2-core machine).

`colored`, `slow_wobble`, `gen_hum` and `gen_fan` are the generators of the older `generated`
stage, kept bit-exact so that stage's files do not change.
"""
from __future__ import annotations

import numpy as np
from scipy import signal

SR = 48000
NYQ = SR / 2

# ----------------------------------------------------------------------------------------------
# The `generated` stage's generators (unchanged)
# ----------------------------------------------------------------------------------------------


def colored(rng, n: int, exponent: float, f_lo: float = 20.0) -> np.ndarray:
    """Gaussian noise with power spectrum ~ 1/f^exponent above f_lo."""
    X = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / SR)
    g = np.zeros_like(f)
    g[f >= f_lo] = f[f >= f_lo] ** (-exponent / 2)
    return np.fft.irfft(X * g, n)


def slow_wobble(rng, n: int, depth: float, rate_hz: float) -> np.ndarray:
    """Smooth random modulation 1 + depth * lowpass noise (unit std), cut-off rate_hz."""
    k = max(2, int(n * rate_hz / SR) + 2)
    ctrl_pts = rng.standard_normal(k)
    m = np.interp(np.linspace(0, k - 1, n), np.arange(k), ctrl_pts)
    return 1 + depth * m / (np.std(m) + 1e-12)


def gen_hum(rng, n: int) -> tuple[np.ndarray, str]:
    """Mains hum (stage `generated`): 50/60 Hz +-0.4 %, harmonics to 1.5-8 kHz, pink floor."""
    f0 = float(rng.choice([50.0, 60.0])) * (1 + rng.uniform(-0.004, 0.004))
    t = np.arange(n) / SR
    drift = np.cumsum(slow_wobble(rng, n, 0.0005, 0.2) - 1) / SR
    kmax = int(min(8000, rng.uniform(1500, 8000)) // f0)
    alpha = rng.uniform(0.5, 2.0)
    odd = rng.uniform(1.0, 4.0)
    y = np.zeros(n)
    for k in range(1, kmax + 1):
        a = k ** -alpha * (odd if k % 2 else 1.0) * rng.lognormal(0, 0.5)
        y += a * np.sin(2 * np.pi * k * f0 * (t + drift) + rng.uniform(0, 2 * np.pi))
    y /= np.std(y) + 1e-12
    floor = colored(rng, n, 1.0)
    y += floor / (np.std(floor) + 1e-12) * 10 ** (rng.uniform(-40, -15) / 20)
    return y, f"hum f0={f0:.2f} harmonics={kmax} alpha={alpha:.2f} odd={odd:.2f}"


def gen_fan(rng, n: int) -> tuple[np.ndarray, str]:
    """Fan (stage `generated`): lowpassed coloured noise, duct resonances, blade-pass lines."""
    base = colored(rng, n, rng.uniform(0.0, 1.5))
    fc = rng.uniform(300, 4000)
    b, a = signal.butter(2, fc / (SR / 2), "low")
    y = signal.lfilter(b, a, base)
    for _ in range(int(rng.integers(1, 3))):
        f = rng.uniform(150, 3000)
        b, a = signal.iirpeak(f / (SR / 2), rng.uniform(1.0, 6.0))
        y = y + rng.uniform(0.5, 2.0) * signal.lfilter(b, a, base)
    y = y / (np.std(y) + 1e-12) * slow_wobble(rng, n, 0.05, 0.5)
    t = np.arange(n) / SR
    fb = rng.uniform(40, 300)
    tones = np.zeros(n)
    for k in range(1, 6):
        tones += k ** -1.0 * np.sin(2 * np.pi * k * fb * t + rng.uniform(0, 2 * np.pi))
    tones *= slow_wobble(rng, n, 0.2, 2.0)
    y += tones / (np.std(tones) + 1e-12) * 10 ** (rng.uniform(-20, -3) / 20)
    fw = rng.uniform(500, 4000)
    y += np.sin(2 * np.pi * fw * t) * 10 ** (rng.uniform(-45, -20) / 20)
    return y, f"fan lowpass={fc:.0f} blade={fb:.1f} whine={fw:.0f}"


# ----------------------------------------------------------------------------------------------
# Building blocks
# ----------------------------------------------------------------------------------------------


def draw(rng, lo: float, hi: float, dev: bool = False, log: bool = False, held=(0.45, 0.60)) -> float:
    """Uniform (log-uniform with log=True) in [lo, hi], except that the slice `held` of the range
    (fractions) is drawn only for dev files and never for training files."""
    a, b = held
    u = rng.uniform()
    if dev:
        u = a + (b - a) * u
    else:
        u *= 1 - (b - a)
        u = u if u < a else u + (b - a)
    return float(lo * (hi / lo) ** u if log else lo + (hi - lo) * u)


def ctrl(rng, n: int, rate_hz: float, fs: float = SR) -> np.ndarray:
    """Smooth random control curve in [0, 1]: random points every 1/rate_hz s, cosine-interpolated."""
    k = max(2, int(n * rate_hz / fs) + 2)
    pts = rng.uniform(0, 1, k)
    x = np.linspace(0, k - 1.000001, n)
    i = x.astype(int)
    w = (1 - np.cos(np.pi * (x - i))) / 2
    return pts[i] * (1 - w) + pts[i + 1] * w


def rms(x) -> float:
    return float(np.sqrt(np.mean(np.square(x)))) + 1e-20


def unit(x):
    return x / rms(x)


def db2(x_db):
    return 10 ** (np.asarray(x_db) / 20)


def sos_filter(x, kind: str, f, order: int = 2):
    """Butterworth filter (lowpass/highpass/bandpass), frequencies clipped to the valid range."""
    f = np.clip(np.atleast_1d(np.asarray(f, dtype=float)), 10.0, NYQ * 0.98)
    sos = signal.butter(order, f if len(f) > 1 else f[0], kind, fs=SR, output="sos")
    return signal.sosfilt(sos, x)


def shaped_noise(rng, n: int, gain, nfft: int = 1024) -> np.ndarray:
    """Noise with a moving spectrum: gain(t (frames,1), f (1,bins)) -> magnitude (frames, bins).

    Random complex spectra times the gain, inverse FFT, sqrt-Hann windows at 50 % overlap (the
    squared windows sum to one, so the level does not ripple at the frame rate)."""
    hop = nfft // 2
    frames = n // hop + 2
    t = (np.arange(frames) * hop / SR)[:, None]
    f = np.fft.rfftfreq(nfft, 1 / SR)[None, :]
    g = np.broadcast_to(gain(t, f), (frames, f.shape[1]))
    X = (rng.standard_normal(g.shape) + 1j * rng.standard_normal(g.shape)) * g
    win = np.sqrt(0.5 - 0.5 * np.cos(2 * np.pi * np.arange(nfft) / nfft))
    fr = np.fft.irfft(X, nfft, axis=1) * win
    out = np.zeros((frames + 1) * hop)
    out[: frames * hop] += fr[:, :hop].reshape(-1)
    out[hop:] += fr[:, hop:].reshape(-1)
    return out[hop: hop + n]


def tilt(f, slope_db_oct: float, f_ref: float = 1000.0):
    """Magnitude of a spectral slope (dB per octave) around f_ref."""
    return db2(slope_db_oct * np.log2(np.maximum(f, 20.0) / f_ref))


def lp_mag(f, fc, order: float = 2.0):
    return 1 / np.sqrt(1 + (f / fc) ** (2 * order))


def hp_mag(f, fc, order: float = 2.0):
    return 1 / np.sqrt(1 + (fc / np.maximum(f, 1e-3)) ** (2 * order))


def peak_mag(f, fc, octaves: float):
    """Resonance bump, width in octaves (Lorentzian on a log-frequency axis), peak 1."""
    return 1 / (1 + (np.log2(np.maximum(f, 1.0) / fc) / octaves) ** 2)


def poisson_times(rng, n: int, rate_hz: float, env=None) -> np.ndarray:
    """Sample indices of a Poisson process; with env (n values in 0..1) its rate is rate*env."""
    k = rng.poisson(rate_hz * n / SR)
    idx = np.sort(rng.integers(0, n, k))
    if env is not None:
        idx = idx[rng.random(len(idx)) < env[idx]]
    return idx


def place(n: int, idx, amp, kernel) -> np.ndarray:
    """Impulses of amplitude amp at idx, convolved with kernel."""
    if len(idx) == 0:
        return np.zeros(n)
    imp = np.bincount(idx, weights=amp, minlength=n)[:n]
    return signal.oaconvolve(imp, kernel)[:n]


def place_bank(rng, n: int, idx, amp, kernels) -> np.ndarray:
    """Each event gets one kernel of the bank at random."""
    which = rng.integers(0, len(kernels), len(idx))
    return sum(place(n, idx[which == k], amp[which == k], kern) for k, kern in enumerate(kernels))


def damped(f, tau, dur, chirp: float = 0.0, phase: float = 0.0):
    """exp(-t/tau) sin(2 pi f (1 + chirp t/tau) t): a bubble (chirp > 0) or a mode."""
    t = np.arange(int(dur * SR)) / SR
    return np.exp(-t / tau) * np.sin(2 * np.pi * f * (1 + chirp * t / (2 * tau)) * t + phase)


def burst(rng, dur, f_lo=1000.0, f_hi=None, tau=None):
    """A short noise burst (click), band-limited, exponentially decaying."""
    m = max(8, int(dur * SR))
    x = rng.standard_normal(m) * np.exp(-np.arange(m) / (tau * SR if tau else m / 4))
    x = sos_filter(x, "highpass", f_lo) if f_lo else x
    return sos_filter(x, "lowpass", f_hi) if f_hi else x


def modes(rng, f0, ratios, tau0, dur, hf_damp: float = 1.0):
    """Sum of damped inharmonic modes (f0 * ratio), higher modes decaying faster, random levels."""
    t = np.arange(int(dur * SR)) / SR
    r = np.asarray(ratios) * rng.uniform(0.97, 1.03, len(ratios))
    f = f0 * r[r * f0 < NYQ * 0.95]
    tau = tau0 / (f / f0) ** hf_damp
    a = rng.lognormal(0, 0.5, len(f)) / np.sqrt(np.arange(1, len(f) + 1))
    ph = rng.uniform(0, 2 * np.pi, len(f))
    return (a[:, None] * np.exp(-t[None] / tau[:, None]) * np.sin(2 * np.pi * f[:, None] * t[None] + ph[:, None])).sum(0)


def tone(freq_curve, phase0: float = 0.0):
    """Sine with instantaneous frequency freq_curve (Hz per sample)."""
    return np.sin(2 * np.pi * np.cumsum(freq_curve) / SR + phase0)


def harmonics(theta, amps, phases, size: int = 16384):
    """sum_k amps[k-1] sin(k theta + phases[k-1]), k = 1..K (K < size/2), read from a one-period
    wavetable (linear interpolation): the cost does not grow with K."""
    k = len(amps)
    spec = np.zeros(size // 2 + 1, complex)
    spec[1:k + 1] = np.asarray(amps) * np.exp(1j * (np.asarray(phases) - np.pi / 2)) * size / 2
    table = np.fft.irfft(spec, size)
    return np.interp(theta / (2 * np.pi) % 1.0 * size, np.arange(size + 1), np.append(table, table[0]))


def add_at(y, start: int, x):
    """y[start:start+len(x)] += x, clipped to y."""
    a, b = max(start, 0), min(start + len(x), len(y))
    if b > a:
        y[a:b] += x[a - start: b - start]


def bed(rng, n, lo=(50, 300), hi=(6000, 20000), slope=(-6, 0), wobble=0.3):
    """Broadband background: coloured noise (slope dB/oct), highpass/lowpass corners drawn."""
    fl, fh, s = rng.uniform(*lo), rng.uniform(*hi), rng.uniform(*slope)
    rate = rng.uniform(0.05, 0.5)
    m = n // 512 + 2
    c = 1 - wobble + wobble * ctrl(rng, m, rate, SR / 512)[:, None]
    return shaped_noise(rng, n, lambda t, f: c * tilt(f, s) * hp_mag(f, fl) * lp_mag(f, fh))


# ----------------------------------------------------------------------------------------------
# Category generators
# ----------------------------------------------------------------------------------------------


def rain(rng, n, dev=False):
    """Rain: droplets (Poisson, 30-8000 /s, log-uniform; dev: the held-apart middle of that range)
    on water (rising-chirp bubbles 1-10 kHz, 2-20 ms) and/or hard surfaces (0.2-2 ms clicks
    2-16 kHz), intensity varying slowly (depth 0-80 %), over a hiss bed (slope -6..0 dB/oct,
    corners 100-800 Hz / 8-22 kHz) at -15..+8 dB against the drops; distant thunder rumble
    in 25 % of files."""
    rate = draw(rng, 30, 8000, dev, log=True)
    depth = rng.uniform(0, 0.8)
    env = 1 - depth + depth * ctrl(rng, n, rng.uniform(0.02, 0.3))
    idx = poisson_times(rng, n, rate, env)
    amp = rng.lognormal(0, 0.9, len(idx)) * rng.choice([-1.0, 1.0], len(idx))
    wet = rng.uniform(0, 1)
    lo, hi = rng.uniform(800, 2500), rng.uniform(4000, 10000)
    kernels = [damped(f, rng.uniform(2, 20) / 1000 * (1000 / f) ** 0.5, 0.04, rng.uniform(0.2, 1.5))
               for f in np.geomspace(lo, hi, 8)]
    hard = [burst(rng, 0.004, rng.uniform(1500, 5000), rng.uniform(8000, 20000), rng.uniform(2e-4, 2e-3))
            for _ in range(4)]
    wet_mask = rng.random(len(idx)) < wet
    drops = place_bank(rng, n, idx[wet_mask], amp[wet_mask], kernels)
    drops += 0.6 * place_bank(rng, n, idx[~wet_mask], amp[~wet_mask], hard)
    b = bed(rng, n, (100, 800), (8000, 22000), (-6, 0), 0.2) * np.sqrt(env)
    g_bed = rng.uniform(-15, 8)
    y = unit(drops) + db2(g_bed) * unit(b) if len(idx) else unit(b)
    if rng.random() < 0.25:
        th = sos_filter(rng.standard_normal(n), "lowpass", rng.uniform(80, 250), 4)
        t0 = rng.uniform(0, n / SR)
        t = np.arange(n) / SR - t0
        e = np.where(t < 0, np.exp(t / 0.3), np.exp(-t / rng.uniform(1.5, 6)))
        y += db2(rng.uniform(-10, 3)) * unit(th) * e
    return y, f"rain drops={rate:.0f}/s wet={wet:.2f} bed={g_bed:+.1f}dB depth={depth:.2f}"


def wind(rng, n, dev=False):
    """Wind: band of noise whose centre (150-1200 Hz), width and level follow a gust curve
    (0.03-0.5 Hz, log-uniform; dev: held-apart middle), plus mic buffeting (<40-150 Hz, rising
    with the gust squared), leaf rustle (2-20 kHz, 45 % of files) and, in 30 %, a whistle
    (narrow band 400-2500 Hz whose pitch follows the gust)."""
    gust_rate = draw(rng, 0.03, 0.5, dev, log=True)
    m = n // 512 + 2
    base = rng.uniform(0.05, 0.6)
    g = base + (1 - base) * ctrl(rng, m, gust_rate, SR / 512) ** rng.uniform(1, 3)
    g = g * (1 + 0.15 * (ctrl(rng, m, rng.uniform(1, 5), SR / 512) - 0.5))
    g = g[:, None]
    fc0, span, bw = rng.uniform(150, 1200), rng.uniform(0.5, 2.0), rng.uniform(0.6, 2.0)
    buff_fc, buff = rng.uniform(40, 150), db2(rng.uniform(-20, 6))
    leaves = db2(rng.uniform(-30, -5)) if rng.random() < 0.45 else 0.0
    whistle = db2(rng.uniform(-25, -5)) if rng.random() < 0.3 else 0.0
    fw = rng.uniform(400, 2500)

    def gain(t, f):
        fc = fc0 * 2 ** (span * (g - 0.5))
        body = g * peak_mag(f, fc, bw) * lp_mag(f, 6000, 1)
        low = buff * g**2 * lp_mag(f, buff_fc, 2) * hp_mag(f, 8, 1)
        rust = leaves * g**1.5 * hp_mag(f, 2000, 2) * lp_mag(f, 20000, 2)
        wh = whistle * g**3 * peak_mag(f, fw * (0.8 + 0.4 * g), 0.03)
        return body + low + rust + wh + 1e-4 * tilt(f, -3)   # faint broadband floor

    y = shaped_noise(rng, n, gain)
    return y, f"wind gust_rate={gust_rate:.3f}Hz centre={fc0:.0f}Hz buffet={buff_fc:.0f}Hz leaves={leaves:.3f} whistle={whistle:.3f}"


def water(rng, n, dev=False):
    """Water: a stream, river or sea waves. Bubbles (rising-chirp damped sines, Minnaert
    frequencies 0.5-10 kHz from a log-uniform radius range, 20-4000 /s, log-uniform; dev: the
    held-apart middle) over filtered noise (corners 300-6000 Hz, fullband hiss); waves add surges
    of 4-14 s with a bright wash on each break."""
    kind = ["stream", "river", "waves"][int(rng.integers(0, 3))]
    rate = draw(rng, 20, 4000, dev, log=True)
    fmin, fmax = sorted(rng.uniform(500, 10000, 2))
    fmax = max(fmax, fmin * 1.5)
    depth = rng.uniform(0.1, 0.7)
    env = 1 - depth + depth * ctrl(rng, n, rng.uniform(0.1, 2))
    idx = poisson_times(rng, n, rate, env)
    amp = rng.lognormal(0, 0.7, len(idx))
    kern = [damped(f, 1 / (np.pi * f * rng.uniform(0.02, 0.1)), 0.05, rng.uniform(0.1, 0.8), rng.uniform(0, 6.28))
            for f in np.geomspace(fmin, fmax, 14)]
    bub = place_bank(rng, n, idx, amp, kern)
    fc = rng.uniform(300, 6000)
    b = bed(rng, n, (40, 300), (fc, fc * 3), (-4, 0), 0.3) + db2(rng.uniform(-30, -12)) * bed(rng, n, (3000, 6000), (16000, 22000), (-3, 0), 0.3)
    g_bed = {"stream": rng.uniform(-15, 0), "river": rng.uniform(0, 12), "waves": rng.uniform(0, 10)}[kind]
    y = unit(bub) + db2(g_bed) * unit(b) if len(idx) > 0 else unit(b)
    if kind == "waves":
        per = rng.uniform(4, 14)
        t = np.arange(n) / SR
        ph = (t / per + 0.1 * ctrl(rng, n, 0.1)) % 1
        surge = np.maximum(np.sin(np.pi * ph), 0) ** rng.uniform(1, 4)
        wash = bed(rng, n, (1000, 3000), (15000, 22000), (-3, 0), 0.2) * surge ** 3
        y = y * (0.2 + surge) + db2(rng.uniform(-6, 6)) * unit(wash) * rms(y)
    return y, f"water {kind} bubbles={rate:.0f}/s {fmin:.0f}-{fmax:.0f}Hz bed={g_bed:+.1f}dB"


def _note(rng, f0, f1, dur, fm_rate=0.0, fm_depth=0.0, harm=(1.0,), noise=0.0):
    m = max(16, int(dur * SR))
    x = np.linspace(0, 1, m)
    curve = rng.uniform(0.3, 3.0)
    f = f0 + (f1 - f0) * x**curve
    if fm_depth:
        f = f * (1 + fm_depth * np.sin(2 * np.pi * fm_rate * x * dur + rng.uniform(0, 6.28)))
    ph = 2 * np.pi * np.cumsum(f) / SR
    y = sum(a * np.sin((k + 1) * ph) for k, a in enumerate(harm) if (k + 1) * f.max() < NYQ * 0.95)
    if noise:
        y = y * (1 + noise * rng.standard_normal(m))
    att = rng.uniform(0.05, 0.4)
    env = np.minimum(x / att, 1) * np.minimum((1 - x) / rng.uniform(0.1, 0.6), 1)
    return y * np.sin(np.pi / 2 * np.clip(env, 0, 1)) ** 2


def _phrase(rng, sp):
    """One song phrase of a species sp (dict of its drawn parameters) -> samples."""
    f0, kind, h = sp["f0"], sp["kind"], sp["harm"]
    parts = []
    if kind == "chirp":
        for _ in range(int(rng.integers(1, 7))):
            a, b = f0 * rng.uniform(0.7, 1.4), f0 * sp["sweep"] * rng.uniform(0.9, 1.1)
            parts += [_note(rng, a, b, rng.uniform(0.03, 0.15), harm=h), np.zeros(int(rng.uniform(0.03, 0.15) * SR))]
    elif kind == "trill":
        k, rate = int(rng.integers(6, 40)), sp["rate"]
        drift = rng.uniform(0.8, 1.25)
        for i in range(k):
            f = f0 * drift ** (i / k)
            parts += [_note(rng, f * 1.1, f * 0.9, 0.6 / rate, harm=h), np.zeros(int(0.4 / rate * SR))]
    elif kind == "warble":
        parts.append(_note(rng, f0 * rng.uniform(0.8, 1.2), f0 * rng.uniform(0.8, 1.2), rng.uniform(0.5, 2.5),
                           fm_rate=rng.uniform(5, 30), fm_depth=rng.uniform(0.05, 0.3), harm=h))
    elif kind == "whistle":
        for _ in range(int(rng.integers(2, 5))):
            f = f0 * rng.choice([1.0, 0.8, 1.25, 0.67])
            parts += [_note(rng, f, f * rng.uniform(0.85, 1.15), rng.uniform(0.15, 0.6), harm=h),
                      np.zeros(int(rng.uniform(0.05, 0.3) * SR))]
    else:  # caw: harsh, harmonic-rich, noisy
        for _ in range(int(rng.integers(1, 5))):
            f = sp["f0"] / 5
            parts += [_note(rng, f, f * rng.uniform(0.8, 1.1), rng.uniform(0.15, 0.5),
                            harm=tuple(rng.uniform(0.2, 1, 14)), noise=0.5),
                      np.zeros(int(rng.uniform(0.1, 0.4) * SR))]
    return np.concatenate(parts)


def birds(rng, n, dev=False):
    """Birds: 1-6 species, each with a song type (FM chirps, trills of 8-30 notes/s, warbles with
    5-30 Hz FM, whistled tone sequences, or harsh harmonic caws), a pitch (1.5-8 kHz,
    log-uniform; dev: held-apart middle), 2nd/3rd harmonics at -30..-10 dB, a call rate
    (0.03-0.8 phrases/s), a distance (level -20..0 dB, lowpass 5-20 kHz); over a leaves/wind bed
    at -35..-10 dB."""
    y = np.zeros(n)
    species = []
    for _ in range(int(rng.integers(1, 7))):
        kind = ["chirp", "trill", "warble", "whistle", "caw"][int(rng.integers(0, 5))]
        sp = dict(kind=kind, f0=draw(rng, 1500, 8000, dev, log=True), sweep=rng.uniform(0.5, 2.0),
                  rate=rng.uniform(8, 30), harm=(1.0, db2(rng.uniform(-30, -10)), db2(rng.uniform(-40, -15))))
        track = np.zeros(n)
        t = rng.uniform(-1, 3)
        call = rng.uniform(0.03, 0.8)
        while t < n / SR:
            ph = _phrase(rng, sp)
            add_at(track, int(t * SR), ph * rng.uniform(0.5, 1.0))
            t += len(ph) / SR + rng.exponential(1 / call)
        track = sos_filter(track, "lowpass", rng.uniform(5000, 20000))
        y += db2(rng.uniform(-20, 0)) * track / (np.max(np.abs(track)) + 1e-9)
        species.append(f"{kind}@{sp['f0']:.0f}")
    g_bed = rng.uniform(-35, -10)
    y = y + db2(g_bed) * unit(bed(rng, n, (100, 600), (12000, 22000), (-4, -1), 0.5)) * max(rms(y), 1e-3)
    return y, f"birds {'+'.join(species)} bed={g_bed:+.1f}dB"


def insects(rng, n, dev=False):
    """Insects: a cricket chorus (1-8 crickets: carrier 3-8 kHz, log-uniform, dev: held-apart
    middle; pulses at 15-60 /s with 30-70 % duty, chirps of 2-6 pulses at 0.5-4 /s or continuous
    trills, 2nd harmonic at -30..-15 dB), a cicada buzz (noise band centred on 3-8 kHz pulsed at
    100-500 /s, swelling over 2-10 s), or flies/bees (sawtooth wing-beat tones 150-650 Hz with
    harmonics to 10+ kHz drifting in pitch and level); over a night/day bed at -40..-15 dB."""
    kind = ["crickets", "cicada", "flies"][int(rng.integers(0, 3))]
    t = np.arange(n) / SR
    y = np.zeros(n)
    fc = draw(rng, 3000, 8000, dev, log=True)
    if kind == "crickets":
        for _ in range(int(rng.integers(1, 9))):
            f = fc * rng.uniform(0.85, 1.15)
            pr, duty = rng.uniform(15, 60), rng.uniform(0.3, 0.7)
            ph = (t * pr + rng.uniform()) % 1
            pulse = np.where(ph < duty, np.sin(np.pi * ph / duty), 0.0) ** 2
            if rng.random() < 0.7:
                cr, k = rng.uniform(0.5, 4), int(rng.integers(2, 7))
                pulse *= ((t * cr + rng.uniform()) % 1) < min(0.9, k / pr * cr)
            car = np.sin(2 * np.pi * f * t * (1 + 0.002 * ctrl(rng, n, 0.2))) + \
                db2(rng.uniform(-30, -15)) * np.sin(4 * np.pi * f * t)
            y += db2(rng.uniform(-15, 0)) * pulse * car
    elif kind == "cicada":
        for _ in range(int(rng.integers(1, 4))):
            pr = rng.uniform(100, 500)
            c = fc * rng.uniform(0.8, 1.2)
            noise_band = shaped_noise(rng, n, lambda tt, f: peak_mag(f, c, rng.uniform(0.2, 0.8)) + 0.03 * hp_mag(f, 10000))
            pulse = np.abs(np.sin(np.pi * pr * t)) ** rng.uniform(2, 10)
            t0, sw = rng.uniform(-5, n / SR), rng.uniform(2, 10)
            swell = np.clip(np.minimum((t - t0) / sw, (t0 + rng.uniform(5, 30) - t) / sw), 0, 1)
            y += db2(rng.uniform(-10, 0)) * noise_band * pulse * (0.05 + swell)
    else:
        for _ in range(int(rng.integers(1, 5))):
            f0 = rng.uniform(150, 650)
            f = f0 * (1 + 0.08 * (ctrl(rng, n, rng.uniform(0.5, 3)) - 0.5))
            ph = np.cumsum(f) / SR % 1
            saw = 2 * ph - 1
            saw = sos_filter(saw, "lowpass", rng.uniform(6000, 16000))
            lvl = ctrl(rng, n, rng.uniform(0.1, 0.6)) ** rng.uniform(1, 4)
            y += db2(rng.uniform(-10, 0)) * saw * lvl
    y = unit(y) + db2(rng.uniform(-40, -15)) * unit(bed(rng, n, (80, 400), (12000, 22000), (-5, -1), 0.3))
    return y, f"insects {kind} carrier={fc:.0f}Hz"


def fire(rng, n, dev=False):
    """Fire: crackle (Poisson 5-400 /s, log-uniform, dev: held-apart middle; rate flickering at
    0.5-4 Hz; heavy-tailed amplitudes; 0.2-3 ms broadband bursts), pops (0.1-2 /s, resonant
    300-2500 Hz, 5-30 ms), hiss (2-20 kHz, flickering) and a low roar (<150-400 Hz)."""
    rate = draw(rng, 5, 400, dev, log=True)
    flick = ctrl(rng, n, rng.uniform(0.5, 4)) ** rng.uniform(1, 3)
    idx = poisson_times(rng, n, rate, flick)
    amp = (rng.pareto(rng.uniform(1.5, 3), len(idx)) + 0.1) * rng.choice([-1.0, 1.0], len(idx))
    kern = [burst(rng, rng.uniform(0.0005, 0.004), rng.uniform(500, 3000), rng.uniform(12000, 22000), rng.uniform(1e-4, 1e-3))
            for _ in range(8)]
    y = unit(place_bank(rng, n, idx, amp, kern)) if len(idx) else np.zeros(n)
    pi = poisson_times(rng, n, rng.uniform(0.1, 2))
    pk = [damped(rng.uniform(300, 2500), rng.uniform(0.005, 0.03), 0.12) for _ in range(4)]
    pk = [k + 0.5 * np.pad(burst(rng, 0.003, 800, None, 5e-4), (0, len(k)))[:len(k)] for k in pk]
    y += db2(rng.uniform(-6, 6)) * place_bank(rng, n, pi, rng.lognormal(0, 0.5, len(pi)) * 3, pk)
    hiss = bed(rng, n, (2000, 4000), (14000, 22000), (-3, 0), 0.1) * (0.3 + flick)
    roar = bed(rng, n, (20, 40), (150, 400), (-6, -2), 0.5) * (0.5 + flick)
    y += db2(rng.uniform(-25, -8)) * unit(hiss) + db2(rng.uniform(-20, 0)) * unit(roar)
    return y, f"fire crackle={rate:.1f}/s pops={len(pi)}"


def _engine(rng, n, rpm, cyl, lp_hz, comb=None):
    """Engine: firing frequency rpm/60*cyl/2 with half orders, random harmonic levels, combustion
    noise modulated at the firing rate; rpm is an array (n)."""
    ff = rpm / 60 * cyl / 2
    ph = 2 * np.pi * np.cumsum(ff) / SR
    ks = np.arange(0.5, 12.5, 0.5)
    ks = ks[ks * ff.max() < NYQ * 0.9]
    amps = rng.lognormal(0, 0.6, len(ks)) * np.where(ks == ks.astype(int), 1.0, 0.3) / ks ** rng.uniform(0.3, 1.2)
    y = harmonics(ph / 2, amps, rng.uniform(0, 6.28, len(ks)))
    if comb is None:
        comb = sos_filter(rng.standard_normal(n), "bandpass", [rng.uniform(200, 600), rng.uniform(2000, 8000)])
    y = unit(y) + db2(rng.uniform(-20, -5)) * unit(comb) * (1 + 0.8 * np.sin(ph))
    return sos_filter(y, "lowpass", lp_hz)


def traffic(rng, n, dev=False):
    """Traffic and engines: in a car cabin (engine 1100-3800 rpm with gear changes, road roar
    50-1500 Hz, wind hiss), at a street (passing vehicles with distance envelopes, Doppler shift
    of the engine orders and brighter tyre noise when close, over distant traffic rumble), by a
    motorway (dense passes over a continuous roar) or by an idling engine (600-1000 rpm, diesel
    knock). Vehicle density 0.5-60 /min (log-uniform; dev: held-apart middle); speeds 8-35 m/s,
    closest distance 2-40 m."""
    scene = ["cabin", "street", "motorway", "idle"][int(rng.integers(0, 4))]
    t = np.arange(n) / SR
    density = draw(rng, 0.5, 60, dev, log=True)
    if scene == "cabin":
        rpm = 1100 + 2700 * ctrl(rng, n, rng.uniform(0.05, 0.3))
        steps = np.cumsum(rng.random(n // 4800 + 1) < 0.03)[np.arange(n) // 4800]   # gear changes
        rpm = rpm * (1 + 0.25 * ((steps % 3) - 1))
        eng = _engine(rng, n, rpm, int(rng.choice([3, 4, 6])), rng.uniform(800, 3000))
        road = bed(rng, n, (30, 80), (600, 1500), (-6, -2), 0.2)
        windh = bed(rng, n, (800, 2000), (10000, 20000), (-4, -1), 0.4)
        y = unit(eng) * db2(rng.uniform(-12, 0)) + unit(road) + db2(rng.uniform(-25, -10)) * unit(windh)
        return y, f"traffic cabin cyl-rpm {rpm.min():.0f}-{rpm.max():.0f}"
    if scene == "idle":
        rpm = rng.uniform(600, 1000) * (1 + 0.03 * (ctrl(rng, n, 2) - 0.5))
        y = unit(_engine(rng, n, rpm, int(rng.choice([4, 6, 8])), rng.uniform(3000, 12000)))
        knock_rate = rpm.mean() / 60 * 2
        kidx = np.arange(0, n, int(SR / knock_rate))
        y += db2(rng.uniform(-20, -3)) * unit(place(n, kidx, rng.lognormal(0, 0.3, len(kidx)),
                                                     burst(rng, 0.01, 1500, 16000, 2e-3)))
        y += db2(rng.uniform(-35, -15)) * unit(bed(rng, n, (50, 200), (10000, 20000), (-3, -1), 0.3))
        return y, f"traffic idle rpm={rpm.mean():.0f}"
    if scene == "motorway":
        density = density * 3
    y = db2(rng.uniform(-20, -3)) * unit(bed(rng, n, (20, 40), (500, 2000), (-6, -3), 0.5))
    count = int(rng.poisson(density / 60 * n / SR)) + 1
    long = 2 * n + 9 * SR      # filtered noise shared by the vehicles (random excerpts)
    combs = sos_filter(rng.standard_normal(long), "bandpass", [rng.uniform(200, 600), rng.uniform(2000, 8000)])
    tyres = sos_filter(rng.standard_normal(long), "bandpass", [rng.uniform(300, 700), rng.uniform(2500, 5000)])
    hfs = sos_filter(rng.standard_normal(long), "highpass", 4000)
    for _ in range(count):
        t0 = rng.uniform(-3, n / SR + 3)
        v, d = rng.uniform(8, 35), rng.uniform(2, 40)
        span = float(np.clip(6 * d / v, 2.0, 8.0))
        a, b = int(max(0, (t0 - span) * SR)), int(min(n, (t0 + span) * SR))
        if b - a < SR // 10:
            continue
        tt = t[a:b] - t0
        r = np.sqrt(d**2 + (v * tt) ** 2)
        vr = v**2 * tt / r                       # receding speed
        dop = 343 / (343 + vr)
        m = b - a
        big = rng.random() < 0.2
        rpm = rng.uniform(1200, 3500) * (0.6 if big else 1) * dop
        o1, o2, o3 = rng.integers(0, long - m, 3)
        eng = _engine(rng, m, rpm, 6 if big else 4, rng.uniform(2000, 8000), combs[o1:o1 + m])
        tyre, hf = tyres[o2:o2 + m], hfs[o3:o3 + m]
        gain = (d / r) ** 2 * np.minimum(1, np.minimum(tt + span, span - tt))   # 1 s fades at the cut
        veh = unit(eng) * db2(rng.uniform(-12, 0)) + unit(tyre) + db2(rng.uniform(-20, -8)) * unit(hf) * (d / r)
        y[a:b] += veh * gain * db2(rng.uniform(-6, 6)) * (10 / d)
    return y, f"traffic {scene} vehicles={count} density={density:.1f}/min"


def crowd(rng, n, talker, dev=False):
    """Crowd and babble: 6-40 talkers (log-uniform; dev: held-apart middle) from `talker(rng, n)`
    (one training-split speaker's utterances with pauses, set by the caller) at -15..0 dB,
    in near/mid/far groups lowpassed at 20/8/3 kHz, a murmur bed (speech-shaped noise with
    2-6 Hz syllabic modulation), a room (exponential reverb, RT60 0.3-2 s, direct -12..+6 dB)
    and, in 30 % of files, cutlery clatter."""
    k = int(round(draw(rng, 6, 40, dev, log=True)))
    groups = [np.zeros(n) for _ in range(3)]
    for i in range(k):
        groups[int(rng.integers(0, 3))] += db2(rng.uniform(-15, 0)) * talker(rng, n)
    dry = sum(sos_filter(g, "lowpass", fc, 2) for g, fc in zip(groups, (20000, 8000, 3000)) if np.any(g))
    m = n // 512 + 2
    syl = 0.5 + ctrl(rng, m, rng.uniform(2, 6), SR / 512)[:, None]
    murmur = shaped_noise(rng, n, lambda t, f: syl * peak_mag(f, rng.uniform(300, 700), 1.5) * lp_mag(f, 4000, 1) + 1e-3)
    dry = unit(dry) + db2(rng.uniform(-15, 0)) * unit(murmur)
    rt = rng.uniform(0.3, 2.0)
    L = int(rt * SR)
    ir = rng.standard_normal(L) * np.exp(-6.9 * np.arange(L) / L)
    ir = sos_filter(ir, "lowpass", rng.uniform(5000, 16000))
    wet = signal.oaconvolve(dry, ir)[:n]
    y = db2(rng.uniform(-12, 6)) * dry + unit(wet)
    if rng.random() < 0.3:
        y += db2(rng.uniform(-20, -6)) * unit(_impacts(rng, n, rng.uniform(0.5, 3), ["metal", "ceramic", "glass"]))
    return y, f"crowd talkers={k} rt60={rt:.2f}s"


def _impact(rng, material):
    if material == "metal":
        return modes(rng, rng.uniform(300, 3000), [1, 2.76, 5.40, 8.93, 13.34, 18.64, 3.9, 6.8],
                     rng.uniform(0.1, 1.2), 1.5, rng.uniform(0.5, 1.5))
    if material == "glass":
        return modes(rng, rng.uniform(1000, 4500), [1, 2.32, 4.25, 6.63], rng.uniform(0.15, 0.8), 1.0, 0.7)
    if material == "ceramic":
        return modes(rng, rng.uniform(800, 3000), [1, 1.6, 2.9, 4.4, 6.3], rng.uniform(0.02, 0.12), 0.4, 1.0)
    return modes(rng, rng.uniform(150, 800), [1, 2.1, 3.4, 5.2], rng.uniform(0.008, 0.04), 0.2, 1.0)   # wood


def _impacts(rng, n, rate, materials):
    """Clustered impacts (clusters of 1-8 hits 30-250 ms apart) of the given materials."""
    y = np.zeros(n)
    bank = []
    for i in range(16):
        x = _impact(rng, materials[i % len(materials)])
        bank.append(x / (np.max(np.abs(x)) + 1e-9) + 0.3 * np.pad(burst(rng, 0.003, 2000, 20000, 4e-4), (0, len(x)))[:len(x)])
    for c in poisson_times(rng, n, rate / 3):
        s, k = c, int(rng.integers(0, 16))
        for _ in range(int(rng.integers(1, 9))):
            add_at(y, s, bank[(k + int(rng.integers(0, 3)) * len(materials)) % 16] * rng.lognormal(0, 0.6))
            s += int(rng.uniform(0.03, 0.25) * SR)
    return y


def kitchen(rng, n, dev=False):
    """Kitchen and clatter: impacts of metal (free-bar mode ratios, 300-3000 Hz, decays
    0.1-1.2 s), glass, ceramic and wood, in clusters, 0.2-6 clusters x3 /s (log-uniform; dev:
    held-apart middle); running water (60 %: filtered noise 0.5-8 kHz with bubbles, on and off),
    chopping (30 %: wood hits at 2-5 /s), sizzling (25 %: dense crackle, highpassed), over an
    extractor-fan bed (-30..-10 dB)."""
    rate = draw(rng, 0.2, 6, dev, log=True)
    y = _impacts(rng, n, rate, ["metal", "metal", "glass", "ceramic", "wood"])
    y = unit(y) if np.any(y) else y
    t = np.arange(n) / SR
    if rng.random() < 0.6:
        on = np.clip((np.abs((t / rng.uniform(4, 15) + rng.uniform()) % 1 - 0.5) - rng.uniform(0.1, 0.35)) * 20, 0, 1)
        w, _ = water(rng, n)
        y += db2(rng.uniform(-15, 0)) * unit(sos_filter(w, "highpass", 400)) * on
    if rng.random() < 0.3:
        ci = np.arange(int(rng.uniform(0, 2) * SR), n, int(SR / rng.uniform(2, 5)))
        ci = ci[((ci / SR / rng.uniform(3, 10)) % 1) < 0.6]
        y += db2(rng.uniform(-10, 0)) * unit(place(n, ci, rng.lognormal(0, 0.3, len(ci)), _impact(rng, "wood")))
    if rng.random() < 0.25:
        s, _ = fire(rng, n)
        y += db2(rng.uniform(-20, -5)) * unit(sos_filter(s, "highpass", 2000))
    fan = bed(rng, n, (80, 300), (2000, 20000), (-6, -1), 0.05)
    y = y + db2(rng.uniform(-30, -10)) * unit(fan) * max(rms(y), 1e-3)
    return y, f"kitchen impacts={rate:.2f}x3/s"


def office(rng, n, dev=False):
    """Office (no voices): typing in bursts of 5-60 keystrokes at 3-10 keys/s (log-uniform;
    dev: held-apart middle) with press/release clicks from a bank of 10 keys (modes 1.5-9 kHz,
    2-15 ms; mechanical or dull membrane), a louder space bar; mouse clicks and scroll-wheel
    ticks; paper rustle; a PC/HVAC bed with a faint fan tone (-35..-15 dB)."""
    speed = draw(rng, 3, 10, dev, log=True)
    mech = rng.random() < 0.5
    keys = []
    for _ in range(10):
        k = modes(rng, rng.uniform(1500, 4000), [1, 1.7, 2.3, 3.1], rng.uniform(0.002, 0.015), 0.05)
        k = k / (np.max(np.abs(k)) + 1e-9) + burst(rng, 0.05, 800, 20000, 5e-4) * 0.5
        keys.append(k if mech else sos_filter(k, "lowpass", rng.uniform(2500, 6000)))
    space = sos_filter(keys[0], "lowpass", 3000) * 2
    y = np.zeros(n)
    t = rng.uniform(0, 2)
    while t < n / SR:
        for _ in range(int(rng.integers(5, 61))):
            s = int(t * SR)
            kern = space if rng.random() < 0.15 else keys[int(rng.integers(0, 10))]
            a = rng.lognormal(0, 0.3)
            add_at(y, s, kern * a)
            add_at(y, s + int(rng.uniform(0.06, 0.15) * SR), kern * a * rng.uniform(0.2, 0.6))
            t += rng.gamma(4, 1 / (4 * speed))
        t += rng.exponential(rng.uniform(1, 8))
    click = burst(rng, 0.004, 1500, 20000, 3e-4)
    for c in poisson_times(rng, n, rng.uniform(0.05, 0.5)):
        add_at(y, c, click * 2)
        if rng.random() < 0.3:
            add_at(y, c + int(0.12 * SR), click * 1.6)
        if rng.random() < 0.2:
            for j in range(int(rng.integers(3, 15))):
                add_at(y, c + int((0.3 + j * rng.uniform(0.02, 0.05)) * SR), click * 0.3)
    if rng.random() < 0.4:
        for c in poisson_times(rng, n, 0.1):
            m = int(rng.uniform(0.2, 1.0) * SR)
            r = sos_filter(rng.standard_normal(m), "bandpass", [2000, 12000]) * np.hanning(m) * ctrl(rng, m, 30)
            add_at(y, c, r * 0.3)
    t_ = np.arange(n) / SR
    bg = unit(bed(rng, n, (40, 150), (3000, 20000), (-6, -2), 0.05)) + \
        db2(rng.uniform(-20, -5)) * np.sin(2 * np.pi * rng.uniform(90, 400) * t_)
    y = unit(y) + db2(rng.uniform(-35, -15)) * unit(bg)
    return y, f"office typing={speed:.1f}keys/s {'mechanical' if mech else 'membrane'}"


def hvac(rng, n, dev=False):
    """HVAC and fans: airflow noise (slope -6..0 dB/oct, corners 30-300 Hz / 3-22 kHz, 1-3 duct
    resonances), a blade-pass tone 30-400 Hz (log-uniform; dev: held-apart middle) with 4-8
    harmonics drifting by 0.2-3 % over tens of seconds, a motor line at twice the mains
    frequency, in 30 % a compressor (30-80 Hz + harmonics) cycling on and off, in 30 % a rattle at
    the shaft rate."""
    fb = draw(rng, 30, 400, dev, log=True)
    m = n // 512 + 2
    res = [(rng.uniform(150, 3000), rng.uniform(0.1, 0.5), db2(rng.uniform(0, 12))) for _ in range(int(rng.integers(1, 4)))]
    fl, fh, s = rng.uniform(30, 300), rng.uniform(3000, 22000), rng.uniform(-6, 0)
    wob = 1 + 0.05 * (ctrl(rng, m, 0.3, SR / 512)[:, None] - 0.5)
    air = shaped_noise(rng, n, lambda t, f: wob * tilt(f, s) * hp_mag(f, fl) * lp_mag(f, fh) *
                       (1 + sum(g * peak_mag(f, c, w) for c, w, g in res)))
    drift = 1 + rng.uniform(0.002, 0.03) * (ctrl(rng, n, rng.uniform(0.02, 0.2)) - 0.5)
    tones = np.zeros(n)
    for k in range(1, int(rng.integers(5, 9))):
        tones += rng.lognormal(0, 0.5) / k * tone(fb * k * drift, rng.uniform(0, 6.28))
    mains = float(rng.choice([50.0, 60.0]))
    tones += db2(rng.uniform(-20, 0)) * tone(np.full(n, 2 * mains))
    y = unit(air) + db2(rng.uniform(-25, 0)) * unit(tones)
    t = np.arange(n) / SR
    if rng.random() < 0.3:
        on = np.clip(np.abs(((t / rng.uniform(8, 40)) + rng.uniform()) % 1 - 0.5) * 8 - 1, 0, 1)
        comp = sum(tone(np.full(n, rng.uniform(30, 80) * k)) / k for k in range(1, 6))
        y += db2(rng.uniform(-15, 0)) * unit(comp) * on
    if rng.random() < 0.3:
        ri = np.arange(0, n, int(SR / (fb / rng.integers(2, 9))))
        y += db2(rng.uniform(-25, -8)) * unit(place(n, ri, rng.lognormal(0, 0.5, len(ri)), burst(rng, 0.01, 1000, 16000, 1e-3)))
    return y, f"hvac blade={fb:.0f}Hz airflow {fl:.0f}-{fh:.0f}Hz slope={s:.1f}"


def hum(rng, n, dev=False):
    """Electrical hum and buzz: mains 50/60 Hz (+-0.5 %, drifting) through one of: a harmonic
    series to 2-20 kHz (ground loop), a transformer (100/120 Hz and even harmonics), a rectifier
    (half/full wave), a hard clipper, or a dimmer (triac phase cut at 20-160 degrees, harmonics
    to 20+ kHz); dev: held-apart middle of the harmonic rolloff (0.3-2.5). Plus in 50 % a
    switch-mode whine (8-22 kHz, FM) and a pink floor at -45..-20 dB."""
    f0 = float(rng.choice([50.0, 60.0])) * (1 + rng.uniform(-0.005, 0.005))
    f = f0 * (1 + 0.001 * (ctrl(rng, n, 0.1) - 0.5))
    ph = 2 * np.pi * np.cumsum(f) / SR
    kind = ["ground", "transformer", "rectifier", "clipper", "dimmer"][int(rng.integers(0, 5))]
    roll = draw(rng, 0.3, 2.5, dev)
    s = np.sin(ph)
    if kind == "ground":
        k = np.arange(1, int(rng.uniform(2000, 20000) // f0) + 1)
        y = harmonics(ph, k ** -roll * rng.lognormal(0, 0.5, len(k)), rng.uniform(0, 6.28, len(k)))
    elif kind == "transformer":
        k = np.arange(1, 80)
        y = harmonics(ph, np.where(k % 2 == 0, 1.0, 0.03) * k ** -roll * rng.lognormal(0, 0.5, len(k)), rng.uniform(0, 6.28, len(k)))
    elif kind == "rectifier":
        y = np.maximum(s, 0) if rng.random() < 0.5 else np.abs(s)
    elif kind == "clipper":
        c = rng.uniform(0.05, 0.7)
        y = np.clip(s, -c, c)
    else:
        a = np.deg2rad(rng.uniform(20, 160))
        y = np.where((ph % np.pi) >= a, s, 0.0)
    if kind in ("rectifier", "clipper", "dimmer"):
        y = sos_filter(y - np.mean(y), "lowpass", rng.uniform(3000, 21000), 1 + int(roll))
    y = unit(y)
    if rng.random() < 0.5:
        fw = rng.uniform(8000, 22000)
        y += db2(rng.uniform(-40, -15)) * tone(fw * (1 + 0.01 * (ctrl(rng, n, 1) - 0.5)))
    y += db2(rng.uniform(-45, -20)) * unit(colored(rng, n, 1.0))
    return y, f"hum {kind} f0={f0:.2f} rolloff={roll:.2f}"


def clicks(rng, n, dev=False):
    """Clicks and pops: vinyl (crackle 20-800 /s, log-uniform, dev: held-apart middle; 0.05-0.5 ms
    clicks with heavy-tailed amplitudes, pops with low content, a tick per revolution at 0.5-1.8 s
    in half the files, surface hiss, rumble < 40 Hz), microphone handling (thumps 30-300 Hz of
    20-150 ms, friction rustle), digital glitches (steps, dropouts, 1-20 ms noise bursts) or
    electrical static (clustered dense clicks); over a floor at -50..-30 dB."""
    kind = ["vinyl", "handling", "digital", "static"][int(rng.integers(0, 4))]
    rate = draw(rng, 20, 800, dev, log=True)
    y = np.zeros(n)
    if kind in ("vinyl", "static"):
        env = None if kind == "vinyl" else (ctrl(rng, n, rng.uniform(0.5, 5)) > rng.uniform(0.4, 0.8)).astype(float)
        idx = poisson_times(rng, n, rate * (1 if kind == "vinyl" else 3), env)
        amp = (rng.pareto(rng.uniform(1.2, 2.5), len(idx)) + 0.05) * rng.choice([-1.0, 1.0], len(idx))
        kern = [burst(rng, rng.uniform(5e-5, 5e-4) + 2e-4, rng.uniform(300, 3000), rng.uniform(10000, 22000), rng.uniform(5e-5, 3e-4))
                for _ in range(8)]
        y = place_bank(rng, n, idx, amp, kern)
        if kind == "vinyl":
            pops = poisson_times(rng, n, rng.uniform(0.2, 3))
            y += place(n, pops, rng.lognormal(1.5, 0.5, len(pops)), burst(rng, 0.01, 50, 4000, 2e-3))
            if rng.random() < 0.5:
                ti = np.arange(int(rng.uniform(0, 1) * SR), n, int(rng.uniform(0.5, 1.8) * SR))
                y += place(n, ti, np.full(len(ti), rng.uniform(2, 10)), burst(rng, 0.003, 200, 16000, 5e-4))
            y = unit(y) + db2(rng.uniform(-30, -10)) * unit(bed(rng, n, (1000, 3000), (12000, 20000), (-3, 0), 0.05)) + \
                db2(rng.uniform(-30, -10)) * unit(sos_filter(rng.standard_normal(n), "lowpass", 40, 4))
    elif kind == "handling":
        for c in poisson_times(rng, n, rng.uniform(0.2, 3)):
            m = int(rng.uniform(0.02, 0.15) * SR)
            th = sos_filter(rng.standard_normal(m), "lowpass", rng.uniform(30, 300), 4) * np.hanning(m) * 30
            add_at(y, c, th + np.pad(burst(rng, 0.002, 2000, 20000, 3e-4), (0, m))[:m] * rng.uniform(0, 2))
            if rng.random() < 0.4:
                r = int(rng.uniform(0.1, 0.8) * SR)
                add_at(y, c + m, sos_filter(rng.standard_normal(r), "bandpass", [500, 12000]) * np.hanning(r) * 0.3)
    else:
        for c in poisson_times(rng, n, rate / 40):
            what = rng.integers(0, 3)
            if what == 0:                                   # step / single-sample spike
                add_at(y, c, np.array([rng.uniform(-1, 1)]) * 3)
            elif what == 1:                                 # short noise burst
                m = int(rng.uniform(0.001, 0.02) * SR)
                add_at(y, c, rng.standard_normal(m) * rng.uniform(0.1, 1))
            else:                                           # dropout click: DC step decaying
                m = int(rng.uniform(0.005, 0.05) * SR)
                add_at(y, c, np.exp(-np.arange(m) / (m / 4)) * rng.uniform(-1, 1))
    y = unit(y) + db2(rng.uniform(-50, -30)) * unit(bed(rng, n, (20, 100), (12000, 22000), (-3, 0), 0.05))
    return y, f"clicks {kind} rate={rate:.0f}/s"


def roomtone(rng, n, dev=False):
    """Room tone: the noise of a quiet room: low-frequency rumble (slope -9..-3 dB/oct below
    100-300 Hz), a mid floor with a high rolloff at 3-16 kHz (log-uniform; dev: held-apart
    middle), microphone self-noise (white, -25..-8 dB against the room), faint mains hum
    (-30..-10 dB), faint ventilation, a slow +-1 dB level drift."""
    fh = draw(rng, 3000, 16000, dev, log=True)
    fr, s = rng.uniform(100, 300), rng.uniform(-9, -3)
    m = n // 512 + 2
    drift = db2(2 * (ctrl(rng, m, 0.05, SR / 512)[:, None] - 0.5))
    room = shaped_noise(rng, n, lambda t, f: drift * (tilt(f, s, fr) * (f < fr) + (f >= fr)) * hp_mag(f, 15, 2) * lp_mag(f, fh, 1.5))
    y = unit(room) + db2(rng.uniform(-25, -8)) * unit(rng.standard_normal(n))
    f0 = float(rng.choice([50.0, 60.0]))
    t = np.arange(n) / SR
    h = sum(rng.lognormal(0, 0.7) / k * np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 6.28)) for k in range(1, 8))
    y += db2(rng.uniform(-30, -10)) * unit(h)
    if rng.random() < 0.5:
        y += db2(rng.uniform(-25, -10)) * unit(bed(rng, n, (100, 300), (1000, 4000), (-3, 0), 0.2))
    return y, f"roomtone rolloff={fh:.0f}Hz rumble<{fr:.0f}Hz slope={s:.1f}"


def stationary(rng, n, dev=False, slope=(-7.0, 1.0)):
    """Tilted stationary noise for the white/pink/brown family: spectral slope in `slope` dB/oct
    (default -7..+1; dev: held-apart middle of the range), optional gentle lowpass at 4-22 kHz
    and highpass at 20-300 Hz."""
    s = draw(rng, slope[0], slope[1], dev)
    fh = rng.uniform(4000, 22000) if rng.random() < 0.5 else 1e9
    fl = rng.uniform(20, 300)
    y = shaped_noise(rng, n, lambda t, f: tilt(f, s) * hp_mag(f, fl, 1) * lp_mag(f, fh, 1))
    return y, f"stationary slope={s:.2f}dB/oct lp={min(fh, 99999):.0f} hp={fl:.0f}"


GENERATORS = {
    "rain": rain, "wind": wind, "water": water, "birds": birds, "insects": insects, "fire": fire,
    "traffic": traffic, "babble": crowd, "office": office, "kitchen": kitchen, "fan": hvac,
    "hum": hum, "clicks": clicks, "roomtone": roomtone, "stationary": stationary,
}


def limit(y, ceiling: float = 0.98, knee: float = 0.7):
    """Soft limiter: samples above knee*ceiling are compressed smoothly into the ceiling."""
    k = knee * ceiling
    a = np.abs(y)
    over = a > k
    out = y.copy()
    out[over] = np.sign(y[over]) * (k + (ceiling - k) * np.tanh((a[over] - k) / (ceiling - k)))
    return out


def make(category: str, rng, n: int, level_dbfs: float = -25.0, dev: bool = False, **kw):
    """-> (y, desc): n samples of `category` at RMS level_dbfs, peaks soft-limited below 0.98
    (impulsive categories), DC removed. kw go to the generator (crowd: talker=...)."""
    y, desc = GENERATORS[category](rng, n, dev=dev, **kw)
    y = np.asarray(y, dtype=np.float64)[:n]
    y = sos_filter(y - y.mean(), "highpass", 10, 1)
    target = 10 ** (level_dbfs / 20)
    for _ in range(30):
        y = y * (target / rms(y))
        if np.max(np.abs(y)) <= 0.98:
            break
        y = limit(y)
    return y * (target / rms(y)) if np.max(np.abs(y)) * target / rms(y) <= 0.98 else limit(y, 0.98, 0.9), desc


if __name__ == "__main__":
    import sys
    import time

    secs = float(sys.argv[1]) if len(sys.argv) > 1 else 30.0

    def talker(rng, n):   # stand-in speech for the timing: syllable-modulated harmonic tones
        f = 120 * (1 + 0.3 * ctrl(rng, n, 3))
        return sum(np.sin(k * 2 * np.pi * np.cumsum(f) / SR) / k for k in range(1, 30)) * (ctrl(rng, n, 4) > 0.4)

    for cat in GENERATORS:
        t0 = time.time()
        y, d = make(cat, np.random.default_rng(1), int(secs * SR), **({"talker": talker} if cat == "babble" else {}))
        dt = time.time() - t0
        print(f"{cat:10s} {secs / dt:6.0f}x real time  peak {np.max(np.abs(y)):.2f}  {d}")
