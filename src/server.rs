//! HTTP: `/metrics` (Prometheus text, or OpenMetrics when asked for),
//! `/healthz`, `/readyz`, and a landing page at `/`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::config::Config;
use crate::export;
use crate::hub::{PartStatus, Phase, SnapshotHub};

/// Shared by the handlers.
#[derive(Clone)]
pub struct AppState {
    /// Published snapshots.
    pub hub: Arc<SnapshotHub>,
    /// Readiness bounds.
    pub cfg: Arc<Config>,
}

/// The routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(state)
}

fn wall_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// Whether a scraper asked for OpenMetrics.
fn wants_openmetrics(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"))
}

async fn metrics(State(st): State<AppState>, headers: HeaderMap) -> Response {
    let snap = Arc::new(st.hub.merged(wall_ms()));
    if wants_openmetrics(&headers) {
        (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            export::openmetrics(snap),
        )
            .into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            export::prometheus_text(snap),
        )
            .into_response()
    }
}

/// Ready when partitions are assigned and each is caught up: consumer lag
/// within `http.ready_max_lag`, or watermark within
/// `http.ready_max_watermark_lag` of wall time.
async fn readyz(State(st): State<AppState>) -> Response {
    let assigned = st.hub.assigned();
    let down = crate::kafka_log::down_since_ms()
        .map(|since| {
            format!(
                " (Kafka unreachable for {} s)",
                (wall_ms() - since).max(0) / 1000
            )
        })
        .unwrap_or_default();
    if assigned.is_empty() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: no partitions assigned{down}\n"),
        )
            .into_response();
    }
    let lags = st.hub.lags();
    let snaps = st.hub.snapshots();
    let statuses = st.hub.statuses();
    let now = wall_ms() as f64 / 1000.0;
    let max_wm_lag = st.cfg.http.ready_max_watermark_lag.ms() as f64 / 1000.0;
    let mut behind = Vec::new();
    for tp in &assigned {
        match statuses.get(tp) {
            None
            | Some(PartStatus {
                phase: Phase::Restoring,
                ..
            }) => {
                behind.push(format!("{}/{} (restoring)", tp.0, tp.1));
                continue;
            }
            Some(PartStatus {
                phase: Phase::CatchingUp,
                position,
                target,
                ..
            }) => {
                behind.push(format!(
                    "{}/{} (re-applying, offset {position} of {target})",
                    tp.0, tp.1
                ));
                continue;
            }
            Some(_) => {}
        }
        let lag_ok = lags
            .get(tp)
            .is_some_and(|l| *l <= st.cfg.http.ready_max_lag);
        let wm_ok = snaps
            .iter()
            .find(|(t, _)| t == tp)
            .and_then(|(_, s)| s.watermark_ms())
            .is_some_and(|wm| now - wm as f64 / 1000.0 <= max_wm_lag);
        if !(lag_ok || wm_ok) {
            behind.push(format!("{}/{}", tp.0, tp.1));
        }
    }
    if behind.is_empty() {
        (
            StatusCode::OK,
            format!("ready: {} partitions{down}\n", assigned.len()),
        )
            .into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: catching up on {}{down}\n", behind.join(", ")),
        )
            .into_response()
    }
}

async fn index() -> Html<&'static str> {
    Html(concat!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>frontline</title></head>",
        "<body><h1>frontline</h1><p>Customer-support KPIs from a stream of events.</p><ul>",
        "<li><a href=\"/metrics\">/metrics</a> — Prometheus exposition</li>",
        "<li><a href=\"/healthz\">/healthz</a> — process alive</li>",
        "<li><a href=\"/readyz\">/readyz</a> — partitions assigned and caught up</li>",
        "</ul></body></html>"
    ))
}
