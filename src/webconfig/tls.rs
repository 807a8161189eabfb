//! The rustls server config of `tls_server_config`: TLS versions, cipher
//! suites and curves by Go's names, certificate and key, and the client
//! certificate policy.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig, SignatureScheme,
};
use rustls_pki_types::pem::PemObject;

use super::{err, ClientAuth, TlsFile, WebConfigError};

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
pub(super) fn build_tls(
    file: &str,
    base: &Path,
    t: &TlsFile,
) -> Result<(ServerConfig, ClientAuth), WebConfigError> {
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
    Ok((cfg, auth))
}

/// `client_auth_type` (default `NoClientCert`), consistent with
/// `client_ca_file`: required when certificates are verified, refused when
/// none is asked for (as exporter-toolkit does; with `RequestClientCert` or
/// `RequireAnyClientCert` it is read, as Go reads it, and verifies nothing).
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
    if auth == ClientAuth::NoClientCert && t.client_ca_file.is_some() {
        return Err(err(
            file,
            "tls_server_config.client_auth_type",
            "client_ca_file is set but no client certificate is asked for: \
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
            if let Some(ca) = &t.client_ca_file {
                // Read and checked as Go reads it; it verifies nothing here.
                let key = "tls_server_config.client_ca_file";
                read_certs(file, key, &base.join(ca))?;
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webconfig::TlsFile;

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
}
