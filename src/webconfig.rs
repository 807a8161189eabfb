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

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig, SignatureScheme,
};
use rustls_pki_types::pem::PemObject;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

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
            "RequireAnyClientCert" => ClientAuth::RequireAnyClientCert,
            "VerifyClientCertIfGiven" => ClientAuth::VerifyClientCertIfGiven,
            "RequireAndVerifyClientCert" => ClientAuth::RequireAndVerifyClientCert,
            _ => return None,
        })
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

/// TLS versions by exporter-toolkit name. rustls implements 1.2 and 1.3 only.
fn tls_version(
    file: &str,
    key: &str,
    v: &str,
) -> Result<&'static rustls::SupportedProtocolVersion, WebConfigError> {
    match v {
        "TLS12" => Ok(&rustls::version::TLS12),
        "TLS13" => Ok(&rustls::version::TLS13),
        "TLS10" | "TLS11" => Err(err(
            file,
            key,
            format!("{v} is not supported (rustls implements TLS12 and TLS13 only)"),
        )),
        _ => Err(err(
            file,
            key,
            format!("unknown version `{v}`: use TLS12 or TLS13"),
        )),
    }
}

fn err(file: &str, key: &str, reason: impl Into<String>) -> WebConfigError {
    WebConfigError {
        file: file.into(),
        key: key.into(),
        reason: reason.into(),
    }
}

/// The cipher suites a config may name: rustls's TLS 1.2 suites, by their
/// IANA (and Go) names. TLS 1.3 suites are not configurable, as in Go.
fn tls12_suite_names(s: &rustls::SupportedCipherSuite) -> Vec<String> {
    let name = format!("{:?}", s.suite());
    let mut names = vec![name.clone()];
    // Go also spells the ChaCha20 suites without the `_SHA256`.
    if let Some(short) = name.strip_suffix("_SHA256") {
        if short.ends_with("CHACHA20_POLY1305") {
            names.push(short.to_string());
        }
    }
    names
}

fn curve_name(g: &dyn rustls::crypto::SupportedKxGroup) -> &'static str {
    match g.name() {
        rustls::NamedGroup::X25519 => "X25519",
        rustls::NamedGroup::secp256r1 => "CurveP256",
        rustls::NamedGroup::secp384r1 => "CurveP384",
        rustls::NamedGroup::secp521r1 => "CurveP521",
        _ => "",
    }
}

fn provider(file: &str, t: &TlsFile) -> Result<CryptoProvider, WebConfigError> {
    let mut p = rustls::crypto::ring::default_provider();
    if let Some(wanted) = &t.cipher_suites {
        let supported: Vec<String> = p
            .cipher_suites
            .iter()
            .filter(|s| s.version() == &rustls::version::TLS12)
            .map(|s| format!("{:?}", s.suite()))
            .collect();
        let mut suites: Vec<rustls::SupportedCipherSuite> = Vec::new();
        for (i, name) in wanted.iter().enumerate() {
            let Some(s) = p.cipher_suites.iter().find(|s| {
                s.version() == &rustls::version::TLS12 && tls12_suite_names(s).contains(name)
            }) else {
                return Err(err(
                    file,
                    &format!("tls_server_config.cipher_suites[{i}]"),
                    format!(
                        "`{name}` is not a TLS 1.2 cipher suite rustls implements; supported: {}",
                        supported.join(", ")
                    ),
                ));
            };
            suites.push(*s);
        }
        if suites.is_empty() {
            return Err(err(file, "tls_server_config.cipher_suites", "empty list"));
        }
        // In the order given (the server's preference); TLS 1.3 suites stay.
        let tls13: Vec<_> = p
            .cipher_suites
            .iter()
            .filter(|s| s.version() == &rustls::version::TLS13)
            .copied()
            .collect();
        suites.extend(tls13);
        p.cipher_suites = suites;
    }
    if let Some(wanted) = &t.curve_preferences {
        let mut groups = Vec::new();
        for (i, name) in wanted.iter().enumerate() {
            let Some(g) = p.kx_groups.iter().find(|g| curve_name(**g) == name) else {
                let supported: Vec<&str> = p.kx_groups.iter().map(|g| curve_name(*g)).collect();
                return Err(err(
                    file,
                    &format!("tls_server_config.curve_preferences[{i}]"),
                    format!(
                        "`{name}` is not a curve rustls implements; supported: {}",
                        supported.join(", ")
                    ),
                ));
            };
            groups.push(*g);
        }
        if groups.is_empty() {
            return Err(err(
                file,
                "tls_server_config.curve_preferences",
                "empty list",
            ));
        }
        p.kx_groups = groups;
    }
    Ok(p)
}

fn read_certs(
    file: &str,
    key: &str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, WebConfigError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| err(file, key, format!("{}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(err(
            file,
            key,
            format!("{}: no PEM certificate in it", path.display()),
        ));
    }
    Ok(certs)
}

/// The rustls server config of `tls_server_config`: certificate and key,
/// client-certificate policy, TLS versions and cipher suites, each error
/// naming its key.
fn build_tls(file: &str, base: &Path, t: &TlsFile) -> Result<ServerConfig, WebConfigError> {
    let cert_path = t
        .cert_file
        .as_ref()
        .map(|p| base.join(p))
        .ok_or_else(|| err(file, "tls_server_config.cert_file", "required"))?;
    let key_path = t
        .key_file
        .as_ref()
        .map(|p| base.join(p))
        .ok_or_else(|| err(file, "tls_server_config.key_file", "required"))?;
    let auth = client_auth(file, t)?;
    let versions = protocol_versions(file, t)?;
    let provider = Arc::new(provider(file, t)?);
    if versions == [&rustls::version::TLS12]
        && !provider
            .cipher_suites
            .iter()
            .any(|s| s.version() == &rustls::version::TLS12)
    {
        return Err(err(
            file,
            "tls_server_config.cipher_suites",
            "no suite for TLS12",
        ));
    }
    let certs = read_certs(file, "tls_server_config.cert_file", &cert_path)?;
    let key = PrivateKeyDer::from_pem_file(&key_path).map_err(|e| {
        err(
            file,
            "tls_server_config.key_file",
            format!("{}: {e}", key_path.display()),
        )
    })?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| err(file, "tls_server_config", e.to_string()))?;
    let verifier = client_verifier(file, base, t, auth, &provider)?;
    let mut cfg = builder
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .map_err(|e| {
            err(
                file,
                "tls_server_config.key_file",
                format!("does not match cert_file or is unusable: {e}"),
            )
        })?;
    cfg.ignore_client_order = true;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}

/// `client_auth_type` (default `NoClientCert`), consistent with
/// `client_ca_file`: required when certificates are verified, refused when not.
fn client_auth(file: &str, t: &TlsFile) -> Result<ClientAuth, WebConfigError> {
    let auth = match t.client_auth_type.as_deref() {
        None => ClientAuth::NoClientCert,
        Some(s) => ClientAuth::parse(s).ok_or_else(|| {
            err(
                file,
                "tls_server_config.client_auth_type",
                format!(
                    "unknown `{s}`: one of NoClientCert, RequestClientCert, RequireAnyClientCert, \
                     VerifyClientCertIfGiven, RequireAndVerifyClientCert"
                ),
            )
        })?,
    };
    if auth.verifies() && t.client_ca_file.is_none() {
        return Err(err(
            file,
            "tls_server_config.client_ca_file",
            format!("required with client_auth_type {auth:?}"),
        ));
    }
    if !auth.verifies() && t.client_ca_file.is_some() {
        return Err(err(
            file,
            "tls_server_config.client_auth_type",
            "client_ca_file is set but no client certificate is verified: \
             use VerifyClientCertIfGiven or RequireAndVerifyClientCert",
        ));
    }
    Ok(auth)
}

/// The TLS versions from `min_version` to `max_version` (default 1.2 to 1.3).
fn protocol_versions(
    file: &str,
    t: &TlsFile,
) -> Result<Vec<&'static rustls::SupportedProtocolVersion>, WebConfigError> {
    let min = t
        .min_version
        .as_deref()
        .map(|v| tls_version(file, "tls_server_config.min_version", v))
        .transpose()?
        .unwrap_or(&rustls::version::TLS12);
    let max = t
        .max_version
        .as_deref()
        .map(|v| tls_version(file, "tls_server_config.max_version", v))
        .transpose()?
        .unwrap_or(&rustls::version::TLS13);
    let mut versions: Vec<&'static rustls::SupportedProtocolVersion> = Vec::new();
    let rank = |v: &rustls::SupportedProtocolVersion| u16::from(v.version);
    for v in [&rustls::version::TLS12, &rustls::version::TLS13] {
        if rank(v) >= rank(min) && rank(v) <= rank(max) {
            versions.push(v);
        }
    }
    if versions.is_empty() {
        return Err(err(
            file,
            "tls_server_config.max_version",
            "lower than min_version",
        ));
    }
    Ok(versions)
}

/// How client certificates are checked under `auth`: not at all, asked
/// for and their signature checked, or verified against `client_ca_file`.
fn client_verifier(
    file: &str,
    base: &Path,
    t: &TlsFile,
    auth: ClientAuth,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ClientCertVerifier>, WebConfigError> {
    Ok(match auth {
        ClientAuth::NoClientCert => WebPkiClientVerifier::no_client_auth(),
        ClientAuth::RequestClientCert | ClientAuth::RequireAnyClientCert => {
            Arc::new(AnyClientCert {
                mandatory: auth == ClientAuth::RequireAnyClientCert,
                algs: provider.signature_verification_algorithms,
            })
        }
        ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert => {
            let key = "tls_server_config.client_ca_file";
            let ca_path = base.join(t.client_ca_file.as_ref().expect("checked above"));
            let mut roots = RootCertStore::empty();
            for c in read_certs(file, key, &ca_path)? {
                roots
                    .add(c)
                    .map_err(|e| err(file, key, format!("{}: {e}", ca_path.display())))?;
            }
            let b = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
            let b = if auth == ClientAuth::VerifyClientCertIfGiven {
                b.allow_unauthenticated()
            } else {
                b
            };
            b.build().map_err(|e| err(file, key, e.to_string()))?
        }
    })
}

/// `RequestClientCert` / `RequireAnyClientCert`: a certificate is asked for
/// and its signature over the handshake checked, but it is not verified
/// against any CA (Go's semantics).
#[derive(Debug)]
struct AnyClientCert {
    mandatory: bool,
    algs: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for AnyClientCert {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }
    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
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
        Some(t) => Some(Arc::new(build_tls(&file, base, t)?)),
        None => None,
    };
    let mut users = Vec::new();
    for (user, hash) in &parsed.basic_auth_users {
        if user.contains(':') || user.is_empty() {
            return Err(err(
                &file,
                &format!("basic_auth_users.{user}"),
                "a user name must be non-empty and without `:`",
            ));
        }
        if hash.parse::<bcrypt::HashParts>().is_err() {
            return Err(err(
                &file,
                &format!("basic_auth_users.{user}"),
                "not a bcrypt hash (`$2y$…`; `htpasswd -nbB user password` makes one)",
            ));
        }
        users.push((user.clone(), hash.clone()));
    }
    let mut headers = Vec::new();
    if let Some(h) = &parsed.http_server_config {
        let _ = h.http2;
        for (k, v) in &h.headers {
            let key = format!("http_server_config.headers.{k}");
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
        users: (!users.is_empty()).then(|| Arc::new(Users::new(users))),
        headers,
    })
}

/// How many accepted (user, password) pairs the cache keeps; full, it
/// starts over.
const AUTH_CACHE_ENTRIES: usize = 1024;

/// Basic-auth users with their bcrypt hashes, and a cache of accepted
/// credentials.
///
/// The cache is keyed by SHA-256 of a per-process random salt, the user and
/// the password, so it holds no password, and a scrape pays bcrypt only on
/// its first request with a given password. Refusals are not cached: a
/// client guessing passwords cannot evict Prometheus's entry, and pays
/// bcrypt (at most two at once, server-wide) for every guess.
pub struct Users {
    users: Vec<(String, String)>,
    salt: [u8; 16],
    cache: Mutex<HashSet<[u8; 32]>>,
    /// Hash checked for an unknown user, so its answer takes as long.
    dummy: String,
}

impl Users {
    fn new(users: Vec<(String, String)>) -> Users {
        // The standard library seeds RandomState from the operating
        // system's random source: two of them key the salt.
        use std::hash::BuildHasher;
        let (a, b) = (
            std::collections::hash_map::RandomState::new(),
            std::collections::hash_map::RandomState::new(),
        );
        let digest = Sha256::digest(format!(
            "{}/{}/{:?}",
            a.hash_one(1u8),
            b.hash_one(2u8),
            std::time::SystemTime::now()
        ));
        let mut salt = [0u8; 16];
        salt.copy_from_slice(&digest[..16]);
        // An unknown user's password is checked against a real hash, at the
        // users' cost, so the answer takes as long.
        let dummy = users.first().map(|(_, h)| h.clone()).unwrap_or_default();
        Users {
            users,
            salt,
            cache: Mutex::new(HashSet::new()),
            dummy,
        }
    }

    fn key(&self, user: &str, password: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.salt);
        h.update((user.len() as u64).to_le_bytes());
        h.update(user.as_bytes());
        h.update(password.as_bytes());
        h.finalize().into()
    }

    /// Whether these credentials were accepted before (no bcrypt needed).
    pub fn cached(&self, user: &str, password: &str) -> bool {
        let key = self.key(user, password);
        self.cache.lock().is_ok_and(|c| c.contains(&key))
    }

    /// Checks the credentials with bcrypt (slow: call off the async
    /// threads), remembering them when accepted.
    pub fn verify(&self, user: &str, password: &str) -> bool {
        // Every user name is compared, in constant time, so the time taken
        // does not tell which names exist.
        let mut hash: Option<&str> = None;
        for (u, h) in &self.users {
            if bool::from(u.as_bytes().ct_eq(user.as_bytes())) {
                hash = Some(h);
            }
        }
        let ok = match hash {
            Some(h) => bcrypt::verify(password, h).unwrap_or(false),
            None => {
                // Same work as for a known user; the verdict is no.
                let _ = bcrypt::verify(password, &self.dummy);
                false
            }
        };
        if ok {
            if let Ok(mut c) = self.cache.lock() {
                if c.len() >= AUTH_CACHE_ENTRIES {
                    c.clear();
                }
                c.insert(self.key(user, password));
            }
        }
        ok
    }
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
            Ok(state) => {
                let old_tls = self.current().tls.is_some();
                if state.tls.is_some() != old_tls {
                    tracing::warn!(file = %self.path.display(),
                        "web config change turns TLS on or off; that needs a restart, keeping the previous settings");
                    return false;
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

    #[test]
    fn go_cipher_suite_names_are_accepted() {
        let t = TlsFile {
            cipher_suites: Some(vec![
                "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305".into(),
                "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384".into(),
            ]),
            curve_preferences: Some(vec!["X25519".into(), "CurveP256".into()]),
            ..Default::default()
        };
        let p = provider("f", &t).unwrap();
        let names: Vec<String> = p
            .cipher_suites
            .iter()
            .map(|s| format!("{:?}", s.suite()))
            .collect();
        assert_eq!(names[0], "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256");
        assert_eq!(names[1], "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384");
        // The TLS 1.3 suites are kept after them.
        assert!(
            names[2..].iter().all(|n| n.starts_with("TLS13_")),
            "{names:?}"
        );
        assert_eq!(p.kx_groups.len(), 2);
    }

    #[test]
    fn users_verify_and_cache() {
        // bcrypt("s3cret") at cost 4, made with `htpasswd -nbB -C 4`.
        let hash = bcrypt::hash_with_salt("s3cret", 4, [7u8; 16])
            .unwrap()
            .format_for_version(bcrypt::Version::TwoY);
        let u = Users::new(vec![("alice".into(), hash)]);
        assert!(!u.cached("alice", "s3cret"));
        assert!(u.verify("alice", "s3cret"));
        assert!(u.cached("alice", "s3cret"));
        assert!(!u.verify("alice", "wrong"));
        assert!(!u.cached("alice", "wrong"));
        assert!(!u.verify("bob", "s3cret"));
        assert!(!u.cached("bob", "s3cret"));
        // The key binds user and password apart: ("ab","c") is not ("a","bc").
        assert_ne!(u.key("ab", "c"), u.key("a", "bc"));
    }
}

#[cfg(test)]
mod doc_example {
    /// The example user of docs/operations.md ("TLS and authentication").
    #[test]
    fn the_documented_hash_is_change_me() {
        let doc = include_str!("../docs/operations.md");
        let hash = doc
            .lines()
            .find_map(|l| l.trim().strip_prefix("prometheus: $2b$"))
            .map(|rest| format!("$2b${rest}"))
            .expect("the example user in docs/operations.md");
        assert!(bcrypt::verify("change-me", &hash).unwrap());
        assert!(!bcrypt::verify("change-you", &hash).unwrap());
    }
}
