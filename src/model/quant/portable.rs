//! The portable kernels: plain Rust for any target, the reference every SIMD kernel must
//! match bit for bit.

use super::sparse::{Product, BLOCK, BLOCK_COLS, BLOCK_ROWS};
use super::Block;

/// One column block of a dense product.
pub(super) fn dense(b: &Block, y: &mut [f32]) {
    b.check(y);
    let n = b.xq.len();
    for (i, yi) in y.iter_mut().enumerate() {
        let row = &b.q[i * b.stride + b.col0..][..n];
        // Cannot overflow (see MAX_BLOCK); wrapping ops let the dev profile, which checks
        // overflow, vectorise this too.
        let acc = row.iter().zip(b.xq).fold(0i32, |acc, (&a, &x)| {
            acc.wrapping_add(i32::from(a).wrapping_mul(i32::from(x)))
        });
        b.finish(acc, b.scale[i], yi);
    }
}

/// A block-sparse product.
pub(super) fn sparse(p: &Product, y: &mut [f32]) {
    p.check(y);
    let m = p.m;
    for s in 0..m.starts.len() - 1 {
        let mut acc = [0i32; BLOCK_ROWS];
        for k in m.starts[s] as usize..m.starts[s + 1] as usize {
            let x = &p.xq[m.cols[k] as usize..][..BLOCK_COLS];
            let w = &m.w[k * BLOCK..][..BLOCK];
            for (a, row) in acc.iter_mut().zip(w.chunks_exact(BLOCK_COLS)) {
                *a += row
                    .iter()
                    .zip(x)
                    .map(|(&q, &v)| i32::from(q) * i32::from(v))
                    .sum::<i32>();
            }
        }
        p.finish(s, &acc, y);
    }
}
