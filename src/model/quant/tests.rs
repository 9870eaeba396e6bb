//! Every kernel against the portable one, bit for bit, dense and block-sparse, on the matrix
//! shapes of the shipped and the full-size networks and on odd ones (tests/quant.rs checks
//! the shapes the networks really have, and the products' accuracy). Uses nothing outside
//! this module, so it also runs on its own (module documentation: aarch64 under qemu-user).

use super::*;

/// The matrix shapes of the shipped network (conv1 256 x 640, conv2 256 x 768, GRUs 768 x
/// 256, heads 384 x 256 / 384 x 128, outputs 34 x 256 / 34 x 128), of the full-size one, and
/// odd ones: widths that are not a multiple of 64 (the AVX-512 kernel's last 32 columns),
/// fewer than 8 or 4 rows, and more than one column block.
const SHAPES: &[(usize, usize)] = &[
    (128, 70),
    (256, 640),
    (256, 768),
    (768, 256),
    (384, 256),
    (384, 128),
    (34, 256),
    (34, 128),
    (512, 640),
    (512, 1536),
    (1536, 512),
    (384, 512),
    (34, 512),
    (33, 37),
    (16, 96),
    (24, 160),
    (1, 1),
    (3, 31),
    (5, 33),
    (7, 4097),
];

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

/// Weights with row magnitudes spread over 3 decades (so per-row scales matter).
fn weights(rows: usize, cols: usize, seed: u32) -> Vec<f32> {
    let gain = pseudo_random(rows, seed ^ 0x5555);
    let mut w = pseudo_random(rows * cols, seed);
    for (row, g) in w.chunks_exact_mut(cols).zip(gain) {
        let g = 10f32.powf(1.5 * g - 1.5) / (cols as f32).sqrt();
        row.iter_mut().for_each(|v| *v *= g);
    }
    w
}

/// Inputs like tanh outputs, ones with a single large outlier, and small ones.
fn inputs(cols: usize, seed: u32) -> Vec<Vec<f32>> {
    let x = pseudo_random(cols, seed);
    let mut outlier = x.clone();
    outlier[cols / 2] = 8.0;
    let small: Vec<f32> = x.iter().map(|v| v * 1e-3).collect();
    vec![x, outlier, small]
}

/// Asserts `got` and `want` are the same floats bit for bit.
fn assert_same_bits(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len());
    assert!(
        got.iter()
            .zip(want)
            .all(|(a, b)| a.to_bits() == b.to_bits()),
        "{what}: results differ"
    );
}

fn run(m: &QuantMatrix, x: &[f32]) -> Vec<f32> {
    let mut y = vec![f32::NAN; m.rows()];
    m.matvec(x, &mut y);
    y
}

#[test]
fn construction_quantises_per_row() {
    let w = [0.5, -1.0, 0.25, 0.0, 0.0, 0.0, 2.0, 1.0, -0.01];
    let m = QuantMatrix::new(&w, 3, 3);
    assert_eq!(m.padded_cols(), 32);
    assert_eq!(m.scales(), &[1.0 / 127.0, 0.0, 2.0 / 127.0]);
    assert_eq!(&m.weights()[..3], &[64, -127, 32]);
    assert!(m.weights()[3..64].iter().all(|&q| q == 0));
    assert_eq!(&m.weights()[64..67], &[127, 64, -1]);
    assert!(m.weights()[67..].iter().all(|&q| q == 0));
    assert!((m.dequantised(2, 1) - 1.0).abs() < 0.01);
}

/// The input quantisation: ties to even, the sign kept, 127 at the largest magnitude.
#[test]
fn input_quantisation_rounds_ties_to_even() {
    let x = [
        0.5f32, 1.5, 2.5, -0.5, -1.5, -2.5, 126.5, -127.0, 0.49, -0.0,
    ];
    let mut q = [1i8; 32];
    quantise(&x, 1.0, &mut q);
    assert_eq!(&q[..10], &[0, 2, 2, 0, -2, -2, 126, -127, 0, 0]);
    assert!(q[10..].iter().all(|&v| v == 0));
    assert_eq!(max_abs(&[0.5, -3.0, 2.0]), Some(3.0));
    assert_eq!(max_abs(&[]), Some(0.0));
    assert_eq!(max_abs(&[1.0, f32::NAN]), None);
    assert_eq!(max_abs(&[f32::NEG_INFINITY]), None);
    assert_eq!(max_abs(&[f32::MAX, -1.0]), Some(f32::MAX));
}

#[test]
fn detection() {
    assert!(Kernel::Portable.is_available());
    assert_eq!(Kernel::best(), Kernel::available()[0]);
    let m = QuantMatrix::new(&[1.0], 1, 1);
    assert_eq!(m.kernel(), Kernel::best());
    for k in Kernel::ALL {
        assert_eq!(m.clone().with_kernel(k).is_some(), k.is_available());
    }
    #[cfg(target_arch = "x86_64")]
    {
        assert!(!Kernel::Neon.is_available() && !Kernel::NeonDotprod.is_available());
        assert_eq!(
            Kernel::Avx2.is_available(),
            is_x86_feature_detected!("avx2")
        );
        assert_eq!(
            Kernel::Avx512Vnni.is_available(),
            is_x86_feature_detected!("avx512vnni")
                && is_x86_feature_detected!("avx512bw")
                && is_x86_feature_detected!("avx2")
        );
        if Kernel::AvxVnni.is_available() || Kernel::Avx512Vnni.is_available() {
            assert!(Kernel::Avx2.is_available());
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        assert!(Kernel::Neon.is_available());
        assert_eq!(
            Kernel::NeonDotprod.is_available(),
            std::arch::is_aarch64_feature_detected!("dotprod")
        );
    }
    println!("available kernels: {:?}", Kernel::available());
}

/// Every SIMD kernel gives exactly the portable kernel's result.
#[test]
fn kernels_match_portable_exactly() {
    let kernels = Kernel::available();
    for (seed, &(rows, cols)) in (1u32..).zip(SHAPES) {
        let m = QuantMatrix::new(&weights(rows, cols, seed), rows, cols);
        let portable = m.clone().with_kernel(Kernel::Portable).unwrap();
        for x in inputs(cols, seed + 100) {
            let want = run(&portable, &x);
            for &k in &kernels {
                let got = run(&m.clone().with_kernel(k).unwrap(), &x);
                let what = format!("{} against portable at {rows}x{cols}", k.name());
                assert_same_bits(&got, &want, &what);
            }
        }
    }
}

/// Every kernel on block-pruned matrices of every shape (5 %, 25 % and 50 % of the blocks
/// kept) gives bit for bit the dense portable kernel's result, and matrices that are not
/// sparse enough stay dense.
#[test]
fn block_sparse_matches_dense_portable_exactly() {
    let kernels = Kernel::available();
    for (seed, &(rows, cols)) in (1u32..).zip(SHAPES) {
        let full = QuantMatrix::new(&weights(rows, cols, seed), rows, cols);
        assert_eq!(
            full.block_density(),
            None,
            "{rows}x{cols} dense stays dense"
        );
        for density in [0.05f32, 0.25, 0.5] {
            let mut w = weights(rows, cols, seed);
            sparse::prune_blocks(&mut w, rows, cols, density);
            let m = QuantMatrix::new(&w, rows, cols);
            if m.padded_cols() > MAX_BLOCK {
                assert_eq!(m.block_density(), None, "too wide for one column block");
                continue;
            }
            let blocks = rows.div_ceil(sparse::BLOCK_ROWS) * cols.div_ceil(sparse::BLOCK_COLS);
            let kept = (density * blocks as f32).ceil() / blocks as f32;
            let Some(d) = m.block_density() else {
                // Tiny matrices: a single kept block can be most of them.
                assert!(kept > sparse::MAX_DENSITY, "{rows}x{cols} should be sparse");
                continue;
            };
            assert!(d <= kept, "{rows}x{cols}: density {d} > {kept}");
            let dense = m.clone().dense().with_kernel(Kernel::Portable).unwrap();
            assert_eq!(dense.block_density(), None);
            for x in inputs(cols, seed + 100) {
                let want = run(&dense, &x);
                for &k in &kernels {
                    let got = run(&m.clone().with_kernel(k).unwrap(), &x);
                    let what = format!(
                        "block-sparse {} against dense portable at {rows}x{cols}, \
                         density {density}",
                        k.name()
                    );
                    assert_same_bits(&got, &want, &what);
                }
            }
        }
    }
}

/// Pruning keeps the blocks of largest norm: on a 16 x 8 matrix whose 4 blocks have norms
/// in a known order (one of them partial: 8 x 3 cells of a 16 x 7 matrix), 50 % keeps the
/// two largest, whole, and zeroes the rest.
#[test]
fn pruning_keeps_the_largest_blocks() {
    let (rows, cols) = (16, 7);
    // Block (strip, column block) -> value of its cells.
    let value = |i: usize, j: usize| match (i / 8, j / 4) {
        (0, 0) => 0.1,
        (0, 1) => 3.0,
        (1, 0) => 2.0,
        _ => -0.5,
    };
    let mut w: Vec<f32> = (0..rows * cols)
        .map(|k| value(k / cols, k % cols))
        .collect();
    sparse::prune_blocks(&mut w, rows, cols, 0.5);
    for (k, v) in w.iter().enumerate() {
        let (i, j) = (k / cols, k % cols);
        let kept = matches!((i / 8, j / 4), (0, 1) | (1, 0));
        assert_eq!(*v, if kept { value(i, j) } else { 0.0 }, "cell {i},{j}");
    }
    let mut all = vec![1.0f32; rows * cols];
    sparse::prune_blocks(&mut all, rows, cols, 1.0);
    assert!(all.iter().all(|&v| v == 1.0));
    sparse::prune_blocks(&mut all, rows, cols, 0.0);
    assert!(all.iter().all(|&v| v == 0.0));
}

#[test]
fn special_inputs() {
    let (rows, cols) = (9, 40);
    let m = QuantMatrix::new(&weights(rows, cols, 3), rows, cols);
    for k in Kernel::available() {
        let m = m.clone().with_kernel(k).unwrap();
        assert!(run(&m, &vec![0.0; cols]).iter().all(|&v| v == 0.0));
        assert!(run(&m, &vec![1e-40; cols]).iter().all(|&v| v == 0.0));
        let mut x = vec![0.5; cols];
        x[3] = f32::NAN;
        assert!(run(&m, &x).iter().all(|v| v.is_nan()));
        x[3] = f32::INFINITY;
        assert!(run(&m, &x).iter().all(|v| v.is_nan()));
        x[3] = -f32::NAN;
        assert!(run(&m, &x).iter().all(|v| v.is_nan()));
    }
    // Zero rows and an empty matrix.
    let m = QuantMatrix::new(&[0.0; 6], 2, 3);
    assert_eq!(run(&m, &[1.0, 2.0, 3.0]), vec![0.0, 0.0]);
    let m = QuantMatrix::new(&[], 2, 0);
    assert_eq!(run(&m, &[]), vec![0.0, 0.0]);
}

/// A batch of inputs, with the special ones (zero, tiny, NaN) among ordinary ones, gives bit
/// for bit what one `matvec` per input gives, with every kernel, dense and block-sparse, on
/// every shape and for batches of 1 to [`MAX_BATCH`] and one more (which falls back).
#[test]
fn batched_products_match_one_at_a_time_exactly() {
    for (seed, &(rows, cols)) in (1u32..).zip(SHAPES) {
        // Dense, and block-sparse on either side of `BATCH_SPARSE_BELOW` (one input at a time
        // with the sparse kernels; batched with the dense ones).
        let pruned = |density| {
            let mut w = weights(rows, cols, seed);
            sparse::prune_blocks(&mut w, rows, cols, density);
            w
        };
        let sparser = (BATCH_SPARSE_BELOW - 0.1).max(0.05);
        let denser = (BATCH_SPARSE_BELOW + 0.05).min(sparse::MAX_DENSITY);
        let mut sides = 0;
        for w in [weights(rows, cols, seed), pruned(sparser), pruned(denser)] {
            let full = QuantMatrix::new(&w, rows, cols);
            if let Some(d) = full.block_density() {
                sides |= if d < BATCH_SPARSE_BELOW { 1 } else { 2 };
            }
            for k in Kernel::available() {
                let m = full.clone().with_kernel(k).unwrap();
                for n in [1, 2, 5, MAX_BATCH, MAX_BATCH + 1] {
                    let mut x = Vec::with_capacity(n * cols);
                    for i in 0..n {
                        let mut xi = pseudo_random(cols, seed * 31 + i as u32);
                        match i % 7 {
                            3 => xi.fill(0.0),
                            4 => xi.iter_mut().for_each(|v| *v *= 1e-40),
                            5 => xi[cols / 2] = f32::NAN,
                            _ => {}
                        }
                        x.extend(xi);
                    }
                    let want: Vec<f32> = x.chunks_exact(cols).flat_map(|xi| run(&m, xi)).collect();
                    let mut got = vec![-1.0; n * rows];
                    m.matvec_batch(&x, &mut got);
                    let what = format!("{} batch of {n} at {rows}x{cols}", k.name());
                    assert_eq!(got.len(), want.len());
                    for (a, b) in got.iter().zip(&want) {
                        assert!(
                            a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
                            "{what}"
                        );
                    }
                }
            }
        }
        if rows * cols >= 128 * 64 && cols <= MAX_BLOCK {
            assert_eq!(
                sides, 3,
                "{rows}x{cols}: both sides of BATCH_SPARSE_BELOW not reached"
            );
        }
    }
}
