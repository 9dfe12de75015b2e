//! When to try a request again and how long to wait first, as the official SDKs decide it.

use std::time::Duration;

use reqwest::header::HeaderMap;

#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// Retries after the first attempt (the SDKs' default is 2).
    pub max_retries: u32,
    pub initial_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { max_retries: 2, initial_delay: Duration::from_millis(500), max_delay: Duration::from_secs(8) }
    }
}

/// Whether a failed HTTP status is worth retrying: the server's `x-should-retry` wins, then
/// 408, 409, 429 and every 5xx (529 included).
pub fn should_retry_status(status: u16, headers: &HeaderMap) -> bool {
    match should_retry_header(headers) {
        Some(verdict) => verdict,
        None => matches!(status, 408 | 409 | 429) || status >= 500,
    }
}

pub fn should_retry_header(headers: &HeaderMap) -> Option<bool> {
    match headers.get("x-should-retry")?.to_str().ok()? {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// The wait the server asked for (`retry-after-ms`, else `retry-after` in seconds), when it is
/// a sane one (more than 0, at most a minute).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let number = |name: &str| headers.get(name)?.to_str().ok()?.trim().parse::<f64>().ok();
    let wait = number("retry-after-ms").map(|ms| ms / 1000.0).or_else(|| number("retry-after"))?;
    (wait > 0.0 && wait <= 60.0).then(|| Duration::from_secs_f64(wait))
}

impl RetryPolicy {
    /// The wait before retry number `retry` (0-based): the server's word when it gave one, else
    /// exponential backoff with up to 25% jitter taken off, so clients do not retry in lockstep.
    pub fn delay(&self, retry: u32, server_asked: Option<Duration>, jitter: f64) -> Duration {
        if let Some(wait) = server_asked {
            return wait;
        }
        let backoff = self.initial_delay.as_secs_f64() * 2f64.powi(retry.min(16) as i32);
        let capped = backoff.min(self.max_delay.as_secs_f64());
        Duration::from_secs_f64(capped * (1.0 - 0.25 * jitter.clamp(0.0, 1.0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, v.parse().unwrap());
        }
        map
    }

    #[test]
    fn statuses_and_the_servers_verdict() {
        for status in [408, 409, 429, 500, 502, 503, 504, 529] {
            assert!(should_retry_status(status, &HeaderMap::new()), "{status}");
        }
        for status in [400, 401, 403, 404, 413] {
            assert!(!should_retry_status(status, &HeaderMap::new()), "{status}");
        }
        assert!(!should_retry_status(529, &headers(&[("x-should-retry", "false")])));
        assert!(should_retry_status(400, &headers(&[("x-should-retry", "true")])));
    }

    #[test]
    fn retry_after_headers_are_honoured_within_reason() {
        assert_eq!(retry_after(&headers(&[("retry-after-ms", "250")])), Some(Duration::from_millis(250)));
        assert_eq!(retry_after(&headers(&[("retry-after", "2")])), Some(Duration::from_secs(2)));
        assert_eq!(
            retry_after(&headers(&[("retry-after-ms", "100"), ("retry-after", "9")])),
            Some(Duration::from_millis(100))
        );
        assert_eq!(retry_after(&headers(&[("retry-after", "0")])), None);
        assert_eq!(retry_after(&headers(&[("retry-after", "3600")])), None);
        assert_eq!(retry_after(&headers(&[("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")])), None);
    }

    #[test]
    fn backoff_doubles_caps_and_jitters_downwards() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.delay(0, None, 0.0), Duration::from_millis(500));
        assert_eq!(policy.delay(1, None, 0.0), Duration::from_secs(1));
        assert_eq!(policy.delay(10, None, 0.0), Duration::from_secs(8));
        assert_eq!(policy.delay(0, None, 1.0), Duration::from_millis(375));
        assert_eq!(policy.delay(3, Some(Duration::from_secs(2)), 0.5), Duration::from_secs(2));
    }
}
