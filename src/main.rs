//! The `frontline` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use frontline::config::Config;
use frontline::replay::{self, ReplayArgs};

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

#[derive(Clone, Copy, Debug, ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Process a JSON-lines file (or stdin) to the end and write the final metrics.
    Replay {
        /// JSON-lines input; `-` reads stdin.
        #[arg(long)]
        input: PathBuf,
        /// Config file (TOML).
        #[arg(long, env = "FRONTLINE_CONFIG")]
        config: Option<PathBuf>,
        /// Where to write the Prometheus text exposition (`-` = stdout, the default).
        #[arg(long)]
        metrics_out: Option<PathBuf>,
        /// Where to write bad lines with their reason, as JSON lines.
        #[arg(long)]
        dead_letter: Option<PathBuf>,
    },
    /// Simulate a support centre and write its events as JSON lines to stdout.
    Simulate {
        /// Seed of the simulation (same seed, same events).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Event time of the start: RFC 3339, or `now`.
        #[arg(long, default_value = "2026-11-16T08:00:00Z")]
        start: String,
        /// Simulated time to cover, e.g. `8h`, `1d`.
        #[arg(long, default_value = "1d")]
        duration: String,
        /// Contacts per hour at the daily peak.
        #[arg(long, default_value_t = 240.0)]
        peak_per_hour: f64,
        /// Agents staffed.
        #[arg(long, default_value_t = 24)]
        agents: usize,
    },
}

fn init_logs(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Human => builder.init(),
    }
}

fn load_config(path: Option<&PathBuf>) -> Result<Config, String> {
    match path {
        Some(p) => Config::load(p).map_err(|e| e.to_string()),
        None => Ok(Config::default()),
    }
}

fn simulate(
    seed: u64,
    start: &str,
    duration: &str,
    peak: f64,
    agents: usize,
) -> Result<(), String> {
    use std::io::Write;
    let start_ms = if start == "now" {
        jiff::Timestamp::now().as_millisecond()
    } else {
        frontline::decode::parse_rfc3339(start).map_err(|e| format!("--start: {e}"))?
    };
    let dur: frontline::config::Dur = duration.parse().map_err(|e| format!("--duration: {e}"))?;
    if !(peak > 0.0 && peak.is_finite()) || agents == 0 {
        return Err("--peak-per-hour and --agents must be positive".into());
    }
    let cfg = frontline::simulate::SimConfig {
        seed,
        start_ms,
        peak_per_hour: peak,
        agents,
        ..Default::default()
    };
    let end = start_ms + dur.ms();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for ev in frontline::simulate::Simulator::new(cfg).take_while(|e| e.ts < end) {
        if writeln!(out, "{}", ev.json).is_err() {
            return Ok(()); // the reader went away (a pipe closed)
        }
    }
    let _ = out.flush();
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logs(cli.log_format);
    match cli.command {
        Command::Simulate {
            seed,
            start,
            duration,
            peak_per_hour,
            agents,
        } => match simulate(seed, &start, &duration, peak_per_hour, agents) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("frontline: {e}");
                ExitCode::from(2)
            }
        },
        Command::Replay {
            input,
            config,
            metrics_out,
            dead_letter,
        } => {
            let cfg = match load_config(config.as_ref()) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("frontline: {e}");
                    return ExitCode::from(2);
                }
            };
            let args = ReplayArgs {
                input,
                metrics_out,
                dead_letter,
                progress: replay::stderr_is_terminal(),
            };
            match replay::run(&cfg, &args) {
                Ok(summary) => {
                    eprintln!("{}", summary.line());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("frontline: {e}");
                    ExitCode::from(2)
                }
            }
        }
    }
}
