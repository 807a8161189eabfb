//! The web configuration file (`--web-config` / `http.web_config`): the
//! Prometheus exporter-toolkit format (`tls_server_config`,
//! `basic_auth_users`, `http_server_config`), so operators reuse the file
//! they already run for node_exporter.
//!
//! Loading builds a rustls [`ServerConfig`] and the basic-auth user table; a
//! [`Watcher`] re-reads the file and the files it names every second and
//! swaps in the new [`WebState`] when their contents change, so a renewed
//! certificate is served without a restart. A change that does not load is
//! logged and the previous state kept.
//!
//! What lives where: this file holds the file's format, [`load`] and the
//! [`Watcher`]; `tls.rs` builds the rustls config (versions, cipher suites,
//! client certificates); `users.rs` checks basic-auth passwords.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use rustls::ServerConfig;
use serde::Deserialize;
use sha2::{Digest, Sha256};

mod tls;
mod users;

use tls::build_tls;

/// The highest bcrypt cost taken. Each step doubles a check's time: cost
/// 10, the usual, takes tens of milliseconds; 16 takes seconds; 31 took
/// days of a core, and with two checks at once (`server::BCRYPT_AT_ONCE`)
/// held every login not already cached.
const MAX_BCRYPT_COST: u32 = 16;
pub use users::Users;

/// A web config that cannot be used: the key (as written in the file) and why.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("invalid web config {file}: key `{key}`: {reason}")]
pub struct WebConfigError {
    /// The file.
    pub file: String,
    /// The key, dotted (`tls_server_config.client_auth_type`).
    pub key: String,
    /// Why.
    pub reason: String,
}

/// The file as written (exporter-toolkit's `web.Config`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct WebFile {
    tls_server_config: Option<TlsFile>,
    http_server_config: Option<HttpServerFile>,
    #[serde(default)]
    basic_auth_users: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsFile {
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    client_ca_file: Option<PathBuf>,
    client_auth_type: Option<String>,
    min_version: Option<String>,
    max_version: Option<String>,
    cipher_suites: Option<Vec<String>>,
    curve_preferences: Option<Vec<String>>,
    /// rustls always prefers the server's order; accepted for compatibility.
    prefer_server_cipher_suites: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpServerFile {
    /// frontline serves HTTP/1.1 only; accepted for compatibility.
    http2: Option<bool>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

/// Client certificate policy, Go's `tls.ClientAuthType` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    /// No certificate asked for.
    NoClientCert,
    /// Asked for, not required, not verified.
    RequestClientCert,
    /// Required, not verified.
    RequireAnyClientCert,
    /// Verified against `client_ca_file` when one is sent.
    VerifyClientCertIfGiven,
    /// Required and verified against `client_ca_file`.
    RequireAndVerifyClientCert,
}

impl ClientAuth {
    fn parse(s: &str) -> Option<ClientAuth> {
        Some(match s {
            "" | "NoClientCert" => ClientAuth::NoClientCert,
            "RequestClientCert" => ClientAuth::RequestClientCert,
            // `RequireClientCert`: exporter-toolkit's older name, kept there.
            "RequireAnyClientCert" | "RequireClientCert" => ClientAuth::RequireAnyClientCert,
            "VerifyClientCertIfGiven" => ClientAuth::VerifyClientCertIfGiven,
            "RequireAndVerifyClientCert" => ClientAuth::RequireAndVerifyClientCert,
            _ => return None,
        })
    }
    /// Whether `to` asks less of a client than `self`: a certificate no
    /// longer required, or no longer verified.
    fn weakened_to(self, to: ClientAuth) -> bool {
        (self.requires() && !to.requires()) || (self.verifies() && !to.verifies())
    }
    fn requires(self) -> bool {
        matches!(
            self,
            ClientAuth::RequireAnyClientCert | ClientAuth::RequireAndVerifyClientCert
        )
    }
    fn verifies(self) -> bool {
        matches!(
            self,
            ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert
        )
    }
}

/// What the server applies, rebuilt on every change of the files.
pub struct WebState {
    /// TLS, when `tls_server_config` is present.
    pub tls: Option<Arc<ServerConfig>>,
    /// Its client certificate policy (`NoClientCert` without TLS).
    pub client_auth: ClientAuth,
    /// Basic auth, when `basic_auth_users` is not empty.
    pub users: Option<Arc<Users>>,
    /// Extra response headers (`http_server_config.headers`).
    pub headers: Vec<(axum::http::HeaderName, axum::http::HeaderValue)>,
}

impl std::fmt::Debug for WebState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebState")
            .field("tls", &self.tls.is_some())
            .field("users", &self.users.as_ref().map(|u| u.users.len()))
            .field("headers", &self.headers.len())
            .finish()
    }
}

/// Reads every file a web config names, for change detection: a digest of
/// the config file and the certificate, key and CA files.
fn fingerprint(file: &Path) -> [u8; 32] {
    let mut h = Sha256::new();
    let text = std::fs::read(file).unwrap_or_default();
    h.update(&text);
    if let Ok(parsed) = serde_norway::from_slice::<WebFile>(&text) {
        if let Some(t) = parsed.tls_server_config {
            let base = file.parent().unwrap_or(Path::new("."));
            for p in [t.cert_file, t.key_file, t.client_ca_file]
                .into_iter()
                .flatten()
            {
                h.update([0]);
                h.update(std::fs::read(base.join(p)).unwrap_or_default());
            }
        }
    }
    h.finalize().into()
}

fn err(file: &str, key: &str, reason: impl Into<String>) -> WebConfigError {
    WebConfigError {
        file: file.into(),
        key: key.into(),
        reason: reason.into(),
    }
}

/// The response headers a web config may set, with the values allowed where
/// they are a fixed set: exporter-toolkit's list, so that a file that loads
/// there loads here, and no header frontline writes itself (content type,
/// `WWW-Authenticate`, …) is replaced.
const EXTRA_HEADERS: [(&str, &[&str]); 5] = [
    ("Strict-Transport-Security", &[]),
    ("X-Content-Type-Options", &["nosniff"]),
    ("X-Frame-Options", &["deny", "sameorigin"]),
    ("X-XSS-Protection", &[]),
    ("Content-Security-Policy", &[]),
];

/// Whether `name: value` is one of [`EXTRA_HEADERS`] (names in any case).
fn check_header(file: &str, key: &str, name: &str, value: &str) -> Result<(), WebConfigError> {
    let Some((_, values)) = EXTRA_HEADERS
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
    else {
        let names: Vec<&str> = EXTRA_HEADERS.iter().map(|(n, _)| *n).collect();
        let msg = format!("this header cannot be set; one of {}", names.join(", "));
        return Err(err(file, key, msg));
    };
    if !values.is_empty() && !values.contains(&value) {
        return Err(err(file, key, format!("one of {}", values.join(", "))));
    }
    Ok(())
}

/// Loads and checks a web config file; paths in it are relative to its folder.
pub fn load(path: &Path) -> Result<WebState, WebConfigError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| err(&file, "(file)", e.to_string()))?;
    let parsed: WebFile = if text.trim().is_empty() {
        WebFile::default()
    } else {
        serde_norway::from_str(&text).map_err(|e| {
            let msg = e.to_string();
            // serde names the offending key in the message (`unknown field `x``).
            let key = msg
                .split_once("unknown field `")
                .and_then(|(_, r)| r.split_once('`'))
                .map(|(k, _)| k.to_string())
                .unwrap_or_else(|| "(syntax)".into());
            err(&file, &key, msg)
        })?
    };
    let base = path.parent().unwrap_or(Path::new("."));
    let tls = match &parsed.tls_server_config {
        Some(t) => Some(build_tls(&file, base, t)?),
        None => None,
    };
    let client_auth = tls.as_ref().map_or(ClientAuth::NoClientCert, |(_, a)| *a);
    let tls = tls.map(|(cfg, _)| Arc::new(cfg));
    let mut users = Vec::new();
    for (user, hash) in &parsed.basic_auth_users {
        if user.contains(':') || user.is_empty() {
            return Err(err(
                &file,
                &format!("basic_auth_users.{user}"),
                "a user name must be non-empty and without `:`",
            ));
        }
        let Ok(parts) = hash.parse::<bcrypt::HashParts>() else {
            return Err(err(
                &file,
                &format!("basic_auth_users.{user}"),
                "not a bcrypt hash (`$2y$…`; `htpasswd -nbB user password` makes one)",
            ));
        };
        if parts.get_cost() > MAX_BCRYPT_COST {
            return Err(err(
                &file,
                &format!("basic_auth_users.{user}"),
                format!(
                    "bcrypt cost {} is over {MAX_BCRYPT_COST}: each check would take \
                     seconds to days of a core, and two at once hold every new login \
                     (htpasswd -nbB -C 10 makes one of cost 10)",
                    parts.get_cost()
                ),
            ));
        }
        users.push((user.clone(), hash.clone()));
    }
    let mut headers = Vec::new();
    if let Some(h) = &parsed.http_server_config {
        let _ = h.http2;
        for (k, v) in &h.headers {
            let key = format!("http_server_config.headers.{k}");
            check_header(&file, &key, k, v)?;
            let name = axum::http::HeaderName::try_from(k.as_str())
                .map_err(|e| err(&file, &key, e.to_string()))?;
            let value = axum::http::HeaderValue::try_from(v.as_str())
                .map_err(|e| err(&file, &key, e.to_string()))?;
            headers.push((name, value));
        }
    }
    if let Some(t) = &parsed.tls_server_config {
        let _ = t.prefer_server_cipher_suites;
    }
    Ok(WebState {
        tls,
        client_auth,
        users: (!users.is_empty()).then(|| Arc::new(Users::new(users))),
        headers,
    })
}

/// The current [`WebState`], replaced when the files change.
pub struct Watcher {
    path: PathBuf,
    current: RwLock<Arc<WebState>>,
    seen: Mutex<[u8; 32]>,
}

impl Watcher {
    /// Loads the file; an error here is a startup error (exit 2).
    pub fn new(path: &Path) -> Result<Arc<Watcher>, WebConfigError> {
        let seen = fingerprint(path);
        let state = load(path)?;
        Ok(Arc::new(Watcher {
            path: path.to_path_buf(),
            current: RwLock::new(Arc::new(state)),
            seen: Mutex::new(seen),
        }))
    }

    /// The state new connections and requests use.
    pub fn current(&self) -> Arc<WebState> {
        self.current
            .read()
            .map(|s| s.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// Re-reads the files if their contents changed. Returns whether a new
    /// state was installed.
    pub fn poll(&self) -> bool {
        let now = fingerprint(&self.path);
        let Ok(mut seen) = self.seen.lock() else {
            return false;
        };
        if *seen == now {
            return false;
        }
        *seen = now;
        match load(&self.path) {
            Ok(mut state) => {
                let old = self.current();
                if state.tls.is_some() != old.tls.is_some() {
                    tracing::warn!(file = %self.path.display(),
                        "web config change turns TLS on or off; that needs a restart, keeping the previous settings");
                    return false;
                }
                // A file cut short after `key_file` reads as no client
                // certificates asked for: only a restart checks them less.
                if old.client_auth.weakened_to(state.client_auth) {
                    tracing::warn!(file = %self.path.display(), before = ?old.client_auth,
                        now = ?state.client_auth,
                        "web config change checks client certificates less; that needs a restart, keeping the previous settings");
                    return false;
                }
                // An emptied or half-written file reads as no users: only a
                // restart turns basic auth off.
                if old.users.is_some() && state.users.is_none() {
                    tracing::warn!(file = %self.path.display(),
                        "web config change turns basic auth off; that needs a restart, keeping the previous settings");
                    return false;
                }
                // The same users keep their accepted credentials (a renewed
                // certificate must not make every scrape pay bcrypt again).
                if let (Some(o), Some(n)) = (&old.users, &state.users) {
                    if o.users == n.users {
                        state.users = Some(o.clone());
                    }
                }
                if let Ok(mut c) = self.current.write() {
                    *c = Arc::new(state);
                }
                tracing::info!(file = %self.path.display(), "web config reloaded (certificates, users, headers)");
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "web config change not applied; keeping the previous settings");
                false
            }
        }
    }

    /// Polls every `every` until the process ends.
    pub fn spawn(self: &Arc<Self>, every: std::time::Duration) {
        let me = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let w = me.clone();
                let _ = tokio::task::spawn_blocking(move || w.poll()).await;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    /// A reload that would turn basic auth off (an emptied or half-written
    /// file reads as no users) keeps the users; one that keeps the users
    /// keeps their accepted credentials, and one that changes a hash
    /// starts them over.
    #[test]
    fn reloads_keep_the_users_and_what_they_were_accepted_with() {
        let d = tempfile::tempdir().unwrap();
        let hash = |pw: &str| bcrypt::hash(pw, 4).unwrap();
        let users = |h: &str| format!("basic_auth_users:\n  prom: {h}\n");
        let p = write(d.path(), "web.yml", &users(&hash("s3cret")));
        let w = Watcher::new(&p).unwrap();
        assert!(w.current().users.as_ref().unwrap().verify("prom", "s3cret"));
        for half in ["", "basic_auth_users:\n", "http_server_config:\n"] {
            write(d.path(), "web.yml", half);
            assert!(!w.poll(), "{half:?} turned basic auth off");
            assert!(w.current().users.is_some());
        }
        let kept = format!(
            "{}http_server_config:\n  headers:\n    X-Frame-Options: deny\n",
            users(&hash("s3cret"))
        );
        write(d.path(), "web.yml", &kept);
        assert!(w.poll());
        assert_eq!(w.current().headers.len(), 1);
        // Another hash of the same password: the same users, as far as the
        // cache can tell, would be wrong; only equal hashes keep it.
        assert!(!w.current().users.as_ref().unwrap().cached("prom", "s3cret"));
        assert!(w.current().users.as_ref().unwrap().verify("prom", "s3cret"));
        let same = std::fs::read_to_string(&p).unwrap() + "\n";
        write(d.path(), "web.yml", &same);
        assert!(w.poll());
        assert!(w.current().users.as_ref().unwrap().cached("prom", "s3cret"));
        write(d.path(), "web.yml", &users(&hash("other")));
        assert!(w.poll());
        assert!(!w.current().users.as_ref().unwrap().cached("prom", "s3cret"));
    }

    #[test]
    fn unknown_key_is_named() {
        let d = tempfile::tempdir().unwrap();
        let p = write(d.path(), "web.yml", "tls_server_config:\n  cert_fil: x\n");
        let e = load(&p).unwrap_err();
        assert_eq!(e.key, "cert_fil", "{e}");
        let p = write(d.path(), "web.yml", "basic_auth_user:\n  a: b\n");
        assert_eq!(load(&p).unwrap_err().key, "basic_auth_user");
    }

    #[test]
    fn bad_values_name_their_key() {
        let d = tempfile::tempdir().unwrap();
        let cases = [
            ("basic_auth_users:\n  alice: plaintext\n", "basic_auth_users.alice"),
            ("tls_server_config:\n  key_file: k\n", "tls_server_config.cert_file"),
            (
                "tls_server_config:\n  cert_file: c\n  key_file: k\n  client_auth_type: Sometimes\n",
                "tls_server_config.client_auth_type",
            ),
            (
                "tls_server_config:\n  cert_file: c\n  key_file: k\n  client_auth_type: RequireAndVerifyClientCert\n",
                "tls_server_config.client_ca_file",
            ),
            (
                "tls_server_config:\n  cert_file: c\n  key_file: k\n  min_version: TLS10\n",
                "tls_server_config.min_version",
            ),
            (
                "tls_server_config:\n  cert_file: c\n  key_file: k\n  cipher_suites: [TLS_RSA_WITH_AES_128_CBC_SHA]\n",
                "tls_server_config.cipher_suites[0]",
            ),
            (
                "tls_server_config:\n  cert_file: c\n  key_file: k\n  curve_preferences: [CurveP521]\n",
                "tls_server_config.curve_preferences[0]",
            ),
            // The files do not exist.
            ("tls_server_config:\n  cert_file: c\n  key_file: k\n", "tls_server_config.cert_file"),
        ];
        for (text, key) in cases {
            let p = write(d.path(), "web.yml", text);
            let e = load(&p).unwrap_err();
            assert_eq!(e.key, key, "{text}: {e}");
        }
    }
}
