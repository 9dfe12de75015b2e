//! all-MiniLM-L6-v2 run by candle on the CPU: mean pooling over the attention mask, then L2
//! normalisation, as sentence-transformers does. Texts are batched by similar length (our encoder
//! takes each at its own length; the reference pads a batch to its longest), and run on rayon's
//! pool so the async workers stay free.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use async_trait::async_trait;
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use minilm::{Encoder, Tokens};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

use super::{Embedder, EmbedderInfo, normalise};

/// Texts per forward pass.
const BATCH: usize = 32;
/// The model was trained on up to 256 word pieces; longer texts are cut.
const MAX_TOKENS: usize = 256;

/// Which forward pass runs the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// candle-transformers' BERT, f32.
    Reference,
    /// Our encoder (the `minilm` crate): no padding, weights in bf16.
    Encoder,
}

enum Forward {
    Reference(BertModel),
    Encoder(Encoder),
}

struct Model {
    bert: Forward,
    tokenizer: Tokenizer,
    device: Device,
}

pub struct MiniLmEmbedder {
    model: Arc<Model>,
    info: EmbedderInfo,
    engine: Engine,
}

impl MiniLmEmbedder {
    /// Loads `config.json`, `tokenizer.json` and `model.safetensors` from `dir`, with our encoder.
    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        Self::load_with(dir, Engine::Encoder)
    }

    /// As `load`, with the forward pass `engine`.
    pub fn load_with(dir: &Path, engine: Engine) -> anyhow::Result<Self> {
        let read = |file: &str| dir.join(file);
        let config: Config = serde_json::from_slice(
            &std::fs::read(read("config.json"))
                .with_context(|| format!("reading {}", read("config.json").display()))?,
        )
        .context("config.json is not a BERT config")?;
        let mut tokenizer = Tokenizer::from_file(read("tokenizer.json"))
            .map_err(|e| anyhow::anyhow!("loading {}: {e}", read("tokenizer.json").display()))?;
        // The reference takes a batch as one tensor, padded to its longest text; our encoder takes
        // each text at its own length, so no padding at all (not even the file's own setting).
        tokenizer.with_padding(
            (engine == Engine::Reference)
                .then(|| PaddingParams { strategy: PaddingStrategy::BatchLongest, ..Default::default() }),
        );
        tokenizer
            .with_truncation(Some(TruncationParams { max_length: MAX_TOKENS, ..Default::default() }))
            .map_err(|e| anyhow::anyhow!("configuring truncation: {e}"))?;
        let device = Device::Cpu;
        // SAFETY: the weights file is memory-mapped read-only and must not change while the
        // process runs; it is ours, under the model directory.
        let weights = unsafe { VarBuilder::from_mmaped_safetensors(&[read("model.safetensors")], DType::F32, &device) }
            .context("loading model.safetensors")?;
        let bert = match engine {
            Engine::Reference => Forward::Reference(BertModel::load(weights, &config)?),
            Engine::Encoder => Forward::Encoder(Encoder::load(weights, &config)?),
        };
        let info = EmbedderInfo { name: "all-MiniLM-L6-v2".into(), dimensions: config.hidden_size, degraded: false };
        tracing::info!(dir = %dir.display(), dimensions = info.dimensions, "loaded the local embedding model");
        Ok(Self { model: Arc::new(Model { bert, tokenizer, device }), info, engine })
    }

    /// The forward pass it runs (a cache of its vectors should be keyed by it).
    pub fn engine(&self) -> Engine {
        self.engine
    }
}

impl Model {
    fn embed_batch(&self, texts: &[&str]) -> anyhow::Result<Vec<Vec<f32>>> {
        let encodings =
            self.tokenizer.encode_batch(texts.to_vec(), true).map_err(|e| anyhow::anyhow!("tokenizing: {e}"))?;
        let mut vectors = match &self.bert {
            Forward::Encoder(encoder) => {
                let texts: Vec<Tokens> =
                    encodings.iter().map(|e| Tokens { ids: e.get_ids(), type_ids: e.get_type_ids() }).collect();
                encoder.forward(&texts)?
            }
            Forward::Reference(bert) => {
                let rows = |f: fn(&tokenizers::Encoding) -> &[u32]| -> anyhow::Result<Tensor> {
                    let rows =
                        encodings.iter().map(|e| Tensor::new(f(e), &self.device)).collect::<Result<Vec<_>, _>>()?;
                    Ok(Tensor::stack(&rows, 0)?)
                };
                let ids = rows(|e| e.get_ids())?;
                let type_ids = rows(|e| e.get_type_ids())?;
                let mask = rows(|e| e.get_attention_mask())?;
                let hidden = bert.forward(&ids, &type_ids, Some(&mask))?;
                // Mean over the real tokens only.
                let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
                let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
                let counts = mask.sum(1)?;
                summed.broadcast_div(&counts)?.to_vec2()?
            }
        };
        vectors.iter_mut().for_each(|v| normalise(v));
        Ok(vectors)
    }

    /// Embeds in batches of similar length (every text in a batch is padded to the longest, so a
    /// batch ends where lengths grow by more than about a third); returns vectors in input order.
    fn embed_all(&self, texts: &[String]) -> anyhow::Result<Vec<Vec<f32>>> {
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| texts[i].len());
        let mut out = vec![Vec::new(); texts.len()];
        let mut start = 0;
        while start < order.len() {
            let shortest = texts[order[start]].len();
            let mut end = start + 1;
            while end < order.len() && end - start < BATCH && texts[order[end]].len() <= shortest + shortest / 3 + 16 {
                end += 1;
            }
            let chunk = &order[start..end];
            let batch: Vec<&str> = chunk.iter().map(|&i| texts[i].as_str()).collect();
            for (&i, vector) in chunk.iter().zip(self.embed_batch(&batch)?) {
                out[i] = vector;
            }
            start = end;
        }
        Ok(out)
    }
}

#[async_trait]
impl Embedder for MiniLmEmbedder {
    fn info(&self) -> &EmbedderInfo {
        &self.info
    }

    async fn embed(&self, texts: &[String]) -> anyhow::Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let model = self.model.clone();
        let texts = texts.to_vec();
        let span = tracing::Span::current();
        let (done, result) = tokio::sync::oneshot::channel();
        // On rayon's pool itself, where the encoder splits its products: the thread that runs
        // the forward pass takes part in them and hands off once per call, where a blocking
        // thread would wait on the pool for every product.
        rayon::spawn(move || {
            let outcome =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| span.in_scope(|| model.embed_all(&texts))));
            let _ = done.send(outcome.unwrap_or_else(|_| Err(anyhow::anyhow!("the embedding task panicked"))));
        });
        result.await.context("the embedding task was dropped")?
    }
}
