//! Timing networks of the paper's full size (dense and block-sparse) and the per-kernel timing
//! of one matrix product ([`kernel_report`]).

use std::time::Instant;

use super::full_shape;
use crate::model::quant::{sparse, Kernel, QuantMatrix};
use crate::model::{layers, Network, Weights};

/// Pseudo-random weights of the full paper size (for timing only).
pub fn full_size_timing_network() -> Network {
    Network::new(Weights::pseudo_random(full_shape(), 1)).expect("valid shape")
}

/// Density of the block-sparse full-size network's GRU matrices. Training at 40 % kept the
/// shipped-size network's quality (`training/TRAINING.md`); at 30 % the full-size engine
/// stays under 2 % of a core with some margin (at 40 % it measured 2.05 %).
pub const FULL_SIZE_GRU_DENSITY: f32 = 0.3;

/// [`full_size_timing_network`] with every GRU matrix block-pruned to
/// [`FULL_SIZE_GRU_DENSITY`], as `training/train.py --gru-density` trains it (timing only).
pub fn full_size_sparse_timing_network() -> Network {
    let mut w = Weights::pseudo_random(full_shape(), 1);
    w.prune_gru_blocks(FULL_SIZE_GRU_DENSITY);
    Network::new(w).expect("valid shape")
}

/// Deterministic values in [-1, 1) (xorshift32).
fn pseudo_random(n: usize, seed: u32) -> Vec<f32> {
    let mut s = seed.max(1);
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s >> 8) as f32 / (1u32 << 23) as f32 - 1.0
        })
        .collect()
}

/// Nanoseconds per call of `f`: the best of several timed batches (shared machines are noisy).
pub fn time_ns(mut f: impl FnMut()) -> f64 {
    f();
    let t = Instant::now();
    let mut calls = 0u32;
    while t.elapsed().as_millis() < 5 {
        f();
        calls += 1;
    }
    let calls = calls.max(1);
    (0..20)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..calls {
                f();
            }
            t.elapsed().as_nanos() as f64 / f64::from(calls)
        })
        .fold(f64::INFINITY, f64::min)
}

/// Timings of one 1536 x 512 product (a full-size GRU's three gates) and of the shipped
/// network's 14 int8 matrices one after the other (2.09 MB of weights, more than a 2 MB L2):
/// nanoseconds per call for the f32 [`layers::matvec`] and for every kernel this CPU can run,
/// dense and block-sparse. Takes a few seconds; `cargo test --release --test quant --
/// --ignored kernel_timings --nocapture` prints it.
pub fn kernel_report() -> Vec<(String, f64)> {
    use std::hint::black_box;
    let (rows, cols) = (1536, 512);
    let w: Vec<f32> = pseudo_random(rows * cols, 1)
        .iter()
        .map(|v| v * 0.1)
        .collect();
    let bias = vec![0.0; rows];
    let x = pseudo_random(cols, 2);
    let mut y = vec![0.0; rows];
    let mut out = vec![(
        "1536 x 512, f32 layers::matvec".to_string(),
        time_ns(|| layers::matvec(black_box(&w), &bias, black_box(&x), &mut y)),
    )];
    let m = QuantMatrix::new(&w, rows, cols);
    for k in Kernel::available() {
        let m = m.clone().with_kernel(k).expect("kernel is available");
        let name = format!("1536 x 512, {}", k.name());
        out.push((name, time_ns(|| m.matvec(black_box(&x), &mut y))));
    }
    for density in [0.5, 0.4, 0.25] {
        let mut pruned = w.clone();
        sparse::prune_blocks(&mut pruned, rows, cols, density);
        let m = QuantMatrix::new(&pruned, rows, cols);
        for k in Kernel::available() {
            let m = m.clone().with_kernel(k).expect("kernel is available");
            let name = format!(
                "1536 x 512, {} block-sparse {:.0} %",
                k.name(),
                100.0 * density
            );
            out.push((name, time_ns(|| m.matvec(black_box(&x), &mut y))));
        }
    }
    let shapes = [(256, 640), (256, 768)]
        .into_iter()
        .chain([(768, 256); 8])
        .chain([(384, 256), (384, 128), (34, 256), (34, 128)]);
    let net: Vec<(QuantMatrix, Vec<f32>, Vec<f32>)> = shapes
        .enumerate()
        .map(|(i, (r, c))| {
            let w = pseudo_random(r * c, 10 + i as u32);
            (
                QuantMatrix::new(&w, r, c),
                pseudo_random(c, 50 + i as u32),
                vec![0.0; r],
            )
        })
        .collect();
    for k in Kernel::available() {
        let mut net: Vec<_> = net
            .iter()
            .map(|(m, x, y)| (m.clone().with_kernel(k).expect("available"), x, y.clone()))
            .collect();
        let name = format!("shipped network's 14 matrices, {}", k.name());
        out.push((
            name,
            time_ns(|| {
                for (m, x, y) in net.iter_mut() {
                    m.matvec(black_box(x), y);
                }
            }),
        ));
    }
    #[cfg(target_arch = "x86_64")]
    out.extend(f32_input::compare());
    out
}

/// The alternative design, measured once to choose: int8 weights converted to f32 in the
/// kernel and multiplied with the f32 input (AVX2 + FMA), no input quantisation. Its rows in
/// [`kernel_report`] give its time and its error against the int8-input product.
#[cfg(target_arch = "x86_64")]
mod f32_input {
    use super::{pseudo_random, time_ns};
    use crate::model::layers;
    use crate::model::quant::QuantMatrix;
    use std::arch::x86_64::*;

    /// Safety: AVX2 and FMA available, `x.len() >= m.cols()`, `y.len() == m.rows()`, rows a
    /// multiple of 4, and the padded columns a multiple of 8.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn matvec(m: &QuantMatrix, x: &[f32], y: &mut [f32]) {
        let (q, s, stride, cols) = (m.weights(), m.scales(), m.padded_cols(), m.cols());
        let n = cols / 8 * 8;
        let conv =
            |p: *const i8| _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(p.cast())));
        for r in (0..m.rows()).step_by(4) {
            let w = q.as_ptr().add(r * stride);
            let mut a = [_mm256_setzero_ps(); 4];
            let mut k = 0;
            while k < n {
                let xv = _mm256_loadu_ps(x.as_ptr().add(k));
                for (i, acc) in a.iter_mut().enumerate() {
                    *acc = _mm256_fmadd_ps(conv(w.add(i * stride + k)), xv, *acc);
                }
                k += 8;
            }
            for (i, acc) in a.iter().enumerate() {
                let mut lanes = [0.0f32; 8];
                _mm256_storeu_ps(lanes.as_mut_ptr(), *acc);
                let tail: f32 = (n..cols)
                    .map(|j| f32::from(q[(r + i) * stride + j]) * x[j])
                    .sum();
                y[r + i] = s[r + i] * (lanes.iter().sum::<f32>() + tail);
            }
        }
    }

    /// Its time on 1536 x 512 and the relative RMS errors of both designs against f32.
    pub fn compare() -> Vec<(String, f64)> {
        if !(is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")) {
            return Vec::new();
        }
        let (rows, cols) = (1536, 512);
        let w: Vec<f32> = pseudo_random(rows * cols, 7)
            .iter()
            .map(|v| v * 0.05)
            .collect();
        let m = QuantMatrix::new(&w, rows, cols);
        let mut y = vec![0.0; rows];
        let x0 = || pseudo_random(cols, 11);
        let x = x0();
        // SAFETY: features checked above; 1536 rows, 512 columns.
        let ns = time_ns(|| unsafe { matvec(&m, std::hint::black_box(&x), &mut y) });
        let mut out = vec![(
            "1536 x 512, avx2+fma f32 input (design not taken)".into(),
            ns,
        )];
        let rel = |y: &[f32], r: &[f32]| {
            let e: f64 = y.iter().zip(r).map(|(a, b)| f64::from(a - b).powi(2)).sum();
            let n: f64 = r.iter().map(|b| f64::from(*b).powi(2)).sum();
            (e / n).sqrt()
        };
        let mut reference = vec![0.0; rows];
        let mut outlier = x0();
        outlier[100] = 8.0;
        for (name, x) in [("tanh-like", x0()), ("outlier x8", outlier)] {
            layers::matvec(&w, &vec![0.0; rows], &x, &mut reference);
            m.matvec(&x, &mut y);
            out.push((
                format!("relative RMS error x 1e6, {name}, int8 input"),
                1e6 * rel(&y, &reference),
            ));
            // SAFETY: as above.
            unsafe { matvec(&m, &x, &mut y) };
            out.push((
                format!("relative RMS error x 1e6, {name}, f32 input"),
                1e6 * rel(&y, &reference),
            ));
        }
        out
    }
}
