//! The `frontline` command line: `run` (live from Kafka), `replay` (a file
//! to the end), `simulate` (an event source).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand, ValueEnum};
use tokio::sync::watch;
use tracing::{info, warn};

use frontline::config::{Config, Flags};
use frontline::hub::SnapshotHub;
use frontline::replay::{self, ReplayArgs};
use frontline::simulate::{Pace, SimConfig, Simulator};
use frontline::stderr;

/// Large tables on huge pages (docs/performance.md, "Cost as state grows").
#[global_allocator]
static ALLOC: frontline::huge_pages::HugePageAlloc = frontline::huge_pages::HugePageAlloc;

/// Customer-support KPIs from a stream of events, as Prometheus metrics.
#[derive(Parser, Debug)]
#[command(name = "frontline", version, about)]
struct Cli {
    /// Log format: human on a terminal, JSON lines for collectors.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human, env = "FRONTLINE_LOG_FORMAT")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

/// Config file and overrides, shared by `run` and `replay`.
#[derive(Args, Debug)]
struct ConfigArgs {
    /// Config file (TOML); every key can be overridden by FRONTLINE_<SECTION>__<KEY> and --set.
    #[arg(long, env = "FRONTLINE_CONFIG")]
    config: Option<PathBuf>,
    /// Override a config key: `--set time.allowed_lateness=5m` (repeatable).
    #[arg(long = "set", value_name = "SECTION.KEY=VALUE")]
    sets: Vec<String>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Consume events from Kafka and serve the KPIs on /metrics.
    Run(RunArgs),
    /// Process a JSON-lines file (or stdin) to the end and write the final metrics.
    Replay(ReplayCmd),
    /// Simulate a support centre: JSON lines to stdout, or to a Kafka topic.
    Simulate(SimulateArgs),
}

#[derive(Args, Debug)]
struct RunArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// HTTP listen address (http.listen).
    #[arg(long, env = "FRONTLINE_LISTEN")]
    listen: Option<String>,
    /// Kafka bootstrap servers (kafka."bootstrap.servers").
    #[arg(long, env = "KAFKA_BROKERS")]
    brokers: Option<String>,
    /// Topic to consume (kafka.topic).
    #[arg(long)]
    topic: Option<String>,
    /// Consumer group (kafka."group.id").
    #[arg(long)]
    group: Option<String>,
    /// Prometheus exporter-toolkit web config file: TLS, basic auth
    /// (http.web_config).
    #[arg(long, env = "FRONTLINE_WEB_CONFIG")]
    web_config: Option<PathBuf>,
    /// Start an in-process Kafka-protocol broker (librdkafka's mock
    /// cluster) with the simulator producing to it: a demo with nothing
    /// to install. Ignored when brokers are given.
    #[arg(long)]
    embedded: bool,
    /// With --embedded: stop the simulator after this much simulated
    /// time (from a day ago), so the state holds still (tests, screenshots).
    #[arg(long, value_name = "DURATION", requires = "embedded")]
    simulate_for: Option<frontline::config::Dur>,
    /// With --embedded: the simulated centre's offset from UTC in hours;
    /// its daily curve (quiet nights, busy days, a lunchtime incident)
    /// follows its local time.
    #[arg(long, value_name = "HOURS", default_value_t = 0, allow_negative_numbers = true,
          value_parser = clap::value_parser!(i32).range(-12..=14))]
    simulate_utc_offset: i32,
}

#[derive(Args, Debug)]
struct ReplayCmd {
    /// JSON-lines input; `-` reads stdin.
    #[arg(long)]
    input: PathBuf,
    #[command(flatten)]
    config: ConfigArgs,
    /// Where to write the Prometheus text exposition (`-` = stdout, the default).
    #[arg(long)]
    metrics_out: Option<PathBuf>,
    /// Where to write bad lines with their reason, as JSON lines.
    #[arg(long)]
    dead_letter: Option<PathBuf>,
    /// Where to write every SLA state change, as JSON lines (docs/sla.md).
    #[arg(long)]
    sla_events_out: Option<PathBuf>,
    /// Where to write the KPI history, one sample per step at event
    /// time, as OpenMetrics for `promtool tsdb create-blocks-from
    /// openmetrics` (docs/operations.md, "Backfill").
    #[arg(long)]
    openmetrics_out: Option<PathBuf>,
    /// The step of --openmetrics-out, e.g. `30s`, `1m`, `5m`.
    #[arg(long, default_value = "1m", value_parser = parse_step, requires = "openmetrics_out")]
    step: frontline::config::Dur,
    /// 1 reads, decodes and applies on one thread; 2 (the default)
    /// reads, decodes and checks events (their time, duplicates) on a
    /// second thread while the engine applies.
    /// The output is the same.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=2))]
    threads: u16,
}

#[derive(Args, Debug)]
struct SimulateArgs {
    /// Seed of the simulation (same seed, same events).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Event time of the start: RFC 3339, `now`, or `now-DURATION` (e.g. `now-30d`).
    #[arg(long, default_value = "2026-11-16T08:00:00Z")]
    start: String,
    /// Simulated time to cover, e.g. `8h`, `1d`.
    #[arg(long, default_value = "1d")]
    duration: String,
    /// Contacts per hour at the daily peak.
    #[arg(long, default_value_t = 240.0)]
    peak_per_hour: f64,
    /// Agents on the roster (shifts put on duty as many as the forecast needs).
    #[arg(long, default_value_t = 48)]
    agents: usize,
    /// Produce to these Kafka bootstrap servers instead of stdout.
    #[arg(long)]
    brokers: Option<String>,
    /// Topic to produce to.
    #[arg(long, default_value = "support-events")]
    topic: String,
    /// Simulated seconds per wall second (0: as fast as possible; the default to Kafka is 1, real time). To Kafka, an event is never sent before the wall clock reaches its time.
    #[arg(long, value_parser = non_negative)]
    speed: Option<f64>,
    /// At most this many events per second (0: no cap).
    #[arg(long, default_value_t = 0.0, value_parser = non_negative)]
    rate: f64,
}

fn init_logs(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only for a person at a terminal, never into files or pipes.
    // A line that cannot be written is dropped and counted (frontline::stderr);
    // the subscriber must not report that on stderr itself.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(|| stderr::Stderr)
        .log_internal_errors(false);
    stderr::set_json(format == LogFormat::Json);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Human => builder.init(),
    }
}

/// The process's environment as the config reads it
/// ([`frontline::config::environment`]).
fn environment() -> Result<Vec<(String, String)>, String> {
    frontline::config::environment(std::env::vars_os()).map_err(|e| e.to_string())
}

/// The config file, the environment, `--set`, then the command's own
/// flags, validated.
fn load_config(
    args: &ConfigArgs,
    env: impl Iterator<Item = (String, String)>,
    flags: &Flags,
) -> Result<Config, String> {
    Config::load_layers(args.config.as_deref(), env, &args.sets, flags).map_err(|e| e.to_string())
}

/// Runs `f` to its end on a multi-threaded runtime, then leaves without
/// waiting for blocking tasks (a Kafka client still closing).
fn block_on<F: std::future::Future>(f: F) -> std::io::Result<F::Output> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let out = rt.block_on(f);
    rt.shutdown_background();
    Ok(out)
}

fn fail(e: impl std::fmt::Display) -> ExitCode {
    stderr::report(tracing::Level::ERROR, format_args!("frontline: {e}"));
    ExitCode::from(2)
}

/// A failure before anything is consumed (the listen address, the Kafka
/// client settings): exit code 2, like a bad config.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct StartupError(String);

/// Whether `run` failed at start up: exit code 2 rather than 1.
fn is_startup_error(e: &anyhow::Error) -> bool {
    use rdkafka::error::KafkaError;
    e.chain().any(|c| {
        c.is::<StartupError>()
            || matches!(
                c.downcast_ref::<KafkaError>(),
                Some(KafkaError::ClientCreation(_) | KafkaError::ClientConfig(..))
            )
    })
}

/// An error chain as one line, with librdkafka's config errors stripped of
/// the value they echo (it may be a secret).
fn error_text(e: &anyhow::Error) -> String {
    use rdkafka::error::KafkaError;
    e.chain()
        .map(|c| match c.downcast_ref::<KafkaError>() {
            Some(k) => frontline::config::kafka_error_text(k),
            None => c.to_string(),
        })
        .collect::<Vec<_>>()
        .join(": ")
}

fn sim_config(seed: u64, start: &str, peak: f64, agents: usize) -> Result<SimConfig, String> {
    let now = || jiff::Timestamp::now().as_millisecond();
    let start_ms = if start == "now" {
        now()
    } else if let Some(ago) = start.strip_prefix("now-") {
        // `now-1d`: a start in the past relative to the wall clock.
        let d: frontline::config::Dur = ago.parse().map_err(|e| format!("--start: {e}"))?;
        now() - d.ms()
    } else {
        frontline::decode::parse_rfc3339(start).map_err(|e| format!("--start: {e}"))?
    };
    if !(peak > 0.0 && peak.is_finite()) || agents == 0 {
        return Err("--peak-per-hour and --agents must be positive".into());
    }
    // Events before 1970 are refused by every reader of them (SPEC §1.1).
    if start_ms < 0 {
        return Err(format!("--start: `{start}` is before 1970"));
    }
    Ok(SimConfig {
        seed,
        start_ms,
        peak_per_hour: peak,
        agents,
        ..Default::default()
    })
}

fn simulate_stdout(cfg: SimConfig, end: i64) {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for ev in Simulator::new(cfg).take_while(|e| e.ts < end) {
        if writeln!(out, "{}", ev.json).is_err() {
            return; // the reader went away (a closed pipe)
        }
    }
    let _ = out.flush();
}

/// How long a shutdown may take, whatever Kafka does (docs/operations.md).
const SHUTDOWN_DEADLINE: std::time::Duration = std::time::Duration::from_secs(9);

/// SIGTERM or SIGINT → `true` on the returned channel. SIGHUP, which
/// Prometheus's own servers take as "reload", is logged and changes
/// nothing (its default would end the process with no last checkpoint).
fn shutdown_signal() -> watch::Receiver<bool> {
    use tokio::signal::unix::{signal, SignalKind};
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
        let mut hup = signal(SignalKind::hangup()).expect("SIGHUP handler");
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break,
                _ = term.recv() => break,
                _ = hup.recv() => info!(
                    "SIGHUP ignored: the web config file reloads by itself when it changes; \
                     every other setting needs a restart"
                ),
            }
        }
        info!("shutdown signal received");
        let _ = tx.send(true);
        // Every step of the shutdown is bounded, but a Kafka client closing
        // against an unreachable cluster can still hang; by now every
        // checkpoint is written or abandoned, so leaving is safe.
        std::thread::spawn(|| {
            std::thread::sleep(SHUTDOWN_DEADLINE);
            warn!(
                deadline_s = SHUTDOWN_DEADLINE.as_secs(),
                "shutdown deadline reached; exiting"
            );
            std::process::exit(0);
        });
    });
    rx
}

async fn run_live(
    mut cfg: Config,
    embedded: bool,
    simulate_for: Option<frontline::config::Dur>,
    utc_offset_hours: i32,
) -> anyhow::Result<()> {
    // A bad web config stops us before anything is consumed (exit 2).
    let web = match &cfg.http.web_config {
        Some(p) => {
            Some(frontline::webconfig::Watcher::new(p).map_err(|e| StartupError(e.to_string()))?)
        }
        None => None,
    };
    let shutdown = shutdown_signal();
    let hub = Arc::new(SnapshotHub::new());
    // The embedded broker lives as long as this function.
    let _mock = if embedded {
        Some(start_embedded(
            &mut cfg,
            simulate_for,
            utc_offset_hours,
            &shutdown,
        )?)
    } else {
        None
    };
    // A librdkafka property librdkafka refuses stops us before the
    // listener is bound, so its one line is all a failed start prints.
    cfg.kafka
        .client_config(&[])
        .create_native_config()
        .map_err(|e| StartupError(frontline::config::kafka_error_text(&e)))?;
    let cfg = Arc::new(cfg);
    let listener = tokio::net::TcpListener::bind(&cfg.http.listen)
        .await
        .map_err(|e| StartupError(format!("cannot listen on {}: {e}", cfg.http.listen)))?;
    let addr = listener.local_addr()?;
    let shown = if addr.ip().is_unspecified() {
        format!("127.0.0.1:{}", addr.port())
    } else {
        addr.to_string()
    };
    let current = web.as_ref().map(|w| w.current());
    let scheme = if current.as_ref().is_some_and(|w| w.tls.is_some()) {
        "https"
    } else {
        "http"
    };
    info!(
        url = %format!("{scheme}://{shown}/metrics"),
        basic_auth = current.as_ref().is_some_and(|w| w.users.is_some()),
        "serving metrics"
    );
    let app = frontline::server::router(frontline::server::AppState {
        hub: hub.clone(),
        cfg: cfg.clone(),
        web: web.clone(),
    });
    spawn_trends(hub.clone(), shutdown.clone());
    let stop = shutdown.clone();
    let http_cfg = cfg.http.clone();
    let server =
        tokio::spawn(
            async move { frontline::server::serve(listener, app, web, &http_cfg, stop).await },
        );
    frontline::source::run(cfg, hub, shutdown).await?;
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), server).await;
    info!("stopped");
    Ok(())
}

/// The embedded default: an in-process Kafka-protocol broker (librdkafka's
/// mock cluster) with the topics, and the simulator producing to it; `cfg`
/// is pointed at it. The broker lives as long as the returned handle.
fn start_embedded(
    cfg: &mut Config,
    simulate_for: Option<frontline::config::Dur>,
    utc_offset_hours: i32,
    shutdown: &tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<rdkafka::mocking::MockCluster<'static, rdkafka::producer::DefaultProducerContext>>
{
    let mock = rdkafka::mocking::MockCluster::new(1)?;
    let topic = cfg.kafka.topics[0].clone();
    mock.create_topic(&topic, 4, 1)?;
    mock.create_topic(&cfg.kafka.dlq(), 1, 1)?;
    mock.create_topic(&cfg.checkpoint.topic_for(&topic), 4, 1)?;
    let brokers = mock.bootstrap_servers();
    info!(brokers = %brokers, topic = %topic, "embedded Kafka-protocol broker (librdkafka mock cluster) started");
    cfg.kafka
        .client
        .insert("bootstrap.servers".into(), brokers.clone());
    let producer: rdkafka::producer::FutureProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .create()?;
    // A day of history first: the simulated clock starts a day ago and
    // runs at 288x (a day in five minutes) until it reaches the present,
    // then in real time, so no event is ever ahead of the wall clock
    // (time.max_future_skew) and a newcomer sees a full 24h window soon.
    let start_ms = jiff::Timestamp::now().as_millisecond() - 86_400_000;
    let end_ms = simulate_for.map_or(i64::MAX, |d| start_ms + d.ms());
    let sim = Simulator::new(SimConfig {
        start_ms,
        utc_offset_hours,
        ..Default::default()
    });
    let stop = shutdown.clone();
    tokio::spawn(async move {
        let pace = Pace {
            speed: 288.0,
            rate: 0.0,
            not_ahead_of_wall_clock: true,
        };
        match frontline::simulate::produce(&producer, &topic, sim, pace, end_ms, stop).await {
            Ok(n) => info!(events = n, "simulator stopped"),
            Err(e) => warn!(error = %e, "simulator stopped"),
        }
    });
    Ok(mock)
}

/// The live page's trend ring: a point a minute, the first at once.
fn spawn_trends(hub: Arc<SnapshotHub>, mut stop: tokio::sync::watch::Receiver<bool>) {
    tokio::spawn(async move {
        let step = std::time::Duration::from_millis(frontline::live::TREND_STEP_MS as u64);
        let mut tick = tokio::time::interval(step);
        loop {
            tokio::select! {
                _ = tick.tick() => hub.sample_trends(jiff::Timestamp::now().as_millisecond()),
                _ = stop.changed() => break,
            }
        }
    });
}

/// librdkafka's `malloc`, `calloc`, `realloc` and `free`, routed here by
/// the linker (`--wrap`, see `build.rs`): its fetch responses take slots of
/// their own (`frontline::c_blocks`); everything else is the allocator's.
#[cfg(all(feature = "mimalloc", target_os = "linux"))]
mod c_alloc;

fn main() -> ExitCode {
    // Tables about to grow get their successors on the background thread.
    frontline::engine::prepare_tables_with(frontline::background::prepare);
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    init_logs(cli.log_format);
    match cli.command {
        Command::Run(args) => run(args),
        Command::Replay(args) => replay(args),
        Command::Simulate(args) => simulate(args),
    }
}

/// A command line clap could not read, or `--help` and `--version`: the
/// latter as clap prints them; an error, with JSON logs asked for by
/// `--log-format json` or `FRONTLINE_LOG_FORMAT=json`, as one JSON log line
/// (so that a collector reading stderr parses every line), else as clap
/// prints it. Clap's exit code either way.
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    let code = ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        let _ = e.print();
        return code;
    }
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let asked = args
        .windows(2)
        .any(|w| w[0] == "--log-format" && w[1] == "json")
        || args.iter().any(|a| a == "--log-format=json")
        || std::env::var_os("FRONTLINE_LOG_FORMAT").is_some_and(|v| v == "json");
    if asked {
        init_logs(LogFormat::Json);
        stderr::report(tracing::Level::ERROR, e.render().to_string().trim());
    } else {
        let _ = e.print();
    }
    code
}

/// The validated config of `run`: its flags over the file, the environment
/// and `--set`.
fn run_config(
    args: &RunArgs,
    env: impl Iterator<Item = (String, String)>,
) -> Result<Config, String> {
    if args.brokers.as_deref().is_some_and(no_brokers) {
        return Err("--brokers (KAFKA_BROKERS) is empty: give host:port[,host:port…]".into());
    }
    let flags = Flags {
        listen: args.listen.clone(),
        brokers: args.brokers.clone(),
        topic: args.topic.clone(),
        group: args.group.clone(),
        web_config: args.web_config.clone(),
    };
    let cfg = load_config(&args.config, env, &flags)?;
    let servers = cfg.kafka.client.get("bootstrap.servers");
    if !embedded(args) && servers.is_none_or(|b| no_brokers(b)) {
        return Err(
            "invalid config key `kafka.\"bootstrap.servers\"`: empty; give host:port[,host:port…]"
                .into(),
        );
    }
    Ok(cfg)
}

/// Whether a broker list names no broker (empty, blanks, commas).
fn no_brokers(list: &str) -> bool {
    list.split(',').all(|s| s.trim().is_empty())
}

/// Whether `run` starts its embedded broker: asked for, and no brokers given.
fn embedded(args: &RunArgs) -> bool {
    args.embedded && args.brokers.is_none()
}

fn run(args: RunArgs) -> ExitCode {
    let cfg = match environment().and_then(|env| run_config(&args, env.into_iter())) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    match block_on(run_live(
        cfg,
        embedded(&args),
        args.simulate_for,
        args.simulate_utc_offset,
    )) {
        Err(e) => fail(e),
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) if is_startup_error(&e) => fail(error_text(&e)),
        Ok(Err(e)) => {
            stderr::report(
                tracing::Level::ERROR,
                format_args!("frontline: {}", error_text(&e)),
            );
            ExitCode::from(1)
        }
    }
}

fn replay(args: ReplayCmd) -> ExitCode {
    let loaded =
        environment().and_then(|env| load_config(&args.config, env.into_iter(), &Flags::default()));
    let cfg = match loaded {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let args = ReplayArgs {
        input: args.input,
        metrics_out: args.metrics_out,
        dead_letter: args.dead_letter,
        sla_events_out: args.sla_events_out,
        progress: replay::stderr_is_terminal(),
        openmetrics_out: args.openmetrics_out,
        step_ms: args.step.ms(),
        threads: args.threads.into(),
    };
    if let Err(e) = remove_outputs_on_signal() {
        return fail(format!("cannot watch for signals: {e}"));
    }
    // The summary line is written by the replay itself, before the
    // metrics, so that a failure to write it is counted in them.
    match replay::run(&cfg, &args) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

/// A replay stopped by SIGINT, SIGTERM or SIGHUP removes its outputs'
/// temporary files and spool directories, then exits with 128 + the
/// signal's number, as the signal itself would have: a replay writing a
/// large backfill leaves nothing behind (its outputs are put in place
/// only at the end). The handlers are in place when this returns.
fn remove_outputs_on_signal() -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (mut int, mut term, mut hup) = {
        let _in = rt.enter();
        (
            signal(SignalKind::interrupt())?,
            signal(SignalKind::terminate())?,
            signal(SignalKind::hangup())?,
        )
    };
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let number = rt.block_on(async {
                tokio::select! {
                    _ = int.recv() => 2,
                    _ = term.recv() => 15,
                    _ = hup.recv() => 1,
                }
            });
            let _held = replay::remove_unfinished();
            std::process::exit(128 + number);
        })?;
    Ok(())
}

/// A number of `--speed` or `--rate`: finite and not negative.
fn non_negative(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("`{s}` is not a number of 0 or more")),
    }
}

fn simulate(args: SimulateArgs) -> ExitCode {
    let sim = match sim_config(args.seed, &args.start, args.peak_per_hour, args.agents) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    if let Some(b) = &args.brokers {
        if no_brokers(b) {
            return fail("--brokers is empty: give host:port[,host:port…]");
        }
        if let Err(frontline::config::ConfigError::Invalid { key, reason }) =
            frontline::config::topic_name("--topic", &args.topic)
        {
            return fail(format!("{key}: {reason}"));
        }
    }
    let dur: frontline::config::Dur = match args.duration.parse() {
        Ok(d) => d,
        Err(e) => return fail(format!("--duration: {e}")),
    };
    let end = sim.start_ms.saturating_add(dur.ms());
    let Some(brokers) = args.brokers else {
        simulate_stdout(sim, end);
        return ExitCode::SUCCESS;
    };
    // frontline rejects events ahead of the wall clock (SPEC §2): a
    // simulation that reaches the present goes on in real time.
    let pace = Pace {
        speed: args.speed.unwrap_or(1.0),
        rate: args.rate,
        not_ahead_of_wall_clock: true,
    };
    let topic = args.topic;
    let produced = block_on(async {
        let producer: rdkafka::producer::FutureProducer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", &brokers)
            .set("linger.ms", "5")
            .create()?;
        let stop = shutdown_signal();
        let sim = Simulator::new(sim);
        let n = frontline::simulate::produce(&producer, &topic, sim, pace, end, stop).await?;
        anyhow::Ok(n)
    });
    match produced {
        Err(e) => fail(e),
        Ok(Ok(n)) => {
            stderr::report(
                tracing::Level::INFO,
                format_args!("simulate: {n} events produced to {topic}"),
            );
            ExitCode::SUCCESS
        }
        Ok(Err(e)) => {
            stderr::report(tracing::Level::ERROR, format_args!("frontline: {e:#}"));
            ExitCode::from(1)
        }
    }
}

/// `--step`: a duration of at least one second (Prometheus's resolution is
/// the millisecond, but a finer step only multiplies the file).
fn parse_step(s: &str) -> Result<frontline::config::Dur, String> {
    let d: frontline::config::Dur = s.parse()?;
    if d.ms() < 1000 {
        return Err(format!("`{s}`: the step must be at least 1s"));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_args(argv: &[&str]) -> RunArgs {
        let cli = Cli::try_parse_from([&["frontline", "run"], argv].concat()).unwrap();
        match cli.command {
            Command::Run(a) => a,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_simulation_starts_at_a_time_now_or_a_duration_ago() {
        let at = |s: &str| sim_config(1, s, 240.0, 48).map(|c| c.start_ms);
        assert_eq!(at("2026-11-16T08:00:00Z"), Ok(1_794_816_000_000));
        let now = jiff::Timestamp::now().as_millisecond();
        let ago = at("now-30d").unwrap();
        assert!((now - 30 * 86_400_000 - ago).abs() < 60_000, "{ago}");
        assert!(at("now").unwrap() >= now);
        assert!(at("now-5x").unwrap_err().contains("--start"));
    }

    /// Defect: `run`'s flags were spliced into TOML text
    /// (`kafka.topic="{t}"`), so a `"` broke the value and a `\` was read
    /// as an escape (`\b` became a backspace).
    #[test]
    fn run_flags_arrive_verbatim_whatever_they_hold() {
        let odd = r#"a"b\c\bd"#;
        // A topic name holds neither `"` nor `\` (Kafka's rule, checked):
        // one with TOML's key separator, then.
        let topic = "a.b-c_d";
        let args = run_args(&[
            "--brokers",
            &format!("{odd}:9092"),
            "--topic",
            topic,
            "--group",
            odd,
            "--listen",
            "127.0.0.1:0",
            "--web-config",
            "/nonexistent/w\"e\\b.yml",
        ]);
        let cfg = run_config(&args, std::iter::empty()).unwrap();
        assert_eq!(cfg.kafka.topics, vec![topic.to_string()]);
        assert_eq!(cfg.kafka.client["group.id"], odd);
        assert_eq!(cfg.kafka.client["bootstrap.servers"], format!("{odd}:9092"));
        assert_eq!(cfg.http.listen, "127.0.0.1:0");
        assert_eq!(
            cfg.http.web_config.as_deref(),
            Some(std::path::Path::new("/nonexistent/w\"e\\b.yml"))
        );
    }

    /// Flags win over `--set` and the environment; a bad flag value is
    /// refused by its config key.
    #[test]
    fn run_flags_override_set_and_env_and_are_validated() {
        let args = run_args(&[
            "--brokers",
            "k:9092",
            "--topic",
            "from-flag",
            "--set",
            "kafka.topic=from-set",
        ]);
        let env = [("FRONTLINE_KAFKA__TOPIC".to_string(), "from-env".to_string())];
        let cfg = run_config(&args, env.into_iter()).unwrap();
        assert_eq!(cfg.kafka.topics, vec!["from-flag".to_string()]);

        let args = run_args(&["--brokers", "k:9092", "--listen", "a\"b"]);
        let e = run_config(&args, std::iter::empty()).unwrap_err();
        assert!(e.contains("`http.listen`") && e.contains("`a\"b`"), "{e}");

        let args = run_args(&["--brokers", " "]);
        let e = run_config(&args, std::iter::empty()).unwrap_err();
        assert!(e.contains("--brokers"), "{e}");
    }
}
