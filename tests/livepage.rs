//! The live page in a real browser: `frontline run --embedded` (the
//! simulator feeding the embedded broker) serves `/`, headless Chromium
//! (Debian's `chromium`, installed by `scripts/install-tools.sh`) renders
//! it, and the rendered DOM is checked against `/metrics` and
//! `/api/summary`: headline values, a KPI that misses its target marked
//! so, and the "closest to breaching" list naming real ticket ids.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::prom::{free_port, wait_for_port, Proc};

fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let (head, body) = out.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_string())
}

/// A sample of the Prometheus text whose labels include all of `want`.
fn metric(text: &str, name: &str, want: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with('{'))
        .find(|l| {
            want.iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .and_then(|l| l.rsplit_once(' ')?.1.parse().ok())
}

/// The value of attribute `attr` on the element that carries `key`.
fn attr(dom: &str, key: &str, attr: &str) -> Option<String> {
    let at = dom.find(key)?;
    let open = dom[..at].rfind('<')?;
    let close = at + dom[at..].find('>')?;
    let tag = &dom[open..close];
    let a = format!("{attr}=\"");
    let v = tag.find(&a)? + a.len();
    Some(tag[v..v + tag[v..].find('"')?].to_string())
}

fn dump_dom(dir: &Path, url: &str) -> String {
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            &format!("--user-data-dir={}", dir.join("chromium").display()),
            "--virtual-time-budget=3000",
            "--dump-dom",
            url,
        ])
        .stderr(Stdio::null())
        .output()
        .expect("chromium not found: run ./scripts/install-tools.sh (make test does)");
    assert!(out.status.success(), "chromium: {:?}", out.status);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_live_page_renders_what_metrics_shows() {
    let dir = tempfile::tempdir().unwrap();
    // The shipped config (it has SLA policies), with a CSAT target no ratio
    // can meet (> 1).
    let cfg = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/frontline.toml"
    ))
    .unwrap()
    .replace("csat = 0.85", "csat = 1.5")
    .replace("idle_timeout = \"30s\"", "idle_timeout = \"1d\"");
    assert!(
        cfg.contains("[[sla.policies]]") && cfg.contains("csat = 1.5"),
        "deploy/frontline.toml no longer has SLA policies and a CSAT target"
    );
    let cfg_path = dir.path().join("frontline.toml");
    std::fs::write(&cfg_path, cfg).unwrap();
    let port = free_port();
    let log = std::fs::File::create(dir.path().join("frontline.log")).unwrap();
    let _p = Proc(
        Command::new(env!("CARGO_BIN_EXE_frontline"))
            .args(["run", "--embedded", "--config"])
            .arg(&cfg_path)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            // Three simulated hours (about 40 s at 288x), then the input
            // stops and (idle clock at 1d) every value holds still.
            .args(["--simulate-for", "3h"])
            // The simulated centre is quiet at night (its local time): put
            // the three hours at 09:00–12:00 local, whatever the wall clock.
            .args([
                "--simulate-utc-offset",
                &business_morning_offset().to_string(),
            ])
            .env_remove("KAFKA_BROKERS")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    // Wait for the simulator to stop, and CSAT in the 24h window and open
    // SLA clocks.
    let t = Instant::now();
    loop {
        let ready = http_get(port, "/api/summary?window=24h").and_then(|s| {
            let v: serde_json::Value = serde_json::from_str(&s).ok()?;
            let csat = v["kpis"].as_array()?.iter().find(|k| k["kpi"] == "csat")?["value"].as_f64();
            let stopped = std::fs::read_to_string(dir.path().join("frontline.log"))
                .ok()?
                .contains("simulator stopped");
            (stopped && csat.is_some() && !v["closest_to_breach"].as_array()?.is_empty())
                .then_some(())
        });
        if ready.is_some() {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(90),
            "no CSAT or open SLA clocks after 90 s"
        );
        std::thread::sleep(Duration::from_millis(500));
    }

    // The page and /metrics at the same moment: /metrics read before and
    // after the browser, retried until nothing compared moved in between.
    let url = format!("http://127.0.0.1:{port}/?window=24h");
    let compared = [
        "csat",
        "service_level",
        "abandonment",
        "first_contact_resolution",
    ];
    let mut last = String::new();
    for attempt in 0..20 {
        let before = http_get(port, "/metrics").unwrap();
        let dom = dump_dom(dir.path(), &url);
        let after = http_get(port, "/metrics").unwrap();
        let m = |text: &str, kpi: &str| {
            metric(
                text,
                "support_window_ratio",
                &[("kpi", kpi), ("window", "24h")],
            )
        };
        if compared.iter().any(|k| m(&before, k) != m(&after, k)) {
            last = format!("attempt {attempt}: /metrics moved while the page loaded");
            continue;
        }
        assert!(
            attr(&dom, "id=\"status\"", "data-generated-ms").is_some_and(|v| !v.is_empty()),
            "the page rendered no summary:\n{dom}"
        );
        assert_eq!(
            attr(&dom, "id=\"status\"", "data-window").as_deref(),
            Some("24h")
        );
        assert!(m(&before, "csat").is_some(), "no CSAT on /metrics");
        for k in compared {
            let want = m(&before, k);
            let got = attr(&dom, &format!("data-kpi=\"{k}\""), "data-value")
                .filter(|v| !v.is_empty())
                .map(|v| v.parse::<f64>().unwrap());
            assert_eq!(got, want, "{k}: page {got:?}, /metrics {want:?}");
        }
        // CSAT misses its (impossible) target and is marked so.
        assert_eq!(
            attr(&dom, "data-kpi=\"csat\"", "data-meets").as_deref(),
            Some("false")
        );
        assert!(attr(&dom, "data-kpi=\"csat\"", "class").is_some_and(|c| c.contains("bad")));
        // The at-risk list names tickets or calls the engine holds: each id
        // appears in an exemplar of /metrics' OpenMetrics or as an id the
        // simulator makes (T-/C- prefixed); its deadline is in the future of
        // the event clock or at most its lateness behind.
        let ids: Vec<String> = dom
            .split("data-id=\"")
            .skip(1)
            .map(|s| s[..s.find('"').unwrap()].to_string())
            .collect();
        assert!(!ids.is_empty(), "no clocks listed:\n{dom}");
        let summary = http_get(port, "/api/summary?window=24h").unwrap();
        let v: serde_json::Value = serde_json::from_str(&summary).unwrap();
        let open_now: Vec<&str> = v["closest_to_breach"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|d| d["id"].as_str())
            .collect();
        // The input has stopped: the page lists exactly the clocks the
        // engine reports now, and they are the simulator's tickets and calls.
        assert_eq!(ids, open_now, "page and /api/summary disagree");
        for d in v["closest_to_breach"].as_array().unwrap() {
            let id = d["id"].as_str().unwrap();
            let prefix = if d["entity"] == "ticket" {
                "tkt-"
            } else {
                "call-"
            };
            assert!(
                id.starts_with(prefix),
                "{id} is no simulated {}",
                d["entity"]
            );
        }
        std::fs::write(dir.path().join("page.html"), &dom).unwrap();
        // A bookmark of a window the config no longer has falls back to
        // the default window instead of failing every update.
        let dom = dump_dom(
            dir.path(),
            &format!("http://127.0.0.1:{port}/?window=bogus"),
        );
        for a in ["data-generated-ms", "data-window"] {
            assert!(
                attr(&dom, "id=\"status\"", a).is_some_and(|v| !v.is_empty()),
                "the page rendered no summary:\n{dom}"
            );
        }
        return;
    }
    panic!("{last}");
}

/// Defect: behind basic auth, opened with the credentials in its URL (a
/// wall screen's way to skip the prompt), the page's every update failed:
/// a fetch resolved against that URL carries the credentials, which
/// browsers refuse. It asks the page's origin and path without them, and
/// the browser sends the credentials it was given for the page.
#[test]
fn the_live_page_updates_behind_basic_auth_with_credentials_in_its_url() {
    let dir = tempfile::tempdir().unwrap();
    let web = dir.path().join("web.yml");
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    std::fs::write(&web, format!("basic_auth_users:\n  prom: '{hash}'\n")).unwrap();
    let port = free_port();
    let _p = Proc(
        Command::new(env!("CARGO_BIN_EXE_frontline"))
            .args(["run", "--embedded", "--simulate-for", "10m"])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .arg("--web-config")
            .arg(&web)
            .env_remove("KAFKA_BROKERS")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for_port(port);
    let dom = dump_dom(dir.path(), &format!("http://prom:s3cret@127.0.0.1:{port}/"));
    // (The page's script holds the words too: the element's text is read.)
    assert!(!dom.contains(">update failed"), "{dom}");
    assert!(
        attr(&dom, "id=\"status\"", "data-generated-ms").is_some_and(|v| !v.is_empty()),
        "the page rendered no summary:\n{dom}"
    );
}

/// The UTC offset (−12..=14 h) that makes a day ago, when the embedded
/// simulator starts, 09:00 local time.
fn business_morning_offset() -> i32 {
    let start_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        - 86_400;
    let utc_hour = (start_s.rem_euclid(86_400) / 3600) as i32;
    let offset = (9 - utc_hour).rem_euclid(24);
    if offset > 14 {
        offset - 24
    } else {
        offset
    }
}
