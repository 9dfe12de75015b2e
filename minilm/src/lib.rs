//! The BERT encoder of all-MiniLM-L6-v2, written for short inputs on the CPU: the query, key and
//! value projections of a layer are one matrix product, and the linear layers run on the
//! flattened `[tokens, hidden]` rows, through [`kernel::linear`] for a few rows (a query, a short
//! batch) and candle's matmul beyond.

use candle_core::{DType, Module, Result, Storage, Tensor};
use candle_nn::{Embedding, LayerNorm, VarBuilder};
use candle_transformers::models::bert::Config;

use super::kernel;

struct Linear {
    /// `[out, in]`, as PyTorch stores it.
    weight: Tensor,
    bias: Tensor,
    /// `bias` as a slice, for [`kernel::linear`].
    bias_values: Vec<f32>,
}

impl Linear {
    fn new(weight: Tensor, bias: Tensor) -> Result<Self> {
        let weight = weight.contiguous()?;
        let bias_values = bias.to_vec1::<f32>()?;
        Ok(Self { weight, bias, bias_values })
    }

    fn load(vb: VarBuilder, inputs: usize, outputs: usize) -> Result<Self> {
        Self::new(vb.get((outputs, inputs), "weight")?, vb.get(outputs, "bias")?)
    }

    /// `xs` is `[rows, in]`.
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let rows = xs.dim(0)?;
        if rows <= kernel::MAX_ROWS {
            let (storage, layout) = self.weight.storage_and_layout();
            let Storage::Cpu(cpu) = &*storage else {
                return Err(candle_core::Error::Msg("the encoder runs on the CPU".into()));
            };
            let weight = &cpu.as_slice::<f32>()?[layout.start_offset()..][..self.weight.elem_count()];
            let y = kernel::linear(&xs.flatten_all()?.to_vec1::<f32>()?, rows, weight, &self.bias_values);
            return Tensor::from_vec(y, (rows, self.bias_values.len()), xs.device());
        }
        xs.matmul(&self.weight.t()?)?.broadcast_add(&self.bias)
    }
}

struct Layer {
    qkv: Linear,
    attention_out: Linear,
    attention_norm: LayerNorm,
    up: Linear,
    down: Linear,
    output_norm: LayerNorm,
}

pub struct Encoder {
    words: Embedding,
    positions: Embedding,
    token_types: Embedding,
    embeddings_norm: LayerNorm,
    layers: Vec<Layer>,
    heads: usize,
    hidden: usize,
}

impl Encoder {
    pub fn load(vb: VarBuilder, config: &Config) -> Result<Self> {
        let vb = if vb.contains_tensor("bert.embeddings.word_embeddings.weight") { vb.pp("bert") } else { vb };
        let hidden = config.hidden_size;
        let norm = |vb: VarBuilder| candle_nn::layer_norm(hidden, config.layer_norm_eps, vb);
        let embeddings = vb.pp("embeddings");
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for n in 0..config.num_hidden_layers {
            let layer = vb.pp(format!("encoder.layer.{n}"));
            let attention = layer.pp("attention.self");
            let part = |name: &str| -> Result<(Tensor, Tensor)> {
                Ok((attention.pp(name).get((hidden, hidden), "weight")?, attention.pp(name).get(hidden, "bias")?))
            };
            let (q, k, v) = (part("query")?, part("key")?, part("value")?);
            let qkv = Linear::new(Tensor::cat(&[q.0, k.0, v.0], 0)?, Tensor::cat(&[q.1, k.1, v.1], 0)?)?;
            layers.push(Layer {
                qkv,
                attention_out: Linear::load(layer.pp("attention.output.dense"), hidden, hidden)?,
                attention_norm: norm(layer.pp("attention.output.LayerNorm"))?,
                up: Linear::load(layer.pp("intermediate.dense"), hidden, config.intermediate_size)?,
                down: Linear::load(layer.pp("output.dense"), config.intermediate_size, hidden)?,
                output_norm: norm(layer.pp("output.LayerNorm"))?,
            });
        }
        Ok(Self {
            words: candle_nn::embedding(config.vocab_size, hidden, embeddings.pp("word_embeddings"))?,
            positions: candle_nn::embedding(
                config.max_position_embeddings,
                hidden,
                embeddings.pp("position_embeddings"),
            )?,
            token_types: candle_nn::embedding(config.type_vocab_size, hidden, embeddings.pp("token_type_embeddings"))?,
            embeddings_norm: norm(embeddings.pp("LayerNorm"))?,
            layers,
            heads: config.num_attention_heads,
            hidden,
        })
    }

    /// The last hidden states, `[batch, tokens, hidden]`, for `ids`, `type_ids` and `mask`
    /// (`[batch, tokens]`, u32; the mask 1 for real tokens, 0 for padding).
    pub fn forward(&self, ids: &Tensor, type_ids: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let (batch, tokens) = ids.dims2()?;
        let (hidden, heads) = (self.hidden, self.heads);
        let head_size = hidden / heads;
        let rows = batch * tokens;
        let positions = Tensor::arange(0u32, tokens as u32, ids.device())?;
        let mut xs = (self.words.forward(&ids.flatten_all()?)?
            + self.token_types.forward(&type_ids.flatten_all()?)?)?
        .reshape((batch, tokens, hidden))?
        .broadcast_add(&self.positions.forward(&positions)?)?
        .reshape((rows, hidden))?;
        xs = self.embeddings_norm.forward(&xs)?;
        // Padding gets a large negative score before the softmax; a batch of one has none.
        let padding = if batch > 1 {
            let mask = mask.to_dtype(DType::F32)?;
            Some(((mask - 1.0)? * 1e4)?.reshape((batch, 1, 1, tokens))?)
        } else {
            None
        };
        let scale = 1.0 / (head_size as f64).sqrt();
        for layer in &self.layers {
            let qkv = layer
                .qkv
                .forward(&xs)?
                .reshape((batch, tokens, 3, heads, head_size))?
                .permute((2, 0, 3, 1, 4))?
                .contiguous()?;
            let (q, k, v) = (qkv.get(0)?, qkv.get(1)?, qkv.get(2)?);
            let mut scores = (q.matmul(&k.t()?)? * scale)?;
            if let Some(padding) = &padding {
                scores = scores.broadcast_add(padding)?;
            }
            let probabilities = candle_nn::ops::softmax_last_dim(&scores)?;
            let context = probabilities.matmul(&v)?.transpose(1, 2)?.contiguous()?.reshape((rows, hidden))?;
            let attended = layer.attention_norm.forward(&(layer.attention_out.forward(&context)? + &xs)?)?;
            let expanded = layer.up.forward(&attended)?.gelu_erf()?;
            xs = layer.output_norm.forward(&(layer.down.forward(&expanded)? + &attended)?)?;
        }
        xs.reshape((batch, tokens, hidden))
    }
}
