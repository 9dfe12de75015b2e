//! `BENCH_GRID="field=v1,v2;field=v3"`: every combination of the listed values of `Weights`
//! fields, for the benchmarks' sweeps.

use assistant::services::memory::retrieval::Weights;

/// `BENCH_GRID` ("field=v1,v2;field=v1"): every combination of the listed values.
pub fn grid(spec: &str) -> Vec<(String, Weights)> {
    let mut out = vec![(String::new(), Weights::default())];
    for part in spec.split(';').filter(|p| !p.trim().is_empty()) {
        let (field, values) = part.split_once('=').expect("field=v1,v2");
        let mut next = Vec::new();
        for (name, weights) in &out {
            for value in values.split(',') {
                let v: f64 = value.trim().parse().expect("a number");
                let mut w = *weights;
                match field.trim() {
                    "rrf_k" => w.rrf_k = v,
                    "vector" => w.vector = v,
                    "keyword" => w.keyword = v,
                    "similarity_floor" => w.similarity_floor = v as f32,
                    "pool" => w.pool = v as usize,
                    "fused" => w.fused = v,
                    "similarity" => w.similarity = v,
                    "bm25" => w.bm25 = v,
                    "coverage" => w.coverage = v,
                    "speaker" => w.speaker = v,
                    "context" => w.context = v,
                    "imported" => w.imported = v,
                    "importance" => w.importance = v,
                    "recency" => w.recency = v,
                    other => panic!("unknown field {other}"),
                }
                next.push((format!("{name} {}={v}", field.trim()), w));
            }
        }
        out = next;
    }
    out
}
