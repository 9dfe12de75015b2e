//! The BERT encoder of all-MiniLM-L6-v2 (and of any BERT of its shape), written for the CPU on
//! plain slices: candle only reads the weights. Texts are not padded: their tokens are laid end to end as the rows of every
//! linear layer (the query, key and value projections one product, through [`kernel`]), and
//! attention runs within each text. The mean of each text's last hidden states is returned.

use candle_core::Result;
use candle_nn::VarBuilder;
use candle_transformers::models::bert::Config;
use pulp::Arch;
use rayon::prelude::*;

mod kernel;

use kernel::{Epilogue, Linear};

struct Norm {
    weight: Vec<f32>,
    bias: Vec<f32>,
    eps: f32,
}

impl Norm {
    fn load(vb: VarBuilder, hidden: usize, eps: f64) -> Result<Self> {
        Ok(Self { weight: values(&vb, hidden, "weight")?, bias: values(&vb, hidden, "bias")?, eps: eps as f32 })
    }

    /// Normalises each row of `xs` in place.
    fn apply(&self, arch: Arch, xs: &mut [f32]) {
        let hidden = self.weight.len();
        arch.dispatch(|| {
            for row in xs.chunks_exact_mut(hidden) {
                let mean = sum(row) / hidden as f32;
                row.iter_mut().for_each(|v| *v -= mean);
                let variance = dot(row, row) / hidden as f32;
                let scale = 1.0 / (variance + self.eps).sqrt();
                for ((v, w), b) in row.iter_mut().zip(&self.weight).zip(&self.bias) {
                    *v = *v * scale * w + b;
                }
            }
        })
    }
}

struct Layer {
    qkv: Linear,
    attention_out: Linear,
    attention_norm: Norm,
    up: Linear,
    down: Linear,
    output_norm: Norm,
}

pub struct Encoder {
    /// `[vocabulary, hidden]`, `[positions, hidden]`, `[token types, hidden]`.
    words: Vec<f32>,
    positions: Vec<f32>,
    token_types: Vec<f32>,
    embeddings_norm: Norm,
    layers: Vec<Layer>,
    heads: usize,
    hidden: usize,
}

/// One tokenised text: its word-piece ids and token type ids, without padding.
pub struct Tokens<'a> {
    pub ids: &'a [u32],
    pub type_ids: &'a [u32],
}

impl Encoder {
    pub fn load(vb: VarBuilder, config: &Config) -> Result<Self> {
        let vb = if vb.contains_tensor("bert.embeddings.word_embeddings.weight") { vb.pp("bert") } else { vb };
        let hidden = config.hidden_size;
        if config.num_attention_heads == 0 || !hidden.is_multiple_of(config.num_attention_heads) {
            return Err(candle_core::Error::Msg("hidden_size is not a multiple of num_attention_heads".into()));
        }
        let eps = config.layer_norm_eps;
        let linear = |vb: VarBuilder, inputs: usize, outputs: usize| -> Result<Linear> {
            Ok(Linear::new(&values(&vb, (outputs, inputs), "weight")?, values(&vb, outputs, "bias")?))
        };
        let table = |vb: VarBuilder, rows: usize| values(&vb, (rows, hidden), "weight");
        let embeddings = vb.pp("embeddings");
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for n in 0..config.num_hidden_layers {
            let layer = vb.pp(format!("encoder.layer.{n}"));
            let attention = layer.pp("attention.self");
            let (mut weight, mut bias) = (Vec::with_capacity(3 * hidden * hidden), Vec::with_capacity(3 * hidden));
            for part in ["query", "key", "value"] {
                let vb = attention.pp(part);
                weight.extend(values(&vb, (hidden, hidden), "weight")?);
                bias.extend(values(&vb, hidden, "bias")?);
            }
            layers.push(Layer {
                qkv: Linear::new(&weight, bias),
                attention_out: linear(layer.pp("attention.output.dense"), hidden, hidden)?,
                attention_norm: Norm::load(layer.pp("attention.output.LayerNorm"), hidden, eps)?,
                up: linear(layer.pp("intermediate.dense"), hidden, config.intermediate_size)?,
                down: linear(layer.pp("output.dense"), config.intermediate_size, hidden)?,
                output_norm: Norm::load(layer.pp("output.LayerNorm"), hidden, eps)?,
            });
        }
        Ok(Self {
            words: table(embeddings.pp("word_embeddings"), config.vocab_size)?,
            positions: table(embeddings.pp("position_embeddings"), config.max_position_embeddings)?,
            token_types: table(embeddings.pp("token_type_embeddings"), config.type_vocab_size)?,
            embeddings_norm: Norm::load(embeddings.pp("LayerNorm"), hidden, eps)?,
            layers,
            heads: config.num_attention_heads,
            hidden,
        })
    }

    /// The mean of each text's last hidden states (not normalised).
    pub fn forward(&self, texts: &[Tokens]) -> Result<Vec<Vec<f32>>> {
        let hidden = self.hidden;
        let arch = Arch::new();
        let lengths: Vec<usize> = texts.iter().map(|t| t.ids.len()).collect();
        let rows: usize = lengths.iter().sum();
        let mut xs = Vec::with_capacity(rows * hidden);
        for text in texts {
            if text.type_ids.len() != text.ids.len() {
                return Err(candle_core::Error::Msg("ids and type ids differ in length".into()));
            }
            for (position, (&id, &kind)) in text.ids.iter().zip(text.type_ids).enumerate() {
                let (word, place, kind) = (
                    row(&self.words, hidden, id as usize, "token id")?,
                    row(&self.positions, hidden, position, "position")?,
                    row(&self.token_types, hidden, kind as usize, "token type")?,
                );
                xs.extend(word.iter().zip(place).zip(kind).map(|((a, b), c)| a + b + c));
            }
        }
        self.embeddings_norm.apply(arch, &mut xs);
        for layer in &self.layers {
            let qkv = layer.qkv.forward(&xs, Epilogue::None);
            let context = self.attention(arch, &qkv, &lengths);
            let mut attended = layer.attention_out.forward(&context, Epilogue::Add(&xs));
            layer.attention_norm.apply(arch, &mut attended);
            let expanded = layer.up.forward(&attended, Epilogue::Gelu);
            xs = layer.down.forward(&expanded, Epilogue::Add(&attended));
            layer.output_norm.apply(arch, &mut xs);
        }
        let mut pooled = Vec::with_capacity(texts.len());
        let mut rest = xs.as_slice();
        for &length in &lengths {
            let (text, after) = rest.split_at(length * hidden);
            rest = after;
            let mut mean = vec![0.0; hidden];
            for row in text.chunks_exact(hidden) {
                mean.iter_mut().zip(row).for_each(|(m, v)| *m += v);
            }
            mean.iter_mut().for_each(|m| *m /= length.max(1) as f32);
            pooled.push(mean);
        }
        Ok(pooled)
    }

    /// Self-attention within each text: `qkv` is `[rows, 3 × hidden]` (queries, keys, values),
    /// the texts' rows end to end; returns the context, `[rows, hidden]`.
    fn attention(&self, arch: Arch, qkv: &[f32], lengths: &[usize]) -> Vec<f32> {
        let hidden = self.hidden;
        let mut context = vec![0.0; qkv.len() / 3];
        let mut work = Vec::with_capacity(lengths.len());
        let (mut qkv_rest, mut context_rest) = (qkv, context.as_mut_slice());
        for &length in lengths {
            let (text_qkv, after) = qkv_rest.split_at(length * 3 * hidden);
            let (text_context, context_after) = std::mem::take(&mut context_rest).split_at_mut(length * hidden);
            (qkv_rest, context_rest) = (after, context_after);
            work.push((text_qkv, text_context));
        }
        let attend = |(qkv, context): (&[f32], &mut [f32])| arch.dispatch(|| self.attend(qkv, context));
        if work.len() == 1 {
            work.into_iter().for_each(attend);
        } else {
            work.into_par_iter().for_each(attend);
        }
        context
    }

    /// Attention over one text's rows.
    #[inline(always)]
    fn attend(&self, qkv: &[f32], context: &mut [f32]) {
        let (hidden, heads) = (self.hidden, self.heads);
        let size = hidden / heads;
        let length = context.len() / hidden;
        let scale = 1.0 / (size as f32).sqrt();
        let mut scores = vec![0.0f32; length];
        for head in 0..heads {
            let slice = |row: usize, part: usize| &qkv[row * 3 * hidden + part * hidden + head * size..][..size];
            for t in 0..length {
                let query = slice(t, 0);
                let mut max = f32::NEG_INFINITY;
                for (s, score) in scores.iter_mut().enumerate() {
                    *score = dot(query, slice(s, 1)) * scale;
                    max = max.max(*score);
                }
                let mut total = 0.0;
                for score in &mut scores {
                    *score = (*score - max).exp();
                    total += *score;
                }
                let out = &mut context[t * hidden + head * size..][..size];
                for (s, score) in scores.iter().enumerate() {
                    let weight = score / total;
                    out.iter_mut().zip(slice(s, 2)).for_each(|(o, v)| *o += weight * v);
                }
            }
        }
    }
}

/// The tensor `name` of `vb`, of `shape`, flattened.
fn values(vb: &VarBuilder, shape: impl Into<candle_core::Shape>, name: &str) -> Result<Vec<f32>> {
    vb.get(shape, name)?.flatten_all()?.to_vec1()
}

/// Row `index` of a `[_, hidden]` table.
fn row<'a>(table: &'a [f32], hidden: usize, index: usize, what: &str) -> Result<&'a [f32]> {
    table
        .get(index * hidden..(index + 1) * hidden)
        .ok_or_else(|| candle_core::Error::Msg(format!("{what} {index} is beyond the model's table")))
}

/// In eight lanes, so the compiler can keep them in one vector register (a float sum in order
/// cannot be vectorised).
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let (a8, a_rest) = a.as_chunks::<8>();
    let (b8, b_rest) = b.as_chunks::<8>();
    for (a, b) in a8.iter().zip(b8) {
        for i in 0..8 {
            lanes[i] += a[i] * b[i];
        }
    }
    lanes.iter().sum::<f32>() + a_rest.iter().zip(b_rest).map(|(a, b)| a * b).sum::<f32>()
}

#[inline(always)]
fn sum(a: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let (a8, rest) = a.as_chunks::<8>();
    for a in a8 {
        for i in 0..8 {
            lanes[i] += a[i];
        }
    }
    lanes.iter().sum::<f32>() + rest.iter().sum::<f32>()
}
