//! Logging and metrics. `RUST_LOG` sets the log filter (default: info for this app, warn for
//! libraries). Metrics are recorded anywhere with the `metrics` crate's macros and rendered for
//! Prometheus at `/metrics`; labels never carry user ids or text (README lists the families).

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

pub fn init(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn,assistant=info,tower_http=info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    // `try_init`: a second call (tests start many apps in one process) is harmless.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// The process's metrics recorder, installed on first use (one per process: the tests start many
/// apps in one, and they share it).
pub fn metrics() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let seconds = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];
        let sizes = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &seconds)
            .and_then(|b| b.set_buckets_for_metric(Matcher::Full("embedding_batch_texts".into()), &sizes));
        match builder {
            Ok(builder) => match builder.install_recorder() {
                Ok(handle) => handle,
                // Another recorder is installed (a second app in a test): render from our own.
                Err(_) => PrometheusBuilder::new().build_recorder().handle(),
            },
            Err(_) => PrometheusBuilder::new().build_recorder().handle(),
        }
    })
}
