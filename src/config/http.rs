//! `[http]`: the HTTP server's address, limits and timeouts.

use serde::Deserialize;

use super::Dur;

/// The HTTP server (`/metrics`, `/healthz`, `/readyz`, `/`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Listen address.
    pub listen: String,
    /// `/readyz` is ready while every partition's consumer lag is at most this many messages…
    pub ready_max_lag: i64,
    /// …or its watermark is at most this far behind wall time.
    pub ready_max_watermark_lag: Dur,
    /// How often each partition publishes its snapshot (less often when a
    /// snapshot takes more than a twentieth of this).
    pub publish_interval: Dur,
    /// Prometheus exporter-toolkit web config file (TLS, basic auth,
    /// response headers); `--web-config`. None: plain HTTP, no auth.
    pub web_config: Option<std::path::PathBuf>,
    /// Answer `/healthz` without basic auth (Kubernetes probes).
    pub healthz_open: bool,
    /// Deadline for the TLS handshake and for each request head; also how
    /// long an idle keep-alive connection is kept.
    pub read_timeout: Dur,
    /// A response not handed to the connection in full this long after its
    /// first write (a client that stops reading, or reads too slowly)
    /// closes the connection.
    pub write_timeout: Dur,
    /// Largest request head (request line and headers), bytes.
    pub max_header_bytes: usize,
    /// Largest request body, bytes (every endpoint is a GET).
    pub max_body_bytes: u64,
    /// Open connections at most; more are closed at once.
    pub max_connections: usize,
    /// `/metrics` requests answered at once; more get 503 at once.
    pub max_concurrent_scrapes: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: "0.0.0.0:9464".into(),
            ready_max_lag: 10_000,
            ready_max_watermark_lag: Dur::secs(900),
            publish_interval: Dur(100),
            web_config: None,
            healthz_open: false,
            read_timeout: Dur::secs(10),
            write_timeout: Dur::secs(30),
            max_header_bytes: 16 * 1024,
            max_body_bytes: 4096,
            max_connections: 1024,
            max_concurrent_scrapes: 4,
        }
    }
}
