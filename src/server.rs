//! HTTP: `/metrics` (Prometheus text, or OpenMetrics when asked for),
//! `/healthz`, `/readyz`, and a landing page at `/`.
//!
//! Served by hyper directly (not `axum::serve`) so that each connection gets
//! TLS from the current [`Watcher`] state, a handshake-and-headers deadline,
//! a write deadline, and header limits; a bound on connections and on
//! concurrent scrapes keeps a slow or hostile client from stalling
//! Prometheus (docs/operations.md, "Request limits").

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::sync::{watch, Semaphore};

use crate::config::Config;
use crate::export;
use crate::hub::{PartStatus, Phase, SnapshotHub};
use crate::metrics::Only;
use crate::process_metrics::{refused, Refusal};
use crate::webconfig::Watcher;

mod conn;

use conn::{
    connection, handshake, http1_builder, raise_open_file_limit, AcceptFailures, WriteDeadline,
};

/// Shared by the handlers.
#[derive(Clone)]
pub struct AppState {
    /// Published snapshots.
    pub hub: Arc<SnapshotHub>,
    /// Readiness bounds and request limits.
    pub cfg: Arc<Config>,
    /// TLS, basic auth and headers from the web config file, if one is given.
    pub web: Option<Arc<Watcher>>,
}

/// Concurrency bounds, shared by every connection.
#[derive(Clone)]
struct Gates {
    /// `/metrics` requests being answered.
    scrapes: Arc<Semaphore>,
    /// `/api/summary` requests being answered (each merges every
    /// partition's snapshot, as a scrape does).
    summaries: Arc<Semaphore>,
    /// bcrypt verifications running (each is tens of milliseconds of CPU).
    bcrypt: Arc<Semaphore>,
    /// The client addresses with a bcrypt verification running: one each,
    /// so that one client guessing passwords holds at most one of the
    /// [`BCRYPT_AT_ONCE`] and a scraper whose credentials are not cached
    /// yet (after a restart) still gets its check.
    checking: Arc<std::sync::Mutex<std::collections::HashSet<IpAddr>>>,
}

/// A request as hyper reads it off a connection.
type IncomingRequest = hyper::Request<hyper::body::Incoming>;

/// The address of the client of a connection, put in each of its
/// requests' extensions.
#[derive(Clone, Copy)]
struct Peer(IpAddr);

/// A client address's turn at bcrypt, given back when dropped.
struct Checking {
    set: Arc<std::sync::Mutex<std::collections::HashSet<IpAddr>>>,
    ip: IpAddr,
}

impl Checking {
    /// The turn of `ip`, unless it has one already.
    fn take(
        set: &Arc<std::sync::Mutex<std::collections::HashSet<IpAddr>>>,
        ip: IpAddr,
    ) -> Option<Checking> {
        crate::locks::lock(set).insert(ip).then(|| Checking {
            set: set.clone(),
            ip,
        })
    }
}

impl Drop for Checking {
    fn drop(&mut self) {
        crate::locks::lock(&self.set).remove(&self.ip);
    }
}

/// bcrypt checks at once; more wait for none and get 503.
const BCRYPT_AT_ONCE: usize = 2;

/// The routes.
pub fn router(state: AppState) -> Router {
    let at_once = state.cfg.http.max_concurrent_scrapes;
    let gates = Gates {
        scrapes: Arc::new(Semaphore::new(at_once)),
        summaries: Arc::new(Semaphore::new(at_once)),
        bcrypt: Arc::new(Semaphore::new(BCRYPT_AT_ONCE)),
        checking: Arc::default(),
    };
    routes(state, gates)
}

fn routes(state: AppState, gates: Gates) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/api/summary", get(api_summary))
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .layer(axum::middleware::from_fn_with_state(
            (state.clone(), gates.clone()),
            guard,
        ))
        .layer(axum::Extension(gates))
        .with_state(state)
}

/// The `503` a request past `http.max_concurrent_scrapes` gets at once
/// rather than queueing. A request let in takes its gate's permit with its
/// work to the blocking thread, so a client that hangs up does not free it
/// before that work ends.
fn busy(why: Refusal) -> Response {
    refused(why);
    let text = match why {
        Refusal::Summaries => {
            "too many concurrent live-page summaries (http.max_concurrent_scrapes)\n"
        }
        _ => "too many concurrent scrapes (http.max_concurrent_scrapes)\n",
    };
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, "1")],
        text,
    )
        .into_response()
}

/// Request body limit, basic auth and the configured response headers.
async fn guard(State((st, gates)): State<(AppState, Gates)>, req: Request, next: Next) -> Response {
    let web = st.web.as_ref().map(|w| w.current());
    let peer = req.extensions().get::<Peer>().map(|p| p.0);
    let verdict = check(
        &st,
        &gates,
        web.as_deref(),
        req.headers(),
        req.uri().path(),
        peer,
    )
    .await;
    let mut resp = match verdict {
        Ok(()) => next.run(req).await,
        Err(r) => r,
    };
    if let Some(w) = &web {
        for (k, v) in &w.headers {
            resp.headers_mut().insert(k.clone(), v.clone());
        }
    }
    resp
}

async fn check(
    st: &AppState,
    gates: &Gates,
    web: Option<&crate::webconfig::WebState>,
    h: &HeaderMap,
    path: &str,
    peer: Option<IpAddr>,
) -> Result<(), Response> {
    let max_body = st.cfg.http.max_body_bytes;
    let length = h
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if length.is_some_and(|n| n > max_body) || h.contains_key(header::TRANSFER_ENCODING) {
        refused(Refusal::TooLarge);
        return Err((
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body over {max_body} bytes (http.max_body_bytes)\n"),
        )
            .into_response());
    }
    let Some(users) = web.and_then(|w| w.users.clone()) else {
        return Ok(());
    };
    if path == "/healthz" && st.cfg.http.healthz_open {
        return Ok(());
    }
    let unauthorized = || {
        refused(Refusal::Unauthorized);
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic"))],
            "Unauthorized\n",
        )
            .into_response()
    };
    let Some((user, password)) = basic_credentials(h) else {
        return Err(unauthorized());
    };
    let ok = users.cached(&user, &password) || {
        let busy = |why: &str| {
            refused(Refusal::PasswordChecks);
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::RETRY_AFTER, "1")],
                format!("{why}\n"),
            )
                .into_response()
        };
        let turn = match peer {
            Some(ip) => match Checking::take(&gates.checking, ip) {
                Some(turn) => Some(turn),
                None => return Err(busy("a password check from this address is running")),
            },
            None => None,
        };
        let Ok(permit) = gates.bcrypt.clone().try_acquire_owned() else {
            return Err(busy("too many password checks at once"));
        };
        tokio::task::spawn_blocking(move || {
            let _held = (permit, turn);
            users.verify(&user, &password)
        })
        .await
        .unwrap_or(false)
    };
    if ok {
        Ok(())
    } else {
        Err(unauthorized())
    }
}

/// `Authorization: Basic base64(user:password)`.
fn basic_credentials(h: &HeaderMap) -> Option<(String, String)> {
    use base64::Engine;
    let v = h.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, b64) = v.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (u, p) = text.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

/// Serves `app` on `listener` until `shutdown` turns true: TLS when the web
/// config has it, and the limits of `[http]`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    web: Option<Arc<Watcher>>,
    cfg: &crate::config::HttpConfig,
    mut shutdown: watch::Receiver<bool>,
) {
    raise_open_file_limit(cfg.max_connections);
    let conns = Arc::new(Semaphore::new(cfg.max_connections));
    let mut accept_failures = AcceptFailures::default();
    let read_timeout = Duration::from_millis(cfg.read_timeout.ms() as u64);
    let write_timeout = Duration::from_millis(cfg.write_timeout.ms() as u64);
    let builder = Arc::new(http1_builder(cfg, read_timeout));
    if let Some(w) = &web {
        w.spawn(Duration::from_secs(1));
    }
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = shutdown.changed() => break,
        };
        let (tcp, peer) = match accepted {
            Ok((tcp, peer)) => (tcp, Peer(peer.ip())),
            Err(e) => {
                // Out of file descriptors, typically: wait rather than spin.
                accept_failures.failed(&e);
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = conns.clone().try_acquire_owned() else {
            refused(Refusal::Connections);
            drop(tcp);
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let tls = web.as_ref().and_then(|w| w.current().tls.clone());
        let (builder, stop) = (builder.clone(), shutdown.clone());
        let app = tower::ServiceExt::map_request(app.clone(), move |mut req: IncomingRequest| {
            req.extensions_mut().insert(peer);
            req
        });
        tokio::spawn(async move {
            let _permit = permit;
            match tls {
                Some(tls) => {
                    let Some(stream) = handshake(tcp, tls, read_timeout).await else {
                        return;
                    };
                    connection(
                        &builder,
                        WriteDeadline::new(stream, write_timeout),
                        app,
                        stop,
                    )
                    .await
                }
                None => {
                    connection(&builder, WriteDeadline::new(tcp, write_timeout), app, stop).await
                }
            }
        });
    }
}

fn wall_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// Whether a scraper asked for OpenMetrics: named with a weight above 0
/// and at least that of the text format (`text/plain`, `text/*` or
/// `*/*`), so `text/plain;q=1, application/openmetrics-text;q=0.1` gets
/// the text format, and Prometheus's default order gets OpenMetrics.
fn wants_openmetrics(headers: &HeaderMap) -> bool {
    let (mut om, mut text) = (0.0f64, 0.0f64);
    for (media, q) in weighed(headers, header::ACCEPT) {
        match media.as_str() {
            "application/openmetrics-text" => om = om.max(q),
            "text/plain" | "text/*" | "*/*" => text = text.max(q),
            _ => {}
        }
    }
    om > 0.0 && om >= text
}

/// Whether a scraper takes gzip (`Accept-Encoding`, RFC 9110 §12.5.3):
/// `gzip` (or `x-gzip`) with a weight above 0, or else `*` with one; so
/// `gzip;q=0` refuses it even beside `*`.
fn accepts_gzip(headers: &HeaderMap) -> bool {
    let (mut gzip, mut any) = (None::<f64>, None::<f64>);
    for (coding, q) in weighed(headers, header::ACCEPT_ENCODING) {
        match coding.as_str() {
            "gzip" | "x-gzip" => gzip = Some(gzip.map_or(q, |g| g.max(q))),
            "*" => any = Some(any.map_or(q, |a| a.max(q))),
            _ => {}
        }
    }
    gzip.or(any).is_some_and(|q| q > 0.0)
}

/// The elements of every `name` header (`Accept`, `Accept-Encoding`),
/// lower-cased, each with its weight: its `q=` within 0–1, 1 when it has
/// none. A `q=` that is not a number weighs 0, as a client that wrote it
/// cannot be said to want the element.
fn weighed(
    headers: &HeaderMap,
    name: header::HeaderName,
) -> impl Iterator<Item = (String, f64)> + '_ {
    headers
        .get_all(name)
        .into_iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|element| {
            let mut parts = element.split(';').map(str::trim);
            let token = parts.next().unwrap_or("").to_ascii_lowercase();
            let q = parts
                .find_map(|p| p.strip_prefix("q=").or_else(|| p.strip_prefix("Q=")))
                .map_or(1.0, |q| q.parse::<f64>().unwrap_or(0.0))
                .clamp(0.0, 1.0);
            (token, q)
        })
}

/// The families named by a query string's `name[]` parameters
/// (`name[]=a&name%5B%5D=b`); every family when there are none. Other
/// parameters are ignored.
fn only_from_query(query: Option<&str>) -> Only {
    Only::names(query.unwrap_or("").split('&').filter_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (crate::live::percent_decode(k) == "name[]").then(|| crate::live::percent_decode(v))
    }))
}

async fn metrics(
    State(st): State<AppState>,
    axum::Extension(gates): axum::Extension<Gates>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let Ok(permit) = gates.scrapes.try_acquire_owned() else {
        return busy(Refusal::Scrapes);
    };
    let om = wants_openmetrics(&headers);
    let gzip = accepts_gzip(&headers);
    let only = only_from_query(uri.query());
    let hub = st.hub.clone();
    // Merging, encoding and compressing take milliseconds to tens of them:
    // not on the runtime's worker threads, which apply the partitions'
    // events (a scrape there stalls them, and what is applied shows up
    // later).
    let body = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let snap = hub.merged_only(wall_ms(), &only);
        let text = if om {
            export::openmetrics(snap)
        } else {
            export::prometheus_text(snap)
        };
        if gzip {
            export::gzip(&text)
        } else {
            text.into_bytes()
        }
    })
    .await;
    let Ok(body) = body else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let content_type = if om {
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    } else {
        "text/plain; version=0.0.4; charset=utf-8"
    };
    let mut response = ([(header::CONTENT_TYPE, content_type)], body).into_response();
    let h = response.headers_mut();
    h.insert(
        header::VARY,
        header::HeaderValue::from_static("Accept, Accept-Encoding"),
    );
    if gzip {
        h.insert(
            header::CONTENT_ENCODING,
            header::HeaderValue::from_static("gzip"),
        );
    }
    response
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
    if let Some((since, partitions)) = crate::kafka_log::dead_letters_failing() {
        // A partition with a bad message waits for its dead letter.
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "not ready: dead-letter writes failing for {} s on {}{down}\n",
                (wall_ms() - since).max(0) / 1000,
                partitions.join(", ")
            ),
        )
            .into_response();
    }
    let behind = partitions_behind(&st, &assigned);
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

/// The assigned partitions `/readyz` waits for, as it names them:
/// restoring, re-applying, or neither within the lag nor the watermark
/// bound.
fn partitions_behind(st: &AppState, assigned: &[crate::hub::TopicPartition]) -> Vec<String> {
    let lags = st.hub.lags();
    let snaps = st.hub.snapshots();
    let statuses = st.hub.statuses();
    let now = wall_ms() as f64 / 1000.0;
    let max_wm_lag = st.cfg.http.ready_max_watermark_lag.ms() as f64 / 1000.0;
    let mut behind = Vec::new();
    for tp in assigned {
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
    behind
}

/// The live page (src/live/page.html, compiled in).
async fn index() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        crate::live::PAGE,
    )
        .into_response()
}

/// The live page's data (docs/operations.md, "The live page").
async fn api_summary(
    State(st): State<AppState>,
    axum::Extension(gates): axum::Extension<Gates>,
    uri: Uri,
) -> Response {
    let Ok(permit) = gates.summaries.try_acquire_owned() else {
        return busy(Refusal::Summaries);
    };
    let q = crate::live::Query::parse(uri.query());
    let (hub, cfg) = (st.hub.clone(), st.cfg.clone());
    // As for /metrics: the merge is not done on the runtime's worker threads.
    let doc = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let now = wall_ms();
        let snap = hub.merged(now);
        crate::live::summary(&snap, &hub.trends, &q, &cfg.windows, now).map(|doc| doc.to_string())
    })
    .await;
    let Ok(doc) = doc else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    match doc {
        Ok(doc) => (
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            doc,
        )
            .into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use std::io;
    use tower::ServiceExt;

    /// Defect: `/api/summary` had no bound: a flood of it ran up to 512
    /// merges at once on blocking threads (1.5 GB in a review's run) and
    /// slowed `/metrics`. Both are bounded, each by its own gate.
    #[tokio::test]
    async fn scrapes_and_summaries_past_the_bound_get_503_at_once() {
        let gates = Gates {
            scrapes: Arc::new(Semaphore::new(1)),
            summaries: Arc::new(Semaphore::new(1)),
            bcrypt: Arc::new(Semaphore::new(1)),
            checking: Arc::default(),
        };
        let app = routes(
            AppState {
                hub: Arc::new(SnapshotHub::new()),
                cfg: Arc::new(Config::default()),
                web: None,
            },
            gates.clone(),
        );
        let status = |path: &'static str| {
            let app = app.clone();
            async move {
                let r = app
                    .oneshot(Request::get(path).body(Body::empty()).unwrap())
                    .await
                    .unwrap();
                (r.status(), r.headers().get(header::RETRY_AFTER).cloned())
            }
        };
        for (path, gate) in [
            ("/metrics", &gates.scrapes),
            ("/api/summary", &gates.summaries),
        ] {
            assert_eq!(status(path).await.0, StatusCode::OK, "{path}");
            // A request being answered holds the only permit: the next is
            // turned away at once, and the other gate is not taken.
            let held = gate.clone().try_acquire_owned().unwrap();
            let (busy, retry) = status(path).await;
            assert_eq!(busy, StatusCode::SERVICE_UNAVAILABLE, "{path}");
            assert_eq!(retry.unwrap(), "1");
            let other = if path == "/metrics" {
                "/api/summary"
            } else {
                "/metrics"
            };
            assert_eq!(status(other).await.0, StatusCode::OK, "{other}");
            drop(held);
            assert_eq!(status(path).await.0, StatusCode::OK, "{path}");
        }
    }

    /// Defect: two bcrypt checks ran at once server-wide, so one client
    /// guessing passwords from a few threads held both, and a Prometheus
    /// whose credentials were not cached yet (after a restart) got 503
    /// until it stopped. A client address now has one check at a time.
    #[tokio::test]
    async fn one_password_check_at_a_time_per_client_address() {
        use base64::Engine as _;
        let dir = tempfile::tempdir().unwrap();
        let web = dir.path().join("web.yml");
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        std::fs::write(&web, format!("basic_auth_users:\n  prom: '{hash}'\n")).unwrap();
        let gates = Gates {
            scrapes: Arc::new(Semaphore::new(1)),
            summaries: Arc::new(Semaphore::new(1)),
            bcrypt: Arc::new(Semaphore::new(BCRYPT_AT_ONCE)),
            checking: Arc::default(),
        };
        let app = routes(
            AppState {
                hub: Arc::new(SnapshotHub::new()),
                cfg: Arc::new(Config::default()),
                web: Some(Watcher::new(&web).unwrap()),
            },
            gates.clone(),
        );
        let auth = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("prom:s3cret")
        );
        let get = |ip: Option<&str>| {
            let mut req = Request::get("/healthz")
                .header(header::AUTHORIZATION, auth.as_str())
                .body(Body::empty())
                .unwrap();
            if let Some(ip) = ip {
                req.extensions_mut().insert(Peer(ip.parse().unwrap()));
            }
            let app = app.clone();
            async move {
                let r = app.oneshot(req).await.unwrap();
                let status = r.status();
                let body = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
                (status, String::from_utf8(body.to_vec()).unwrap())
            }
        };
        // 10.0.0.9 has a check running (a guess): its next waits for none.
        let guessing = Checking::take(&gates.checking, "10.0.0.9".parse().unwrap()).unwrap();
        let (status, body) = get(Some("10.0.0.9")).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body, "a password check from this address is running\n");
        // Another address is checked, and its credentials cached.
        assert_eq!(get(Some("10.0.0.2")).await, (StatusCode::OK, "ok\n".into()));
        // Cached credentials need no check, whatever the address.
        assert_eq!(get(Some("10.0.0.9")).await.0, StatusCode::OK);
        // The turn is given back when the check ends.
        drop(guessing);
        assert!(crate::locks::lock(&gates.checking).is_empty());
    }

    #[test]
    fn openmetrics_is_chosen_by_the_accept_weights() {
        let wants = |accept: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::ACCEPT, accept.parse().unwrap());
            wants_openmetrics(&h)
        };
        // Prometheus's own order, and OpenMetrics alone.
        assert!(wants(
            "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
        ));
        assert!(wants("application/openmetrics-text; version=1.0.0"));
        // The text format preferred, OpenMetrics refused, or not named.
        assert!(!wants("text/plain;q=1, application/openmetrics-text;q=0.1"));
        assert!(!wants("application/openmetrics-text;q=0"));
        assert!(!wants("*/*"));
        assert!(!wants("text/plain; version=0.0.4"));
        assert!(!wants_openmetrics(&HeaderMap::new()));
    }

    #[test]
    fn gzip_is_chosen_by_the_accept_encoding_weights() {
        let takes = |codings: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::ACCEPT_ENCODING, codings.parse().unwrap());
            accepts_gzip(&h)
        };
        // Prometheus's own header, and others that take gzip.
        assert!(takes("gzip"));
        assert!(takes("deflate, GZIP;q=0.5"));
        assert!(takes("x-gzip"));
        assert!(takes("br;q=1, *;q=0.1"));
        // Refused, refused beside `*`, not named, or weighed unreadably.
        assert!(!takes("gzip;q=0"));
        assert!(!takes("gzip;q=0, *"));
        assert!(!takes("identity"));
        assert!(!takes("br, deflate"));
        assert!(!takes("gzip;q=high"));
        assert!(!accepts_gzip(&HeaderMap::new()));
        // The same weights decide between the formats.
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCEPT,
            "application/openmetrics-text;q=x, text/plain"
                .parse()
                .unwrap(),
        );
        assert!(!wants_openmetrics(&h));
    }

    /// A scraper that takes gzip gets the exposition it would get without,
    /// gzipped and said to be; one that does not gets it plain.
    #[tokio::test]
    async fn metrics_are_gzipped_for_a_scraper_that_takes_it() {
        use crate::engine::Engine;
        use crate::simulate::{SimConfig, Simulator};
        let cfg = Config::default();
        let mut e = Engine::new(&cfg);
        for ev in Simulator::new(SimConfig::default()).take(2_000) {
            e.apply(crate::decode::decode(ev.json.as_bytes(), 1 << 20).unwrap());
        }
        e.flush();
        let hub = Arc::new(SnapshotHub::new());
        hub.publish(&("t".into(), 0), Arc::new(e.snapshot(None)));
        let app = router(AppState {
            hub,
            cfg: Arc::new(cfg),
            web: None,
        });
        let get = |codings: Option<&'static str>| {
            let app = app.clone();
            async move {
                // Families that do not change between two scrapes.
                let mut req = Request::get(
                    "/metrics?name[]=support_tickets_created_total&name[]=support_first_response_seconds",
                );
                if let Some(c) = codings {
                    req = req.header(header::ACCEPT_ENCODING, c);
                }
                let r = app.oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
                assert_eq!(r.status(), StatusCode::OK);
                assert_eq!(r.headers()[header::VARY], "Accept, Accept-Encoding");
                let encoding = r.headers().get(header::CONTENT_ENCODING).cloned();
                let body = axum::body::to_bytes(r.into_body(), 1 << 26).await.unwrap();
                (encoding, body.to_vec())
            }
        };
        let (none, plain) = get(None).await;
        assert_eq!(none, None);
        let plain = String::from_utf8(plain).unwrap();
        assert!(
            plain.contains("support_first_response_seconds_bucket{"),
            "{plain}"
        );
        let (gz, body) = get(Some("gzip, deflate")).await;
        assert_eq!(gz.unwrap(), "gzip");
        let mut text = String::new();
        use std::io::Read;
        flate2::read::GzDecoder::new(&body[..])
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, plain);
        assert!(
            body.len() * 4 < plain.len(),
            "{} of {}",
            body.len(),
            plain.len()
        );
        let (refused, body) = get(Some("gzip;q=0")).await;
        assert_eq!(refused, None);
        assert_eq!(String::from_utf8(body).unwrap(), plain);
    }

    #[test]
    fn names_come_from_name_brackets_plain_or_percent_encoded() {
        let o = only_from_query(Some(
            "name[]=support_tickets_created_total&x=1&name%5B%5D=support_tickets_open&name[]=",
        ));
        assert!(!o.is_all());
        assert!(o.wants("support_tickets_created", crate::metrics::Kind::Counter));
        assert!(o.wants("support_tickets_open", crate::metrics::Kind::Gauge));
        assert!(!o.wants("support_tickets_resolved", crate::metrics::Kind::Counter));
        for q in [None, Some(""), Some("name[]="), Some("collect[]=x&y")] {
            assert!(only_from_query(q).is_all(), "{q:?}");
        }
    }

    /// A scrape with `name[]` is, family for family, the full scrape's lines
    /// of the families it names: in both formats, asked for by a family's
    /// name or a sample name, several at once, none for an unknown name.
    #[tokio::test]
    async fn a_scrape_for_named_families_has_exactly_their_lines_of_the_full_one() {
        use crate::engine::Engine;
        use crate::simulate::{SimConfig, Simulator};
        let cfg = Config::parse(include_str!("../tests/golden/sla/frontline.toml")).unwrap();
        let hub = Arc::new(SnapshotHub::new());
        for p in 0..2 {
            let mut e = Engine::new(&cfg);
            for ev in Simulator::new(SimConfig::default()).take(3_000 + 1_000 * p) {
                e.apply(crate::decode::decode(ev.json.as_bytes(), 1 << 20).unwrap());
            }
            e.flush();
            hub.publish(&("t".into(), p as i32), Arc::new(e.snapshot(None)));
        }
        let app = router(AppState {
            hub,
            cfg: Arc::new(Config::default()),
            web: None,
        });
        let get = |path: String, om: bool| {
            let app = app.clone();
            async move {
                let mut req = Request::get(path);
                if om {
                    req = req.header(header::ACCEPT, "application/openmetrics-text");
                }
                let r = app.oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
                assert_eq!(r.status(), StatusCode::OK);
                let body = axum::body::to_bytes(r.into_body(), 1 << 26).await.unwrap();
                String::from_utf8(body.to_vec()).unwrap()
            }
        };
        for om in [false, true] {
            let eof = if om { "# EOF\n" } else { "" };
            let full = get("/metrics".into(), om).await;
            // Each family's block: from its `# HELP` line to the next one.
            let mut blocks: Vec<(String, String)> = Vec::new();
            for line in full.lines().filter(|l| *l != "# EOF") {
                if let Some(rest) = line.strip_prefix("# HELP ") {
                    let name = rest.split(' ').next().unwrap().to_string();
                    blocks.push((name, String::new()));
                }
                let block = &mut blocks.last_mut().expect("a # HELP line first").1;
                block.push_str(line);
                block.push('\n');
            }
            let support: Vec<_> = blocks
                .iter()
                .filter(|(n, _)| n.starts_with("support_"))
                .collect();
            assert!(support.len() >= 30, "{} support families", support.len());
            for want in [
                "support_window_events",
                "support_tickets_created",
                "support_first_response_seconds",
            ] {
                assert!(
                    support
                        .iter()
                        .any(|(n, _)| n.trim_end_matches("_total") == want),
                    "{want} in the full scrape"
                );
            }
            for (name, block) in &support {
                let got = get(format!("/metrics?name[]={name}"), om).await;
                assert_eq!(got, format!("{block}{eof}"), "{name}, openmetrics {om}");
            }
            // By a sample name, two at once, brackets percent-encoded: in
            // the full scrape's order whatever the order asked.
            let (h, c) = ("support_first_response_seconds", "support_tickets_created");
            let block = |n: &str| {
                let b = blocks
                    .iter()
                    .find(|(b, _)| b.trim_end_matches("_total") == n);
                b.unwrap().1.clone()
            };
            let got = get(
                format!("/metrics?name%5B%5D={h}_bucket&x=1&name[]={c}_total"),
                om,
            )
            .await;
            let (first, second) = if full.find(h) < full.find(c) {
                (h, c)
            } else {
                (c, h)
            };
            assert_eq!(got, format!("{}{}{eof}", block(first), block(second)));
            // The runtime's own families filter too.
            let own = get("/metrics?name[]=frontline_rebalances_total".into(), om).await;
            assert!(own.lines().count() >= 3, "{own}");
            for line in own.lines().filter(|l| *l != "# EOF") {
                assert!(
                    line.contains(" frontline_rebalances")
                        || line.starts_with("frontline_rebalances"),
                    "{line}"
                );
            }
            assert_eq!(get("/metrics?name[]=no_such_family".into(), om).await, eof);
        }
    }

    /// `/api/summary` against hand-computed values of a small scenario and
    /// against the samples `/metrics` shows for the same hub.
    #[tokio::test]
    async fn api_summary_matches_the_engine_and_metrics() {
        use crate::engine::Engine;
        const T0: i64 = 1_794_819_600_000;
        let cfg = Config::parse(
            "[kpi_targets]\ncsat = 0.8\nfirst_response_p50 = 600\nabandonment = 0.5\n\
             [[sla.policies]]\nname = \"std\"\nfirst_response = \"1h\"\nresolution = \"8h\"\n",
        )
        .unwrap();
        let mut e = Engine::new(&cfg);
        let mut n = 0;
        let mut ev = |e: &mut Engine, ty: &str, at_s: i64, f: &str| {
            n += 1;
            let json = format!(
                r#"{{"event_id":"e{n}","type":"{ty}","ts":{},{f}}}"#,
                T0 + at_s * 1000
            );
            let ev = crate::decode::decode(json.as_bytes(), 65536).unwrap();
            e.admit(ev, T0 + 365 * 86_400_000).unwrap();
        };
        let created =
            r#""customer_id":"c","channel":"email","priority":"normal","queue":"billing""#;
        for t in ["T1", "T2", "T3"] {
            ev(
                &mut e,
                "ticket.created",
                0,
                &format!(r#""ticket_id":"{t}",{created}"#),
            );
        }
        // First responses after 300 s and 900 s; T3 waits.
        ev(
            &mut e,
            "ticket.agent_replied",
            300,
            r#""ticket_id":"T1","agent_id":"a""#,
        );
        ev(
            &mut e,
            "ticket.agent_replied",
            900,
            r#""ticket_id":"T2","agent_id":"a""#,
        );
        // CSAT: 5 and 4 are positive, 2 is not: 2/3, under its 0.8 target.
        for s in [5, 4, 2] {
            ev(
                &mut e,
                "survey.csat",
                1000,
                &format!(r#""score":{s},"ticket_id":"T1""#),
            );
        }
        e.flush();
        let hub = Arc::new(SnapshotHub::new());
        hub.publish(&("t".into(), 0), Arc::new(e.snapshot(None)));
        let app = router(AppState {
            hub,
            cfg: Arc::new(Config::default()),
            web: None,
        });
        let get = |path: &str| {
            let app = app.clone();
            let path = path.to_string();
            async move {
                let r = app
                    .oneshot(Request::get(path).body(Body::empty()).unwrap())
                    .await
                    .unwrap();
                let status = r.status();
                let body = axum::body::to_bytes(r.into_body(), 1 << 24).await.unwrap();
                (status, String::from_utf8(body.to_vec()).unwrap())
            }
        };
        let (status, body) = get("/api/summary?window=1h").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let (_, metrics) = get("/metrics").await;
        let sample = |name: &str, want: &[&str]| -> f64 {
            metrics
                .lines()
                .find(|l| l.starts_with(name) && want.iter().all(|w| l.contains(w)))
                .and_then(|l| l.rsplit_once(' ')?.1.parse().ok())
                .unwrap_or_else(|| panic!("{name} {want:?} not on /metrics"))
        };
        let kpi = |k: &str| {
            v["kpis"]
                .as_array()
                .unwrap()
                .iter()
                .find(|x| x["kpi"] == k)
                .unwrap()
                .clone()
        };
        assert_eq!(v["schema_version"], 1);
        assert_eq!(v["window"], "1h");
        // CSAT 2/3 by hand, and as /metrics has it; off its target.
        let csat = kpi("csat");
        assert_eq!(csat["value"].as_f64(), Some(2.0 / 3.0));
        assert_eq!(
            csat["value"].as_f64(),
            Some(sample(
                "support_window_ratio{",
                &["kpi=\"csat\"", "window=\"1h\""]
            ))
        );
        assert_eq!(csat["target"].as_f64(), Some(0.8));
        assert_eq!(csat["meets_target"], false);
        // First response p50 of {300, 900} is 300 s (nearest rank), within its 600 s target (lower is better).
        let fr = kpi("first_response_p50");
        assert_eq!(fr["value"].as_f64(), Some(300.0));
        assert_eq!(
            fr["value"].as_f64(),
            Some(sample(
                "support_window_seconds{",
                &[
                    "metric=\"first_response\"",
                    "window=\"1h\"",
                    "quantile=\"0.5\""
                ]
            ))
        );
        assert_eq!(fr["meets_target"], true);
        assert_eq!(kpi("first_response_p90")["value"].as_f64(), Some(900.0));
        // No calls: no abandonment value, so no verdict either.
        assert_eq!(kpi("abandonment")["value"], serde_json::Value::Null);
        assert_eq!(kpi("abandonment")["meets_target"], serde_json::Value::Null);
        // Right now: three open tickets; T3's first response clock is the
        // only one open, due an hour after creation; the resolution clocks of all three follow.
        assert_eq!(v["now"]["tickets_open"].as_f64(), Some(3.0));
        assert_eq!(
            v["now"]["tickets_open"].as_f64(),
            Some(sample("support_tickets_open{", &["queue=\"billing\""]))
        );
        let due = v["closest_to_breach"].as_array().unwrap();
        assert_eq!(due[0]["id"], "T3");
        assert_eq!(due[0]["clock"], "first_response");
        assert_eq!(due[0]["policy"], "std");
        assert_eq!(due[0]["due_ms"].as_i64(), Some(T0 + 3_600_000));
        assert_eq!(due[0]["time_left_seconds"].as_f64(), Some(3600.0 - 1000.0));
        let rest: Vec<(&str, &str)> = due[1..]
            .iter()
            .map(|d| (d["id"].as_str().unwrap(), d["clock"].as_str().unwrap()))
            .collect();
        assert_eq!(
            rest,
            [
                ("T1", "resolution"),
                ("T2", "resolution"),
                ("T3", "resolution")
            ]
        );
        // Filters: another queue keeps nothing of the gauges or the list.
        let (_, other) = get("/api/summary?window=1h&queue=sales").await;
        let o: serde_json::Value = serde_json::from_str(&other).unwrap();
        assert_eq!(o["now"]["tickets_open"].as_f64(), Some(0.0));
        assert!(o["closest_to_breach"].as_array().unwrap().is_empty());
        // An unknown window is refused by name.
        let (status, body) = get("/api/summary?window=7d").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body.contains("\"7d\""), "{body}");
        // The page is served, small and self-contained.
        let (status, page) = get("/").await;
        assert_eq!(status, StatusCode::OK);
        // Nothing is loaded from elsewhere (the SVG namespace is a name, not a
        // fetch). Its icon is an empty data URL, so that the browser does not
        // ask for /favicon.ico (a 404 in its console).
        assert!(page.contains("api/summary"));
        const ICON: &str = r#"<link rel="icon" href="data:,">"#;
        assert!(page.contains(ICON));
        let page = page.replace(ICON, "");
        for external in ["src=", "href=", "<link", "url(", "@import"] {
            assert!(!page.contains(external), "the page loads {external}");
        }
    }

    /// A message waits for its dead letter (nothing is dropped), so while
    /// dead-letter writes fail its partition is stuck: not ready.
    #[tokio::test]
    async fn failing_dead_letter_writes_make_the_instance_not_ready() {
        let hub = Arc::new(SnapshotHub::new());
        hub.set_assigned(vec![("t".into(), 0)]);
        let app = router(AppState {
            hub,
            cfg: Arc::new(Config::default()),
            web: None,
        });
        let ready = || async {
            let r = app
                .clone()
                .oneshot(Request::get("/readyz").body(Body::empty()).unwrap())
                .await
                .unwrap();
            let status = r.status();
            let body = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
            (status, String::from_utf8(body.to_vec()).unwrap())
        };
        let (t3, t5) = (("events".to_string(), 3), ("events".to_string(), 5));
        crate::kafka_log::dead_letter_failed(&t5, wall_ms() - 4_000);
        crate::kafka_log::dead_letter_failed(&t3, wall_ms() - 12_000);
        // A later failure of the same partition does not restart its time.
        crate::kafka_log::dead_letter_failed(&t3, wall_ms());
        let (status, body) = ready().await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            body.starts_with(
                "not ready: dead-letter writes failing for 12 s on events/3, events/5"
            ),
            "{body}"
        );
        crate::kafka_log::dead_letter_done(&t3);
        let (_, body) = ready().await;
        assert!(
            body.starts_with("not ready: dead-letter writes failing for 4 s on events/5"),
            "{body}"
        );
        // A partition stopped while its dead letter waits is done too.
        crate::kafka_log::dead_letter_done(&t5);
        let (_, body) = ready().await;
        assert!(!body.contains("dead-letter"), "{body}");
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_refused() {
        let state = AppState {
            hub: Arc::new(SnapshotHub::new()),
            cfg: Arc::new(Config::default()),
            web: None,
        };
        let app = router(state);
        let req = |len: &str| {
            Request::get("/healthz")
                .header(header::CONTENT_LENGTH, len)
                .body(Body::empty())
                .unwrap()
        };
        let big = app.clone().oneshot(req("4097")).await.unwrap();
        assert_eq!(big.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let ok = app.oneshot(req("4096")).await.unwrap();
        assert_eq!(ok.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn a_write_that_makes_no_progress_times_out() {
        use tokio::io::AsyncWriteExt;
        // The other end never reads: the 64-byte pipe fills up.
        let (a, _b) = tokio::io::duplex(64);
        let mut w = WriteDeadline::new(a, Duration::from_millis(200));
        let e = w.write_all(&[0u8; 4096]).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        // While the reader keeps up, no deadline fires.
        let (a, mut b) = tokio::io::duplex(64);
        let mut w = WriteDeadline::new(a, Duration::from_millis(200));
        let reader = tokio::spawn(async move {
            use tokio::io::AsyncReadExt;
            let mut all = Vec::new();
            b.read_to_end(&mut all).await.map(|_| all.len())
        });
        w.write_all(&[1u8; 4096]).await.unwrap();
        w.shutdown().await.unwrap();
        drop(w);
        assert_eq!(reader.await.unwrap().unwrap(), 4096);
    }

    /// Defect: the deadline only caught a write with no progress at all, so
    /// a client reading a little now and then held its connection for as
    /// long as it liked. A response now has `limit` from its first write
    /// until a flush has written it all; time between responses (a handler
    /// at work, an idle keep-alive) does not count.
    #[tokio::test]
    async fn a_response_read_too_slowly_times_out_and_each_response_has_its_own_clock() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (a, mut b) = tokio::io::duplex(64);
        let mut w = WriteDeadline::new(a, Duration::from_millis(300));
        // 64 bytes every 50 ms: always some progress, 4096 bytes in 3.2 s.
        let slow = tokio::spawn(async move {
            let mut chunk = [0u8; 64];
            loop {
                tokio::time::sleep(Duration::from_millis(50)).await;
                if b.read(&mut chunk).await.map_or(true, |n| n == 0) {
                    return;
                }
            }
        });
        let t = std::time::Instant::now();
        let e = w.write_all(&[0u8; 4096]).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
        drop(w);
        slow.await.unwrap();
        // Responses each written within the limit, more than the limit apart
        // (a slow handler, or a client's next request): none times out, and
        // neither does a flush with nothing queued in between.
        let (a, _b) = tokio::io::duplex(1 << 16);
        let mut w = WriteDeadline::new(a, Duration::from_millis(300));
        for _ in 0..3 {
            w.flush().await.unwrap();
            tokio::time::sleep(Duration::from_millis(400)).await;
            w.flush().await.unwrap();
            w.write_all(b"response").await.unwrap();
            w.flush().await.unwrap();
        }
    }

    #[tokio::test]
    async fn connections_past_the_bound_are_closed_at_once() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut cfg = Config::default();
        cfg.http.max_connections = 2;
        let app = router(AppState {
            hub: Arc::new(SnapshotHub::new()),
            cfg: Arc::new(cfg.clone()),
            web: None,
        });
        let (stop_tx, stop) = watch::channel(false);
        let http = cfg.http.clone();
        let server = tokio::spawn(async move { serve(listener, app, None, &http, stop).await });
        let get = |mut s: tokio::net::TcpStream| async move {
            s.write_all(b"GET /healthz HTTP/1.0\r\n\r\n").await?;
            let mut out = String::new();
            s.read_to_string(&mut out).await?;
            io::Result::Ok(out)
        };
        // Two idle connections take both places...
        let held = [
            tokio::net::TcpStream::connect(addr).await.unwrap(),
            tokio::net::TcpStream::connect(addr).await.unwrap(),
        ];
        tokio::time::sleep(Duration::from_millis(100)).await;
        // ...so a third is closed without an answer,
        let third = tokio::net::TcpStream::connect(addr).await.unwrap();
        let answer = tokio::time::timeout(Duration::from_secs(5), get(third))
            .await
            .unwrap();
        assert!(!answer.is_ok_and(|a| a.contains("200 OK")));
        // and once they are gone, requests are served again.
        drop(held);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let answer = tokio::time::timeout(Duration::from_secs(5), get(s))
            .await
            .unwrap();
        assert!(answer.unwrap().starts_with("HTTP/1.0 200 OK"));
        let _ = stop_tx.send(true);
        tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .unwrap()
            .unwrap();
    }

    #[test]
    fn basic_credentials_are_parsed() {
        let mut h = HeaderMap::new();
        // base64("alice:pa:ss")
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic YWxpY2U6cGE6c3M="),
        );
        assert_eq!(
            basic_credentials(&h),
            Some(("alice".to_string(), "pa:ss".to_string()))
        );
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer YWxpY2U6cGE6c3M="),
        );
        assert_eq!(basic_credentials(&h), None);
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic !!!"));
        assert_eq!(basic_credentials(&h), None);
    }
}
