//! `frontline run` behind the exporter-toolkit web config: HTTPS with a CA
//! and certificates made by `openssl` at test time, mutual TLS, basic auth,
//! a certificate replaced on disk, slow clients, and a real Prometheus
//! (Debian's `prometheus`) scraping through TLS and basic auth. Requests are
//! made with `curl` and `openssl s_client`; the embedded broker stands in for
//! Kafka.

use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::prom::{free_port, wait_for_port, Proc};

fn sh(script: &str, dir: &Path) -> Output {
    let out = Command::new("sh")
        .args(["-c", script])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A CA and a certificate it signed for `name` (`server` or `client`), with
/// the given serial: `{name}.pem`, `{name}.key`.
fn issue(dir: &Path, ca: &str, name: &str, serial: u32, server: bool) {
    let ext = if server {
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"
    } else {
        "extendedKeyUsage=clientAuth\n"
    };
    std::fs::write(dir.join(format!("{name}.ext")), ext).unwrap();
    sh(
        &format!(
            "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout {name}.key \
               -out {name}.csr -subj /CN={name} 2>/dev/null && \
             openssl x509 -req -in {name}.csr -CA {ca}.pem -CAkey {ca}.key -set_serial {serial} \
               -days 2 -out {name}.pem -extfile {name}.ext 2>/dev/null"
        ),
        dir,
    );
}

fn make_ca(dir: &Path, ca: &str) {
    sh(
        &format!(
            "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout {ca}.key \
               -out {ca}.pem -days 2 -subj /CN={ca} 2>/dev/null"
        ),
        dir,
    );
}

/// `ca` (trusted), `server` (serial 1001), `client` (from `ca`),
/// `other-ca` and `stranger` (a client certificate from `other-ca`).
fn pki(dir: &Path) {
    make_ca(dir, "ca");
    make_ca(dir, "other-ca");
    issue(dir, "ca", "server", 1001, true);
    issue(dir, "ca", "client", 3001, false);
    issue(dir, "other-ca", "stranger", 4001, false);
}

const USER: &str = "prometheus";
const PASSWORD: &str = "correct horse battery staple";

fn web_config(dir: &Path) -> PathBuf {
    // Cost 10, as `htpasswd -nbB` makes.
    let hash = bcrypt::hash_with_salt(PASSWORD, 10, *b"0123456789abcdef")
        .unwrap()
        .format_for_version(bcrypt::Version::TwoY);
    let p = dir.join("web.yml");
    std::fs::write(
        &p,
        format!(
            "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  \
             client_ca_file: ca.pem\n  client_auth_type: RequireAndVerifyClientCert\n  \
             min_version: TLS12\n\
             http_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\n\
             basic_auth_users:\n  {USER}: '{hash}'\n"
        ),
    )
    .unwrap();
    p
}

/// `curl -i` with the given arguments: (exit code, HTTP status, response).
/// The status of `/healthz` over HTTPS on `port`, with the client
/// certificate `{cert}.pem` when given (0: no HTTP answer).
fn healthz_with_cert(dir: &Path, port: u16, cert: Option<&str>) -> u16 {
    let (res, u) = (resolve(port), url(port, "/healthz"));
    let (c, k) = cert.map_or((String::new(), String::new()), |n| {
        (format!("{n}.pem"), format!("{n}.key"))
    });
    let mut a = vec!["--cacert", "ca.pem", "--resolve", &res, &u];
    if cert.is_some() {
        a.extend(["--cert", &c, "--key", &k]);
    }
    curl(dir, &a).1
}

fn curl(dir: &Path, args: &[&str]) -> (i32, u16, String) {
    let out = Command::new("curl")
        .args(["-s", "-i", "--max-time", "10"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (out.status.code().unwrap_or(-1), status, text)
}

/// curl arguments for a client holding the right CA and client certificate.
const MTLS: [&str; 6] = [
    "--cacert",
    "ca.pem",
    "--cert",
    "client.pem",
    "--key",
    "client.key",
];

fn url(port: u16, path: &str) -> String {
    format!("https://localhost:{port}{path}")
}

fn resolve(port: u16) -> String {
    format!("localhost:{port}:127.0.0.1")
}

/// The serial number of the certificate the server presents.
fn served_serial(dir: &Path, port: u16) -> String {
    let out = Command::new("sh")
        .args([
            "-c",
            &format!(
                "openssl s_client -connect 127.0.0.1:{port} -servername localhost -CAfile ca.pem \
                 -cert client.pem -key client.key </dev/null 2>/dev/null | openssl x509 -noout -serial"
            ),
        ])
        .current_dir(dir)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn start(dir: &Path, port: u16, web: &Path, extra: &[&str]) -> Proc {
    let web = ["--web-config", web.to_str().unwrap()];
    start_with(dir, port, &[&web[..], extra].concat())
}

fn start_with(dir: &Path, port: u16, args: &[&str]) -> Proc {
    let log = std::fs::File::create(dir.join("frontline.log")).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_frontline"))
        .args([
            "run",
            "--embedded",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .args(args)
        .env_remove("KAFKA_BROKERS")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    Proc(child)
}

fn wait_until(limit: Duration, what: &str, mut ok: impl FnMut() -> bool) -> Duration {
    let t = Instant::now();
    while t.elapsed() < limit {
        if ok() {
            return t.elapsed();
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("timed out after {limit:?} waiting until {what}");
}

#[test]
fn https_mtls_basic_auth_reload_and_slow_clients() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    pki(dir);
    let web = web_config(dir);
    let port = free_port();
    let _fl = start(dir, port, &web, &["--set", "http.healthz_open=true"]);
    let res = resolve(port);
    let auth = format!("{USER}:{PASSWORD}");
    let authed = |path: &str| {
        let mut a: Vec<&str> = MTLS.to_vec();
        let u = url(port, path);
        a.extend(["--resolve", &res, "-u", &auth, &u]);
        curl(dir, &a)
    };
    wait_until(
        Duration::from_secs(60),
        "frontline answers over HTTPS",
        || authed("/healthz").1 == 200,
    );

    // The right CA, client certificate and password: the scrape works, with
    // the configured response header.
    let (_, code, text) = authed("/metrics");
    assert_eq!(code, 200, "{text}");
    assert!(text.contains("frontline_"), "{text}");
    assert!(
        text.to_ascii_lowercase()
            .contains("x-content-type-options: nosniff"),
        "{text}"
    );

    // No credentials: 401 with a Basic challenge.
    let u = url(port, "/metrics");
    let mut a: Vec<&str> = MTLS.to_vec();
    a.extend(["--resolve", &res, &u]);
    let (_, code, text) = curl(dir, &a);
    assert_eq!(code, 401, "{text}");
    assert!(
        text.to_ascii_lowercase()
            .contains("www-authenticate: basic"),
        "{text}"
    );
    // A wrong password (twice: refusals are not cached) and an unknown
    // user: 401.
    for who in [
        format!("{USER}:wrong"),
        format!("{USER}:wrong"),
        format!("nobody:{PASSWORD}"),
    ] {
        let mut a: Vec<&str> = MTLS.to_vec();
        a.extend(["--resolve", &res, "-u", &who, &u]);
        let (_, code, text) = curl(dir, &a);
        assert_eq!(code, 401, "{who}: {text}");
    }
    // /healthz is left open (http.healthz_open), /readyz is not.
    for (path, want) in [("/healthz", 200), ("/readyz", 401)] {
        let p = url(port, path);
        let mut a: Vec<&str> = MTLS.to_vec();
        a.extend(["--resolve", &res, &p]);
        assert_eq!(curl(dir, &a).1, want, "{path} without credentials");
    }

    // Each 401 above is counted: one without credentials, three wrong, /readyz.
    let refused = |reason: &str| {
        let text = authed("/metrics").2;
        let line = format!("frontline_http_refused_total{{reason=\"{reason}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&line))
            .and_then(|v| v.trim().parse::<f64>().ok())
    };
    assert_eq!(refused("unauthorized"), Some(5.0));
    assert_eq!(refused("tls"), Some(0.0));
    // The live page and its JSON sit behind the same TLS and auth.
    for path in ["/", "/api/summary"] {
        let p = url(port, path);
        let mut a: Vec<&str> = MTLS.to_vec();
        a.extend(["--resolve", &res, &p]);
        assert_eq!(curl(dir, &a).1, 401, "{path} without credentials");
        let (_, code, text) = authed(path);
        assert_eq!(code, 200, "{path} with credentials: {text}");
    }

    // Plain HTTP on the TLS port: refused, with a 400 that says why.
    let (_, code, text) = curl(
        dir,
        &["-u", &auth, &format!("http://127.0.0.1:{port}/metrics")],
    );
    assert_eq!(code, 400, "{text}");
    assert!(text.contains("HTTP request to an HTTPS server"), "{text}");
    assert!(!text.contains("frontline_"), "{text}");
    assert_eq!(refused("tls"), Some(1.0));
    // A server CA the client does not trust: refused by the client.
    let (exit, _, _) = curl(
        dir,
        &[
            "--cacert",
            "other-ca.pem",
            "--cert",
            "client.pem",
            "--key",
            "client.key",
            "--resolve",
            &res,
            "-u",
            &auth,
            &u,
        ],
    );
    assert_ne!(exit, 0, "a certificate from an untrusted CA was accepted");
    // mTLS: a client certificate from another CA, or none, is refused.
    for certs in [
        vec![
            "--cacert",
            "ca.pem",
            "--cert",
            "stranger.pem",
            "--key",
            "stranger.key",
        ],
        vec!["--cacert", "ca.pem"],
    ] {
        let mut a = certs.clone();
        a.extend(["--resolve", &res, "-u", &auth, &u]);
        let (exit, code, text) = curl(dir, &a);
        assert!(exit != 0 && code == 0, "{certs:?} was served: {text}");
    }

    // The certificate replaced on disk is served without a restart.
    assert_eq!(served_serial(dir, port), "serial=03E9"); // 1001
    issue(dir, "ca", "renewed", 2002, true);
    for (from, to) in [("renewed.key", "server.key"), ("renewed.pem", "server.pem")] {
        std::fs::rename(dir.join(from), dir.join(to)).unwrap();
    }
    let took = wait_until(
        Duration::from_secs(15),
        "the renewed certificate is served",
        || {
            served_serial(dir, port) == "serial=07D2" // 2002
        },
    );
    eprintln!("renewed certificate served after {took:?}");
    assert_eq!(authed("/metrics").1, 200);

    // 500 connections that never finish their TLS handshake (slowloris) do
    // not stop a scrape. The latency is reported, not asserted.
    let scrape = || {
        let t = Instant::now();
        let code = authed("/metrics").1;
        (code, t.elapsed())
    };
    let quiet: Vec<Duration> = (0..3).map(|_| scrape().1).collect();
    let mut held = Vec::new();
    for _ in 0..500 {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        // The first bytes of a TLS record, then nothing.
        let _ = s.write_all(&[0x16, 0x03, 0x01]);
        held.push(s);
    }
    let mut loaded = Vec::new();
    for _ in 0..3 {
        let (code, t) = scrape();
        assert_eq!(code, 200, "a scrape failed with 500 slow connections open");
        loaded.push(t);
    }
    eprintln!("scrape latency: quiet {quiet:?}, with 500 slowloris connections {loaded:?}");
    drop(held);

    let log = std::fs::read_to_string(dir.join("frontline.log")).unwrap();
    assert!(log.contains("https://"), "{log}");
    assert!(!log.contains(PASSWORD), "the password reached the log");
}

/// Without TLS: 500 clients trickling request headers (slowloris) do not
/// stop a scrape, and each is cut off at `http.read_timeout`; oversized
/// heads and bodies are refused.
#[test]
fn slow_and_oversized_requests_on_plain_http() {
    use std::io::Read;
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let port = free_port();
    let _fl = start_with(dir, port, &["--set", "http.read_timeout=\"2s\""]);
    let u = format!("http://127.0.0.1:{port}/metrics");
    wait_until(Duration::from_secs(60), "frontline answers", || {
        curl(dir, &[&u]).1 == 200
    });
    let scrape = || {
        let t = Instant::now();
        let code = curl(dir, &[&u]).1;
        (code, t.elapsed())
    };
    let quiet: Vec<Duration> = (0..3).map(|_| scrape().1).collect();
    let opened = Instant::now();
    let mut held = Vec::new();
    for i in 0..500 {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let _ = write!(s, "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow-{i}: ");
        held.push(s);
    }
    let mut loaded = Vec::new();
    for s in held.iter_mut().take(50) {
        let _ = s.write_all(b"a"); // still trickling
    }
    for _ in 0..3 {
        let (code, t) = scrape();
        assert_eq!(code, 200, "a scrape failed with 500 slow connections open");
        loaded.push(t);
    }
    eprintln!(
        "plain HTTP scrape latency: quiet {quiet:?}, with 500 slowloris connections {loaded:?}"
    );
    // The server closes a connection whose head is not complete in time.
    let s = &mut held[0];
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut buf = [0u8; 256];
    let n = s.read(&mut buf);
    assert!(
        matches!(n, Ok(0))
            || n.is_err() && !matches!(&n, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the slow connection is still open: {n:?}"
    );
    eprintln!(
        "a slowloris connection was closed {:?} after it opened",
        opened.elapsed()
    );
    drop(held);

    // A 20 KiB header (over http.max_header_bytes) and an 8 KiB body (over
    // http.max_body_bytes) are refused.
    let big = format!("X-Big: {}", "a".repeat(20 * 1024));
    assert_eq!(curl(dir, &["-H", &big, &u]).1, 431);
    let body = "a".repeat(8 * 1024);
    assert_eq!(curl(dir, &["-X", "GET", "--data", &body, &u]).1, 413);
    assert_eq!(scrape().0, 200);
}

/// The client-certificate policies that accept a certificate without
/// checking it, or check it only when given; the second is applied by
/// rewriting the web config file of the running server.
#[test]
fn client_auth_types_unverified_and_verified_if_given() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    pki(dir);
    let web = dir.join("web.yml");
    let tls = "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n";
    // exporter-toolkit's older name for RequireAnyClientCert, and a client
    // CA file, which it reads and does not verify with: a valid file there.
    std::fs::write(
        &web,
        format!("{tls}  client_auth_type: RequireClientCert\n  client_ca_file: ca.pem\n"),
    )
    .unwrap();
    let port = free_port();
    let _fl = start(dir, port, &web, &[]);
    let get = |cert: Option<&str>| healthz_with_cert(dir, port, cert);
    wait_until(
        Duration::from_secs(60),
        "frontline answers over HTTPS",
        || get(Some("client")) == 200,
    );
    // Any certificate will do, even from an unknown CA; none will not.
    assert_eq!(get(Some("stranger")), 200);
    assert_eq!(get(None), 0);

    // A reload that asks more of a client applies at once.
    std::fs::write(
        &web,
        format!("{tls}  client_ca_file: ca.pem\n  client_auth_type: RequireAndVerifyClientCert\n"),
    )
    .unwrap();
    wait_until(
        Duration::from_secs(15),
        "the stricter policy applies",
        || get(Some("stranger")) == 0,
    );
    assert_eq!(get(Some("client")), 200);
    assert_eq!(get(None), 0);

    // Defect: a reload could ask less of a client (a file cut short after
    // `key_file` reads as no certificate asked for): a client without one
    // then got 200. That needs a restart, as turning TLS or basic auth off
    // does.
    std::fs::write(&web, tls).unwrap();
    let log = dir.join("frontline.log");
    wait_until(
        Duration::from_secs(15),
        "the weaker policy is refused",
        || {
            std::fs::read_to_string(&log)
                .unwrap()
                .contains("web config change checks client certificates less")
        },
    );
    assert_eq!(get(None), 0, "a client without a certificate was let in");
    assert_eq!(get(Some("client")), 200);

    // Verified when given: none will do, an unverified one will not.
    let given = dir.join("given.yml");
    std::fs::write(
        &given,
        format!("{tls}  client_ca_file: ca.pem\n  client_auth_type: VerifyClientCertIfGiven\n"),
    )
    .unwrap();
    let port = free_port();
    let _given = start(dir, port, &given, &[]);
    let get = |cert: Option<&str>| healthz_with_cert(dir, port, cert);
    wait_until(
        Duration::from_secs(60),
        "frontline answers over HTTPS",
        || get(None) == 200,
    );
    assert_eq!(get(Some("client")), 200);
    assert_eq!(
        get(Some("stranger")),
        0,
        "an unverified certificate was accepted"
    );
}

#[test]
fn prometheus_scrapes_through_tls_and_basic_auth() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    pki(dir);
    let web = web_config(dir);
    let port = free_port();
    let _fl = start(dir, port, &web, &[]);
    let prom_port = free_port();
    let pw = dir.join("password");
    std::fs::write(&pw, PASSWORD).unwrap();
    let p = |f: &str| dir.join(f).display().to_string();
    std::fs::write(
        dir.join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
             scrape_configs:\n- job_name: frontline\n  scheme: https\n  \
             tls_config:\n    ca_file: {}\n    cert_file: {}\n    key_file: {}\n    server_name: localhost\n  \
             basic_auth:\n    username: {USER}\n    password_file: {}\n  \
             static_configs:\n  - targets: ['127.0.0.1:{port}']\n",
            p("ca.pem"),
            p("client.pem"),
            p("client.key"),
            pw.display()
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
    let _prom = Proc(
        Command::new("prometheus")
            .args([
                &format!("--config.file={}", p("prometheus.yml")),
                &format!("--storage.tsdb.path={}", p("tsdb")),
                &format!("--web.listen-address=127.0.0.1:{prom_port}"),
            ])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("prometheus (./scripts/install-tools.sh installs it)"),
    );
    let query = |q: &str| {
        curl(
            dir,
            &[
                "--get",
                "--data-urlencode",
                &format!("query={q}"),
                &format!("http://127.0.0.1:{prom_port}/api/v1/query"),
            ],
        )
        .2
    };
    let mut last = String::new();
    let found = Instant::now();
    while found.elapsed() < Duration::from_secs(60) {
        last = query("up{job=\"frontline\"}");
        // `"value":[<time>,"1"]`: the last scrape succeeded.
        if last.contains("\"1\"]") {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(
        last.contains("\"1\"]"),
        "up is not 1: {last}\n{}",
        std::fs::read_to_string(dir.join("prometheus.log")).unwrap_or_default()
    );
    // And the scrape carried frontline's series.
    let v = query("scrape_samples_scraped{job=\"frontline\"} > 10");
    assert!(v.contains("\"result\":[{"), "{v}");
}

#[test]
fn a_bad_web_config_exits_2_naming_the_key() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    pki(dir);
    for (text, key) in [
        (
            "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  client_auth: x\n",
            "client_auth",
        ),
        (
            "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  \
             cipher_suites: [TLS_RSA_WITH_3DES_EDE_CBC_SHA]\n",
            "tls_server_config.cipher_suites[0]",
        ),
        (
            "tls_server_config:\n  cert_file: server.pem\n  key_file: ca.key\n",
            "tls_server_config.key_file",
        ),
        ("basic_auth_users:\n  alice: hunter2\n", "basic_auth_users.alice"),
        // A valid hash of cost 31: days of a core for each check.
        (
            "basic_auth_users:\n  bob: $2b$31$.BKGC/kphu/xYgO58UvGOutTfQLB/V0WBs27ifJNqlrZ4R155bsjG\n",
            "basic_auth_users.bob",
        ),
        (
            "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  \
             client_ca_file: ca.pem\n",
            "tls_server_config.client_auth_type",
        ),
        // Only exporter-toolkit's headers, none frontline writes itself.
        (
            "http_server_config:\n  headers:\n    Content-Type: text/html\n",
            "http_server_config.headers.Content-Type",
        ),
        (
            "http_server_config:\n  headers:\n    X-Frame-Options: allow-from x\n",
            "http_server_config.headers.X-Frame-Options",
        ),
    ] {
        let web = dir.join("bad.yml");
        std::fs::write(&web, text).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_frontline"))
            .args(["run", "--embedded", "--listen", "127.0.0.1:0"])
            .args(["--web-config", web.to_str().unwrap()])
            .env_remove("KAFKA_BROKERS")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{text}: {err}");
        assert!(err.contains(&format!("`{key}`")), "{text}: {err}");
        assert!(!err.contains("hunter2"), "{err}");
    }
}

#[test]
fn kafka_secrets_are_not_printed() {
    // A misspelled secret key: librdkafka rejects it, echoing its value; the
    // error names the key only.
    let out = Command::new(env!("CARGO_BIN_EXE_frontline"))
        .args(["run", "--embedded", "--listen", "127.0.0.1:0"])
        .args(["--set", "kafka.sasl.pasword=hunter2-s3cret"])
        .args(["--set", "kafka.ssl.key.password=other-s3cret"])
        .env_remove("KAFKA_BROKERS")
        .env("RUST_LOG", "debug")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("`kafka.\"sasl.pasword\"`"), "{err}");
    assert!(!err.contains("s3cret"), "a secret was printed: {err}");
}

/// Defect: frontline kept the soft open-file limit it was started with:
/// under 1024 (systemd's default, many containers') accept failed for want
/// of descriptors before the default `http.max_connections` (1024) was
/// reached, a WARN for every failure. It raises the soft limit to the hard
/// one, as Go's servers do, and names a hard limit still too low.
#[test]
fn the_open_file_limit_is_raised_to_the_hard_one_or_named() {
    let dir = tempfile::tempdir().unwrap();
    // Hard limits this process may set: at most its own.
    let mut own = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the struct given.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut own) }, 0);
    let enough = own.rlim_max.min(2048);
    assert!(
        enough > 1024 + 256,
        "this host's hard limit {} is too low for the test",
        own.rlim_max
    );
    for (hard, too_low) in [(enough, false), (900, true)] {
        let port = free_port();
        let log = dir.path().join(format!("{hard}.log"));
        let script = format!(
            "ulimit -Sn 512 && ulimit -Hn {hard} && exec \"$0\" run --embedded --listen 127.0.0.1:{port} 2>'{}'",
            log.display()
        );
        let p = Proc(
            Command::new("sh")
                .args(["-c", &script, env!("CARGO_BIN_EXE_frontline")])
                .env_remove("KAFKA_BROKERS")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .spawn()
                .unwrap(),
        );
        wait_for_port(port);
        // The port is bound a moment before the limit is raised.
        let soft = || {
            let limits = std::fs::read_to_string(format!("/proc/{}/limits", p.0.id())).unwrap();
            limits
                .lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or_else(|| panic!("{limits}"))
        };
        let t = Instant::now();
        while soft() != hard && t.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(soft(), hard);
        // The WARN follows the raise; a second is plenty for it.
        let warned = || {
            std::fs::read_to_string(&log)
                .unwrap()
                .contains("the open-file limit is below http.max_connections")
        };
        let t = Instant::now();
        while !warned() && t.elapsed() < Duration::from_secs(1) {
            std::thread::sleep(Duration::from_millis(50));
        }
        let text = std::fs::read_to_string(&log).unwrap();
        assert_eq!(
            text.contains("the open-file limit is below http.max_connections"),
            too_low,
            "{text}"
        );
    }
}
