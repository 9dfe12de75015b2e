//! `y = x·Wᵀ + b` for the few rows of one short text.
//!
//! A query of a dozen tokens gives the encoder's linear layers a dozen rows against a weight of
//! up to 1536 × 384. Here each weight row is read once, straight from where it lies (no packing
//! into panels, as a general GEMM does), and its dot products with every input row are taken
//! while it sits in the L1 cache: two weight rows against four input rows at a time, eight
//! independent accumulators, in the widest SIMD the CPU has (`pulp` picks it at run time: AVX2 +
//! FMA on most x86-64, NEON on ARM; the default build targets neither). The output columns are
//! split between threads. Measured (`cargo bench --bench embedding`): per short query, 0.58 of
//! the time of candle-transformers' BertModel, where the same encoder on candle's matmul took
//! 0.86; the loop is then bound by bringing the weights in (perf: the loads stall, not the FMAs).

use pulp::{Arch, Simd, WithSimd};
use rayon::prelude::*;

/// Rows up to which [`linear`] is used (a query or a short batch); beyond, candle's blocked
/// GEMM, which reuses each weight panel across many rows. Not tuned: the crossover is unmeasured.
pub const MAX_ROWS: usize = 64;

/// Output columns per task: enough work to be worth a thread hand-off, few enough to share.
const COLUMNS_PER_TASK: usize = 64;

/// `x` is `[rows, k]`, `weight` `[out, k]` (as PyTorch stores a linear layer), `bias` `[out]`;
/// returns `[rows, out]`.
pub fn linear(x: &[f32], rows: usize, weight: &[f32], bias: &[f32]) -> Vec<f32> {
    let out = bias.len();
    let k = x.len().checked_div(rows).unwrap_or(0);
    assert_eq!(x.len(), rows * k, "x is [rows, k]");
    assert_eq!(weight.len(), out * k, "weight is [out, k]");
    let arch = Arch::new();
    // Each task fills its own columns, `[columns, rows]`; gathered into `[rows, out]` after.
    let parts: Vec<(usize, Vec<f32>)> = (0..out.div_ceil(COLUMNS_PER_TASK))
        .into_par_iter()
        .map(|task| {
            let first = task * COLUMNS_PER_TASK;
            let last = (first + COLUMNS_PER_TASK).min(out);
            let weight = &weight[first * k..last * k];
            let mut part = vec![0.0; (last - first) * rows];
            arch.dispatch(Columns { x, rows, k, weight, part: &mut part });
            (first, part)
        })
        .collect();
    let mut y = vec![0.0; rows * out];
    for (first, part) in parts {
        for (column, values) in part.chunks_exact(rows.max(1)).enumerate() {
            for (row, value) in values.iter().enumerate() {
                y[row * out + first + column] = value + bias[first + column];
            }
        }
    }
    y
}

/// The dot products of some weight rows with every input row.
struct Columns<'a> {
    x: &'a [f32],
    rows: usize,
    k: usize,
    weight: &'a [f32],
    /// `[weight rows, rows]`.
    part: &'a mut [f32],
}

impl WithSimd for Columns<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let Columns { x, rows, k, weight, part } = self;
        if k == 0 {
            return;
        }
        let columns = weight.len() / k;
        let mut column = 0;
        while column < columns {
            let pair = (columns - column).min(2);
            let w = &weight[column * k..(column + pair) * k];
            let mut row = 0;
            if pair == 2 {
                let w = [&w[..k], &w[k..]];
                while row + 4 <= rows {
                    block::<S, 2, 4>(simd, x, k, w, column, row, rows, part);
                    row += 4;
                }
                while row < rows {
                    block::<S, 2, 1>(simd, x, k, w, column, row, rows, part);
                    row += 1;
                }
            } else {
                while row + 4 <= rows {
                    block::<S, 1, 4>(simd, x, k, [w], column, row, rows, part);
                    row += 4;
                }
                while row < rows {
                    block::<S, 1, 1>(simd, x, k, [w], column, row, rows, part);
                    row += 1;
                }
            }
            column += pair;
        }
    }
}

/// The `C` weight rows `w` (output columns from `column`) against `R` input rows from `row`:
/// `C × R` accumulators.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn block<S: Simd, const C: usize, const R: usize>(
    simd: S,
    x: &[f32],
    k: usize,
    w: [&[f32]; C],
    column: usize,
    row: usize,
    rows: usize,
    part: &mut [f32],
) {
    let xs: [&[f32]; R] = std::array::from_fn(|r| &x[(row + r) * k..(row + r + 1) * k]);
    let (w_head, w_tail): ([&[S::f32s]; C], [&[f32]; C]) = {
        let split = w.map(S::as_simd_f32s);
        (split.map(|s| s.0), split.map(|s| s.1))
    };
    let (x_head, x_tail): ([&[S::f32s]; R], [&[f32]; R]) = {
        let split = xs.map(S::as_simd_f32s);
        (split.map(|s| s.0), split.map(|s| s.1))
    };
    // Equal lengths, said once, so the loop below needs no bounds checks.
    let n = w_head[0].len();
    assert!(w_head.iter().all(|h| h.len() == n) && x_head.iter().all(|h| h.len() == n));
    let mut acc = [[simd.splat_f32s(0.0); R]; C];
    for i in 0..n {
        let wv: [S::f32s; C] = std::array::from_fn(|c| w_head[c][i]);
        for r in 0..R {
            let xv = x_head[r][i];
            for c in 0..C {
                acc[c][r] = simd.mul_add_f32s(xv, wv[c], acc[c][r]);
            }
        }
    }
    for c in 0..C {
        for r in 0..R {
            let tail: f32 = w_tail[c].iter().zip(x_tail[r]).map(|(a, b)| a * b).sum();
            part[(column + c) * rows + row + r] = simd.reduce_sum_f32s(acc[c][r]) + tail;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(x: &[f32], rows: usize, weight: &[f32], bias: &[f32]) -> Vec<f32> {
        let (out, k) = (bias.len(), x.len() / rows);
        let mut y = vec![0.0; rows * out];
        for r in 0..rows {
            for o in 0..out {
                let dot: f64 = (0..k).map(|i| x[r * k + i] as f64 * weight[o * k + i] as f64).sum();
                y[r * out + o] = dot as f32 + bias[o];
            }
        }
        y
    }

    #[test]
    fn matches_the_textbook_product_on_every_shape_edge() {
        // Odd row and column counts (every remainder path), a k with a SIMD tail, and the
        // encoder's own shapes.
        for (rows, k, out) in [(1, 3, 1), (5, 37, 3), (7, 384, 131), (12, 384, 1152), (13, 1536, 384), (64, 40, 65)] {
            let x: Vec<f32> = (0..rows * k).map(|i| ((i * 7919 % 1000) as f32 - 500.0) / 250.0).collect();
            let weight: Vec<f32> = (0..out * k).map(|i| ((i * 104_729 % 997) as f32 - 498.0) / 400.0).collect();
            let bias: Vec<f32> = (0..out).map(|i| i as f32 / 10.0 - 1.0).collect();
            let want = naive(&x, rows, &weight, &bias);
            let got = linear(&x, rows, &weight, &bias);
            assert_eq!(got.len(), want.len());
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                assert!((g - w).abs() <= 1e-3 * (1.0 + w.abs()), "{rows}x{k}x{out} at {i}: {g} vs {w}");
            }
        }
    }
}
