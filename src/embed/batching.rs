//! Continuous batching in front of an embedder. Concurrent callers (several `remember`s, a search
//! next to an extraction) each embed one or two texts; one model call per text wastes most of the
//! CPU on per-call overhead and competing thread pools. Here one worker runs the model; whatever
//! requests arrive while it computes are joined into its next call. An idle embedder adds no
//! delay: a lone request is sent at once.
//!
//! The last few texts embedded are remembered: a chat turn embeds its message for the context
//! and again, moments later, for memory extraction.

use std::collections::VecDeque;
use std::sync::Mutex;

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};

use super::{Embedder, EmbedderInfo};

/// The most texts one model call takes from waiting requests.
const MAX_BATCH_TEXTS: usize = 64;
const QUEUE: usize = 1024;
/// Recent single texts whose vectors are kept.
const RECENT: usize = 64;

struct Request {
    texts: Vec<String>,
    reply: oneshot::Sender<anyhow::Result<Vec<Vec<f32>>>>,
}

pub struct BatchingEmbedder {
    info: EmbedderInfo,
    requests: mpsc::Sender<Request>,
    recent: Mutex<VecDeque<(String, Vec<f32>)>>,
}

impl BatchingEmbedder {
    /// Starts the worker on the current Tokio runtime.
    pub fn new(inner: std::sync::Arc<dyn Embedder>) -> Self {
        let info = inner.info().clone();
        let (requests, receiver) = mpsc::channel(QUEUE);
        tokio::spawn(work(inner, receiver));
        Self { info, requests, recent: Mutex::new(VecDeque::with_capacity(RECENT)) }
    }
}

async fn work(inner: std::sync::Arc<dyn Embedder>, mut receiver: mpsc::Receiver<Request>) {
    while let Some(first) = receiver.recv().await {
        let mut batch = vec![first];
        let mut texts = batch[0].texts.len();
        while texts < MAX_BATCH_TEXTS {
            match receiver.try_recv() {
                Ok(request) => {
                    texts += request.texts.len();
                    batch.push(request);
                }
                Err(_) => break,
            }
        }
        let all: Vec<String> = batch.iter().flat_map(|r| r.texts.iter().cloned()).collect();
        let started = std::time::Instant::now();
        let embedded = inner.embed(&all).await;
        metrics::histogram!("embedding_batch_texts").record(all.len() as f64);
        metrics::histogram!("embedding_batch_seconds").record(started.elapsed());
        match embedded {
            Ok(vectors) if vectors.len() == all.len() => {
                let mut vectors = vectors.into_iter();
                for request in batch {
                    let mine: Vec<Vec<f32>> = vectors.by_ref().take(request.texts.len()).collect();
                    let _ = request.reply.send(Ok(mine));
                }
            }
            Ok(vectors) => {
                let error = format!("the embedder returned {} vectors for {} texts", vectors.len(), all.len());
                for request in batch {
                    let _ = request.reply.send(Err(anyhow::anyhow!(error.clone())));
                }
            }
            Err(error) => {
                let error = format!("{error:#}");
                for request in batch {
                    let _ = request.reply.send(Err(anyhow::anyhow!(error.clone())));
                }
            }
        }
    }
}

#[async_trait]
impl Embedder for BatchingEmbedder {
    fn info(&self) -> &EmbedderInfo {
        &self.info
    }

    async fn embed(&self, texts: &[String]) -> anyhow::Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let single = match texts {
            [text] => Some(text),
            _ => None,
        };
        if let Some(text) = single {
            let recent = self.recent.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if let Some((_, vector)) = recent.iter().find(|(t, _)| t == text) {
                return Ok(vec![vector.clone()]);
            }
        }
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(Request { texts: texts.to_vec(), reply })
            .await
            .map_err(|_| anyhow::anyhow!("the embedding worker has stopped"))?;
        let vectors = answer.await.map_err(|_| anyhow::anyhow!("the embedding worker has stopped"))??;
        if let (Some(text), [vector]) = (single, vectors.as_slice()) {
            let mut recent = self.recent.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if recent.len() == RECENT {
                recent.pop_front();
            }
            recent.push_back((text.clone(), vector.clone()));
        }
        Ok(vectors)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Counts model calls; each call takes a moment, as a real model does.
    struct Slow {
        info: EmbedderInfo,
        calls: AtomicUsize,
    }

    #[async_trait]
    impl Embedder for Slow {
        fn info(&self) -> &EmbedderInfo {
            &self.info
        }

        async fn embed(&self, texts: &[String]) -> anyhow::Result<Vec<Vec<f32>>> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            Ok(texts.iter().map(|t| vec![t.len() as f32]).collect())
        }
    }

    #[tokio::test]
    async fn concurrent_requests_share_model_calls_and_get_their_own_vectors() {
        let slow = Arc::new(Slow {
            info: EmbedderInfo { name: "slow".into(), dimensions: 1, degraded: false },
            calls: AtomicUsize::new(0),
        });
        let batching = Arc::new(BatchingEmbedder::new(slow.clone()));
        let tasks: Vec<_> = (1..=20)
            .map(|n| {
                let batching = batching.clone();
                tokio::spawn(async move { batching.embed(&["x".repeat(n), "y".into()]).await.unwrap() })
            })
            .collect();
        for (n, task) in (1..=20).zip(tasks) {
            assert_eq!(task.await.unwrap(), vec![vec![n as f32], vec![1.0]]);
        }
        let calls = slow.calls.load(Ordering::SeqCst);
        assert!(calls < 20, "20 concurrent requests took {calls} model calls");
    }

    #[tokio::test]
    async fn a_text_embedded_moments_ago_is_not_embedded_again() {
        let slow = Arc::new(Slow {
            info: EmbedderInfo { name: "slow".into(), dimensions: 1, degraded: false },
            calls: AtomicUsize::new(0),
        });
        let batching = BatchingEmbedder::new(slow.clone());
        let text = vec!["what should I cook tonight?".to_owned()];
        let first = batching.embed(&text).await.unwrap();
        assert_eq!(batching.embed(&text).await.unwrap(), first);
        assert_eq!(slow.calls.load(Ordering::SeqCst), 1);
        batching.embed(&["something else".to_owned()]).await.unwrap();
        assert_eq!(slow.calls.load(Ordering::SeqCst), 2);
    }
}
