//! `y = x·Wᵀ + b` (then GELU, or plus a residual) for the encoder's linear layers.
//!
//! For a short text, these products are bound by bringing the weights in from memory (42 MB of
//! f32 per query, more than the L3 holds), not by the arithmetic. So the weights are kept as
//! bf16, half the bytes, and widened to f32 in registers (one shift or one mask); the inputs, the
//! sums and everything after stay f32. They are repacked once, at load, into panels of 16 output
//! columns stored `[k, 16]`, so the inner loop reads one sequential stream. Each step broadcasts
//! one input value of each of up to 6 rows and multiplies it into the panel's vectors (two with
//! AVX2): 12 independent accumulators and no horizontal sums, the register tile of a GEMM
//! micro-kernel. The panel (12-48 KB) stays in L1/L2 while every row tile passes over it, and the
//! input rows are read where they lie (no packing), which is what a short text wants: its dozen
//! rows are all the work there is. The SIMD width is picked at run time (`pulp`: AVX2 + FMA on
//! most x86-64, NEON on ARM; the default build targets neither), and the output columns are split
//! between threads. Measured (`cargo bench --bench embedding`, README): a short query in about a
//! quarter of the time of candle-transformers' `BertModel`, cosine with its vectors ≥ 0.99998.

use pulp::{Arch, Simd, WithSimd};
use rayon::prelude::*;

/// Output columns per panel, and the `u32`s of a panel row (two bf16 each).
const PANEL: usize = 16;
const PACKED: usize = PANEL / 2;
/// Input rows per register tile.
const TILE_ROWS: usize = 6;
/// Panels per task: enough work to be worth a thread hand-off, few enough to share.
const PANELS_PER_TASK: usize = 4;

/// What is done to `x·Wᵀ + b` before it is stored.
#[derive(Clone, Copy)]
pub enum Epilogue<'a> {
    None,
    /// GELU, the erf form BERT was trained with.
    Gelu,
    /// Plus `[rows, out]` (the residual connection around the layer).
    Add(&'a [f32]),
}

/// A linear layer, its weight in panels of bf16.
pub struct Linear {
    inputs: usize,
    bias: Vec<f32>,
    /// `[panels, inputs, 8]`: the `u32` at `j` of a panel row holds column `j` of the panel in its
    /// low half and column `j + 8` in its high half, each as bf16 (the top half of an f32), so
    /// one shift and one mask give both back as f32.
    panels: Vec<u32>,
}

impl Linear {
    /// `weight` is `[out, in]`, as PyTorch stores it; `out` is `bias.len()`.
    pub fn new(weight: &[f32], bias: Vec<f32>) -> Self {
        let outputs = bias.len();
        let inputs = weight.len().checked_div(outputs).unwrap_or(0);
        assert_eq!(weight.len(), outputs * inputs, "weight is [out, in]");
        let mut panels = vec![0u32; outputs.div_ceil(PANEL) * inputs * PACKED];
        for (o, row) in weight.chunks_exact(inputs.max(1)).enumerate() {
            let panel = &mut panels[o / PANEL * inputs * PACKED..][..inputs * PACKED];
            let (slot, shift) = (o % PANEL % PACKED, 16 * (o % PANEL / PACKED));
            for (i, &w) in row.iter().enumerate() {
                panel[i * PACKED + slot] |= u32::from(bf16(w)) << shift;
            }
        }
        Self { inputs, bias, panels }
    }

    pub fn outputs(&self) -> usize {
        self.bias.len()
    }

    /// `x` is `[rows, in]`; returns `[rows, out]`.
    pub fn forward(&self, x: &[f32], epilogue: Epilogue) -> Vec<f32> {
        let (k, out) = (self.inputs, self.outputs());
        let rows = x.len().checked_div(k).unwrap_or(0);
        assert_eq!(x.len(), rows * k, "x is [rows, in]");
        if let Epilogue::Add(residual) = epilogue {
            assert_eq!(residual.len(), rows * out, "the residual is [rows, out]");
        }
        if rows == 0 || k == 0 {
            return vec![0.0; rows * out];
        }
        let arch = Arch::new();
        let task_columns = PANEL * PANELS_PER_TASK;
        // Each task fills its own columns, `[rows, columns]`; gathered into `[rows, out]` after.
        let parts: Vec<(usize, Vec<f32>)> = self
            .panels
            .par_chunks(k * PACKED * PANELS_PER_TASK)
            .enumerate()
            .map(|(task, panels)| {
                let first = task * task_columns;
                let columns = (out - first).min(task_columns);
                let mut part = vec![0.0; rows * columns];
                arch.dispatch(Task {
                    x,
                    k,
                    panels,
                    bias: &self.bias[first..first + columns],
                    epilogue,
                    first,
                    out,
                    part: &mut part,
                });
                (first, part)
            })
            .collect();
        let mut y = vec![0.0; rows * out];
        for (first, part) in &parts {
            let (first, columns) = (*first, part.len() / rows);
            for (y, part) in y.chunks_exact_mut(out).zip(part.chunks_exact(columns)) {
                y[first..first + columns].copy_from_slice(part);
            }
        }
        y
    }
}

/// Some panels of the weight against every input row.
struct Task<'a> {
    x: &'a [f32],
    k: usize,
    panels: &'a [u32],
    /// The task's columns of the bias.
    bias: &'a [f32],
    epilogue: Epilogue<'a>,
    /// The task's first output column, and the layer's output width (for the residual).
    first: usize,
    out: usize,
    /// `[rows, columns]`.
    part: &'a mut [f32],
}

impl WithSimd for Task<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        // f32 vectors per panel row, and u32 vectors they are packed in: 2 and 1 with AVX2, 4
        // and 2 with NEON; the scalar code for anything else.
        match size_of::<S::f32s>() / size_of::<f32>() {
            8 => self.run::<S, 2, 1>(simd),
            4 => self.run::<S, 4, 2>(simd),
            _ => self.run::<pulp::Scalar, 16, 8>(pulp::Scalar),
        }
    }
}

impl Task<'_> {
    #[inline(always)]
    fn run<S: Simd, const V: usize, const U: usize>(self, simd: S) {
        let Task { x, k, panels, bias, epilogue, first, out, part } = self;
        let rows = x.len() / k;
        let columns = bias.len();
        for (p, panel) in panels.chunks_exact(k * PACKED).enumerate() {
            let (panel, _) = S::as_simd_u32s(panel);
            let (panel, _) = panel.as_chunks::<U>();
            let valid = (columns - p * PANEL).min(PANEL);
            let mut row = 0;
            while row < rows {
                let tile = (rows - row).min(TILE_ROWS);
                let mut sums = [[0.0f32; PANEL]; TILE_ROWS];
                match tile {
                    6 => tile_product::<S, V, U, 6>(simd, x, k, panel, row, &mut sums),
                    5 => tile_product::<S, V, U, 5>(simd, x, k, panel, row, &mut sums),
                    4 => tile_product::<S, V, U, 4>(simd, x, k, panel, row, &mut sums),
                    3 => tile_product::<S, V, U, 3>(simd, x, k, panel, row, &mut sums),
                    2 => tile_product::<S, V, U, 2>(simd, x, k, panel, row, &mut sums),
                    _ => tile_product::<S, V, U, 1>(simd, x, k, panel, row, &mut sums),
                }
                for (r, sums) in sums[..tile].iter().enumerate() {
                    let y = &mut part[(row + r) * columns + p * PANEL..][..valid];
                    for ((y, sum), b) in y.iter_mut().zip(sums).zip(&bias[p * PANEL..]) {
                        *y = sum + b;
                    }
                    if let Epilogue::Add(residual) = epilogue {
                        let residual = &residual[(row + r) * out + first + p * PANEL..][..valid];
                        y.iter_mut().zip(residual).for_each(|(y, r)| *y += r);
                    }
                }
                row += tile;
            }
        }
        if let Epilogue::Gelu = epilogue {
            part.iter_mut().for_each(|v| *v = gelu(*v));
        }
    }
}

/// `R` input rows from `row` against one panel (`k` steps of `U` packed vectors, `V` f32
/// vectors unpacked), into `sums`.
#[inline(always)]
fn tile_product<S: Simd, const V: usize, const U: usize, const R: usize>(
    simd: S,
    x: &[f32],
    k: usize,
    panel: &[[S::u32s; U]],
    row: usize,
    sums: &mut [[f32; PANEL]; TILE_ROWS],
) {
    let xs: [&[f32]; R] = std::array::from_fn(|r| &x[(row + r) * k..][..k]);
    // Said once, so the loop below needs no bounds checks.
    assert!(panel.len() == k && V == 2 * U && V * size_of::<S::f32s>() == PANEL * size_of::<f32>());
    let (shift, high) = (simd.splat_u32s(16), simd.splat_u32s(0xffff_0000));
    let mut acc = [[simd.splat_f32s(0.0); V]; R];
    for i in 0..k {
        let packed = panel[i];
        // Vector `v` holds columns `v × lanes` on: the low halves first, then the high ones.
        let w: [S::f32s; V] = std::array::from_fn(|v| {
            simd.transmute_f32s_u32s(if v < U {
                simd.wrapping_dyn_shl_u32s(packed[v], shift)
            } else {
                simd.and_u32s(packed[v - U], high)
            })
        });
        for r in 0..R {
            let xv = simd.splat_f32s(xs[r][i]);
            for v in 0..V {
                acc[r][v] = simd.mul_add_f32s(xv, w[v], acc[r][v]);
            }
        }
    }
    for r in 0..R {
        let (out, _) = S::as_mut_simd_f32s(&mut sums[r]);
        out.copy_from_slice(&acc[r]);
    }
}

/// `w` rounded to bf16 (to nearest, ties to even): the top 16 bits of its f32.
fn bf16(w: f32) -> u16 {
    let bits = w.to_bits();
    (bits.wrapping_add(0x7fff + ((bits >> 16) & 1)) >> 16) as u16
}

/// `x·Φ(x)`, with `1 − erf(z) ≈ (1 + a₁z + … + a₆z⁶)⁻¹⁶` for `z ≥ 0` (Abramowitz & Stegun 7.1.28,
/// absolute error ≤ 3·10⁻⁷): multiplies, adds and one division, so a loop of it vectorises,
/// where libm's `erf` is a scalar call per value.
#[inline(always)]
pub fn gelu(x: f32) -> f32 {
    const A: [f32; 6] = [0.070_523_08, 0.042_282_01, 0.009_270_527, 0.000_152_014_3, 0.000_276_567_2, 0.000_043_063_8];
    let z = (x * std::f32::consts::FRAC_1_SQRT_2).abs();
    let t = 1.0 + z * (A[0] + z * (A[1] + z * (A[2] + z * (A[3] + z * (A[4] + z * A[5])))));
    let t2 = t * t;
    let t4 = t2 * t2;
    let t8 = t4 * t4;
    let t16 = t8 * t8;
    // Φ(−|x|) = ½(1 − erf(|x|/√2)); t16 overflows to infinity far out, where it is 0.
    let lower = 0.5 / t16;
    x * if x >= 0.0 { 1.0 - lower } else { lower }
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

    fn close(got: &[f32], want: &[f32], what: &str) {
        assert_eq!(got.len(), want.len(), "{what}");
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!((g - w).abs() <= 1e-3 * (1.0 + w.abs()), "{what} at {i}: {g} vs {w}");
        }
    }

    #[test]
    fn matches_the_textbook_product_on_every_shape_edge() {
        // Row counts on and off the 6-row tile, column counts on and off the 16-column panel and
        // the 64-column task, a k with no SIMD multiple, and the encoder's own shapes.
        for (rows, k, out) in
            [(1, 3, 1), (5, 37, 3), (7, 384, 131), (12, 384, 1152), (13, 1536, 384), (64, 40, 65), (200, 17, 70)]
        {
            let x: Vec<f32> = (0..rows * k).map(|i| ((i * 7919 % 1000) as f32 - 500.0) / 250.0).collect();
            let weight: Vec<f32> = (0..out * k).map(|i| ((i * 104_729 % 997) as f32 - 498.0) / 400.0).collect();
            let bias: Vec<f32> = (0..out).map(|i| i as f32 / 10.0 - 1.0).collect();
            let residual: Vec<f32> = (0..rows * out).map(|i| (i % 13) as f32 - 6.0).collect();
            // The kernel's weights are bf16: the textbook product of the same rounded weights.
            let rounded: Vec<f32> = weight.iter().map(|&w| f32::from_bits(u32::from(bf16(w)) << 16)).collect();
            let want = naive(&x, rows, &rounded, &bias);
            let layer = Linear::new(&weight, bias);
            close(&layer.forward(&x, Epilogue::None), &want, &format!("{rows}x{k}x{out}"));
            let added: Vec<f32> = want.iter().zip(&residual).map(|(y, r)| y + r).collect();
            close(&layer.forward(&x, Epilogue::Add(&residual)), &added, &format!("{rows}x{k}x{out} + residual"));
            let activated: Vec<f32> = want.iter().map(|&y| gelu(y)).collect();
            close(&layer.forward(&x, Epilogue::Gelu), &activated, &format!("gelu({rows}x{k}x{out})"));
        }
    }

    #[test]
    fn bf16_rounds_to_nearest_and_ties_to_even() {
        let back = |w: f32| f32::from_bits(u32::from(bf16(w)) << 16);
        assert_eq!(back(1.0), 1.0);
        assert_eq!(back(-0.15625), -0.15625);
        // 1 + 2⁻⁸ lies halfway between 1 and 1 + 2⁻⁷: to the even one, 1.
        assert_eq!(back(1.0 + 2f32.powi(-8)), 1.0);
        assert_eq!(back(1.0 + 3.0 * 2f32.powi(-8)), 1.0 + 2.0 * 2f32.powi(-7));
        assert_eq!(back(1.0 + 2f32.powi(-8) + 2f32.powi(-12)), 1.0 + 2f32.powi(-7));
        for w in [0.0123f32, -3.7, 1e-20, 250.0] {
            assert!((back(w) - w).abs() <= w.abs() * 2f32.powi(-8), "{w} -> {}", back(w));
        }
    }

    #[test]
    fn gelu_follows_the_erf_form() {
        // Φ(x) = ½ erfc(−x/√2), from libm's erfc in f64.
        for i in -1200..=1200 {
            let x = i as f64 / 100.0;
            let want = x * 0.5 * libm_erfc(-x / std::f64::consts::SQRT_2);
            let got = gelu(x as f32) as f64;
            assert!((got - want).abs() <= 1e-6 * (1.0 + want.abs()), "gelu({x}) = {got}, want {want}");
        }
        assert_eq!(gelu(f32::MAX), f32::MAX);
        assert_eq!(gelu(-f32::MAX), -0.0);
    }

    /// erfc by its continued fraction / series, in f64: independent of the approximation tested.
    fn libm_erfc(x: f64) -> f64 {
        // Series for erf (converges fast for |x| < 3), the continued fraction beyond.
        if x.abs() < 3.0 {
            let (mut term, mut sum, mut n) = (x, x, 0.0);
            while term.abs() > 1e-17 * sum.abs().max(1e-300) {
                n += 1.0;
                term *= -x * x / n;
                sum += term / (2.0 * n + 1.0);
            }
            1.0 - 2.0 / std::f64::consts::PI.sqrt() * sum
        } else {
            let z = x.abs();
            let mut fraction = 0.0;
            for n in (1..60).rev() {
                fraction = (n as f64 / 2.0) / (z + fraction);
            }
            let tail = (-z * z).exp() / std::f64::consts::PI.sqrt() / (z + fraction);
            if x > 0.0 { tail } else { 2.0 - tail }
        }
    }
}
