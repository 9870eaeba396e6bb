"""Metrics. The signal-level ones (delay, SI-SDR, pause dB, above-band dB) are plain numpy and
have self-tests; PESQ, STOI/ESTOI and DNSMOS wrap the pinned PyPI packages, imported lazily.

Conventions: `ref` is the clean reference, `noisy` the system's input, `out` the system's output
already aligned to `ref` (same length, 48 kHz). Undefined values are NaN, never 0.
"""
from __future__ import annotations

import math

import numpy as np

SR = 48000
NAN = float("nan")


# ---------------------------------------------------------------------------------- delay
def xcorr_lags(out: np.ndarray, ref: np.ndarray, max_lag: int) -> np.ndarray:
    """Normalised cross-correlation c[k] = <out[k : k+len(ref)], ref> / (|out| |ref|) for
    k = 0..max_lag (output later than the reference by k samples)."""
    ref = np.asarray(ref, dtype=np.float64)
    n = len(ref)
    seg = np.zeros(n + max_lag)
    m = min(len(out), n + max_lag)
    seg[:m] = out[:m]
    size = 1 << (2 * n + max_lag - 1).bit_length()
    spec = np.fft.rfft(seg, size) * np.conj(np.fft.rfft(ref, size))
    c = np.fft.irfft(spec, size)[: max_lag + 1]
    norm = math.sqrt(float(np.dot(seg, seg)) * float(np.dot(ref, ref)))
    return c / norm if norm > 0 else np.zeros(max_lag + 1)


def delay_of(corr: np.ndarray) -> int | None:
    """Lag of the correlation peak; None when there is no signal."""
    return int(np.argmax(corr)) if np.any(corr) else None


def system_delay(corrs: list[np.ndarray]) -> int | None:
    """One delay for a whole system: the peak of the per-file normalised correlations summed
    over files (each file weighs the same; a few files with a wrong local peak cannot move it)."""
    if not corrs:
        return None
    return delay_of(np.sum(corrs, axis=0))


def align(out: np.ndarray, delay: int, n: int) -> np.ndarray:
    """Drop the first `delay` samples and cut or zero-pad to n."""
    y = np.asarray(out, dtype=np.float64)[delay: delay + n]
    return np.pad(y, (0, n - len(y))) if len(y) < n else y


# ---------------------------------------------------------------------------------- SI-SDR
def si_sdr(ref: np.ndarray, est: np.ndarray) -> float:
    """Scale-invariant SDR in dB (zero-mean signals, optimal scaling of the reference)."""
    r = np.asarray(ref, dtype=np.float64) - np.mean(ref)
    e = np.asarray(est, dtype=np.float64) - np.mean(est)
    rr = float(np.dot(r, r))
    if rr == 0.0:
        return NAN
    target = (float(np.dot(e, r)) / rr) * r
    err = e - target
    return 10.0 * math.log10((float(np.dot(target, target)) + 1e-20) / (float(np.dot(err, err)) + 1e-20))


# ------------------------------------------------------------------ residual noise (pause, above-band)
FRAME, HOP = 960, 480          # 20 ms Hann frames, 10 ms hop: 50 Hz bins
PAUSE_DB = 50.0                # pause: clean frame energy at least this far below its loudest frame
MIN_PAUSE_FRAMES = 10
BW_DB = 50.0                   # reference bandwidth: highest bin within this of its 300-4000 Hz median
BAND_MARGIN_HZ, BAND_TOP_HZ = 500.0, 20000.0
NOISE_OVER_REF_DB = 20.0       # above-band only where the noisy input has this much more than the clean


def power_frames(x: np.ndarray, n: int) -> np.ndarray:
    """|STFT|^2 of the first n samples, Hann frames FRAME long every HOP: (frames, bins)."""
    count = (n - FRAME) // HOP + 1
    idx = np.arange(FRAME)[None, :] + HOP * np.arange(count)[:, None]
    return np.abs(np.fft.rfft(np.asarray(x, dtype=np.float64)[idx] * np.hanning(FRAME), axis=1)) ** 2


def reference_bandwidth(R: np.ndarray, sr: int = SR) -> float | None:
    """Bandwidth of the clean reference from its power frames R: the long-term spectrum of its
    active frames (within 40 dB of the loudest), smoothed over 250 Hz, and the highest frequency
    still within BW_DB of the median level over 300-4000 Hz. Finds a codec or resampler cliff."""
    freqs = np.fft.rfftfreq(FRAME, 1 / sr)
    e = R.sum(axis=1)
    if not np.any(e > 0):
        return None
    lt = R[e >= e.max() * 1e-4].mean(axis=0)
    width = max(1, int(round(250.0 / (sr / FRAME))))
    lt = np.convolve(lt, np.ones(width) / width, mode="same")
    level = float(np.median(lt[(freqs >= 300) & (freqs <= 4000)]))
    if level <= 0:
        return None
    return float(freqs[np.nonzero(lt >= level * 10 ** (-BW_DB / 10))[0].max()])


def residual_noise(ref: np.ndarray, noisy: np.ndarray, out: np.ndarray, sr: int = SR) -> dict:
    """Noise a system leaves where the clean reference has nothing, as output energy over
    noisy-input energy in dB (0 dB: nothing removed; -20 dB: a hundredth left).

    pause_db: over the frames where the reference is >= PAUSE_DB below its loudest frame
              (needs MIN_PAUSE_FRAMES of them).
    oob_db:   ("above-band") over all frames, in the bins from the reference's bandwidth +
              BAND_MARGIN_HZ up to BAND_TOP_HZ, only on files where the noisy input holds
              >= NOISE_OVER_REF_DB more energy there than the reference (noise above a
              band-limited voice). NaN on fullband speech.
    Also returns bandwidth_hz, the reference bandwidth used."""
    res = {"pause_db": NAN, "oob_db": NAN, "bandwidth_hz": NAN}
    n = min(len(ref), len(noisy), len(out))
    if n < FRAME + MIN_PAUSE_FRAMES * HOP:
        return res
    R, N, Y = (power_frames(x, n) for x in (ref, noisy, out))
    e = R.sum(axis=1)
    pause = e <= e.max() * 10 ** (-PAUSE_DB / 10)
    if pause.sum() >= MIN_PAUSE_FRAMES and N[pause].sum() > 0:
        res["pause_db"] = 10 * math.log10((Y[pause].sum() + 1e-30) / N[pause].sum())
    bw = reference_bandwidth(R, sr)
    if bw is not None:
        res["bandwidth_hz"] = bw
        freqs = np.fft.rfftfreq(FRAME, 1 / sr)
        band = (freqs >= bw + BAND_MARGIN_HZ) & (freqs <= BAND_TOP_HZ)
        if band.sum() >= 8:
            n_band, r_band = N[:, band].sum(), R[:, band].sum()
            if n_band > 0 and n_band >= r_band * 10 ** (NOISE_OVER_REF_DB / 10):
                res["oob_db"] = 10 * math.log10((Y[:, band].sum() + 1e-30) / n_band)
    return res


# ---------------------------------------------------------------------- PESQ / STOI / DNSMOS
def pesq_wb(ref16: np.ndarray, out16: np.ndarray) -> tuple[float, str]:
    """PESQ wideband (P.862.2) at 16 kHz; (NaN, reason) when PESQ refuses (e.g. no utterance)."""
    from pesq import pesq
    try:
        return float(pesq(16000, ref16, out16, "wb")), ""
    except Exception as e:  # pesq raises its own error types on silent/odd inputs
        return NAN, f"pesq: {type(e).__name__}: {e}"


def stoi_pair(ref16: np.ndarray, out16: np.ndarray) -> tuple[float, float]:
    from pystoi import stoi
    return float(stoi(ref16, out16, 16000, extended=False)), float(stoi(ref16, out16, 16000, extended=True))


_dnsmos_model = None


def dnsmos(x16: np.ndarray) -> dict:
    """DNSMOS P.835 (SIG, BAK, OVRL) and P.808 of a 16 kHz signal, with the ONNX models that ship
    inside the speechmos wheel. The input is clipped to [-1, 1] (speechmos raises otherwise),
    and the ONNX sessions use one thread (onnxruntime ignores OMP_NUM_THREADS and would take
    every core)."""
    global _dnsmos_model
    if _dnsmos_model is None:
        import os
        import onnxruntime as ort
        from speechmos import dnsmos as sm
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        models = os.path.join(os.path.dirname(sm.__file__), "dnsmos_models")
        model = sm.DNSMOS(os.path.join(models, "sig_bak_ovr.onnx"), os.path.join(models, "model_v8.onnx"))
        model.onnx_sess = ort.InferenceSession(model.primary_model_path, opts, providers=["CPUExecutionProvider"])
        model.p808_onnx_sess = ort.InferenceSession(os.path.join(models, "model_v8.onnx"), opts,
                                                    providers=["CPUExecutionProvider"])
        _dnsmos_model = model
    r = _dnsmos_model(np.clip(np.asarray(x16, dtype=np.float32), -1.0, 1.0), 16000, False)
    return {"dnsmos_sig": float(r["sig_mos"]), "dnsmos_bak": float(r["bak_mos"]),
            "dnsmos_ovrl": float(r["ovrl_mos"]), "dnsmos_p808": float(r["p808_mos"])}


def score_file(job: dict) -> dict:
    """All metrics of one (system, file); runs in a worker process. job: clean, noisy, out
    (None: the clean reference itself, DNSMOS only), delay (samples), dnsmos (bool)."""
    import warnings
    from pn_audio import read_mono, resample
    warnings.simplefilter("ignore")
    ref = read_mono(job["clean"])
    res: dict = {}
    if job["out"] is None:
        if job["dnsmos"]:
            res.update(dnsmos(resample(ref, SR, 16000)))
        return res
    out = align(read_mono(job["out"]), job["delay"], len(ref))
    ref16, out16 = resample(ref, SR, 16000), resample(out, SR, 16000)
    res["pesq_wb"], err = pesq_wb(ref16, out16)
    if err:
        res["error"] = err
    res["stoi"], res["estoi"] = stoi_pair(ref16, out16)
    res["si_sdr"] = si_sdr(ref, out)
    res.update(residual_noise(ref, read_mono(job["noisy"]), out))
    if job["dnsmos"]:
        res.update(dnsmos(out16))
    return res
