//! Reading the config: the file, then the environment, `--set` flags and
//! the command line's own [`Flags`] layered over it; a parse error names
//! its key, file, line and column.

use std::path::{Path, PathBuf};

use super::overrides::{env_layers, set_layers, unquoted, Layer};
use super::{Config, ConfigError};

impl Config {
    /// Reads, parses and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Config::load_with(Some(path), std::iter::empty(), &[])
    }

    /// Reads a config file (or none: defaults), applies overrides from the
    /// environment (`FRONTLINE_<SECTION>__<KEY>`) and from `--set
    /// section.key=value` flags, in that order, then validates.
    ///
    /// In `FRONTLINE_KAFKA__<KEY>`, `_` stands for `.` (librdkafka's
    /// separator): `FRONTLINE_KAFKA__BOOTSTRAP_SERVERS` sets
    /// `kafka."bootstrap.servers"`; `TOPIC` and `DEAD_LETTER_TOPIC` keep theirs.
    pub fn load_with(
        path: Option<&Path>,
        env: impl Iterator<Item = (String, String)>,
        sets: &[String],
    ) -> Result<Config, ConfigError> {
        Config::load_layers(path, env, sets, &Flags::default())
    }

    /// [`Config::load_with`], then the command line's own flags
    /// ([`Flags`]) over everything else, then validation.
    pub fn load_layers(
        path: Option<&Path>,
        env: impl Iterator<Item = (String, String)>,
        sets: &[String],
        flags: &Flags,
    ) -> Result<Config, ConfigError> {
        let text = match path {
            Some(p) => std::fs::read_to_string(p).map_err(|e| ConfigError::Unreadable {
                path: p.display().to_string(),
                reason: e.to_string(),
            })?,
            None => String::new(),
        };
        let Ok(mut table) = toml::from_str::<toml::Table>(&text) else {
            // A syntax error: the file's own error names its place.
            return Config::parse_from(&text, path);
        };
        // What each override set, and where it came from, for an error in it.
        let mut layers = env_layers(&mut table, env)?;
        layers.extend(set_layers(&mut table, sets)?);
        layers.extend(flags.apply(&mut table));
        if layers.is_empty() {
            return Config::parse_from(&text, path);
        }
        Config::from_layers(table, &layers, &text, path)
    }

    /// The config of `table`, the file's `text` (read from `path`) with the
    /// override `layers` written into it; an error names the layer that
    /// set its key, or the file's place.
    fn from_layers(
        table: toml::Table,
        layers: &[Layer],
        text: &str,
        path: Option<&Path>,
    ) -> Result<Config, ConfigError> {
        let cfg: Config =
            serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
                let msg = one_line(e.inner().message());
                let Some((key, reason)) = keyed(e.path(), &msg) else {
                    return match Config::parse_from(text, path) {
                        Err(own) => own,
                        Ok(_) => ConfigError::Parse(msg),
                    };
                };
                // The last layer that set the key, or a table holding it,
                // gave the value; else the file did, and its own error
                // names the place.
                if let Some(l) = layers.iter().rev().find(|l| l.covers(&key)) {
                    return ConfigError::invalid(key, format!("{reason} (from {})", l.source));
                }
                match Config::parse_from(text, path) {
                    Err(ConfigError::Invalid { key: k, reason }) if k == key => {
                        ConfigError::Invalid { key: k, reason }
                    }
                    _ => ConfigError::invalid(key, reason),
                }
            })?;
        cfg.validate().map_err(|e| match e {
            ConfigError::Invalid { key, reason } => {
                match layers.iter().rev().find(|l| l.covers(&key)) {
                    Some(l) => ConfigError::invalid(key, format!("{reason} (from {})", l.source)),
                    None => placed(ConfigError::Invalid { key, reason }, text, path),
                }
            }
            other => other,
        })?;
        Ok(cfg)
    }

    /// Parses and validates TOML text.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse_from(text, None)
    }

    /// Parses and validates TOML text read from `origin`, which an error
    /// names as `file:line:column`.
    fn parse_from(text: &str, origin: Option<&Path>) -> Result<Config, ConfigError> {
        let cfg: Config =
            serde_path_to_error::deserialize(toml::Deserializer::new(text)).map_err(|e| {
                let msg = one_line(e.inner().message());
                let at = e.inner().span().map(|sp| location(text, sp.start));
                // A syntax error has no path; on a `key = value` line the
                // key is named all the same.
                let key = keyed(e.path(), &msg).or_else(|| {
                    let key = key_at(text, e.inner().span()?.start)?;
                    Some((key, msg.clone()))
                });
                match key {
                    Some((key, reason)) => match (origin, at) {
                        (Some(p), Some((l, c))) => {
                            ConfigError::invalid(key, format!("{reason} ({}:{l}:{c})", p.display()))
                        }
                        _ => ConfigError::invalid(key, reason),
                    },
                    None => ConfigError::Parse(match (origin, at) {
                        (Some(p), Some((l, c))) => format!("{}:{l}:{c}: {msg}", p.display()),
                        (None, Some((l, c))) => format!("line {l}, column {c}: {msg}"),
                        (Some(p), None) => format!("{}: {msg}", p.display()),
                        (None, None) => msg,
                    }),
                }
            })?;
        cfg.validate().map_err(|e| placed(e, text, origin))?;
        Ok(cfg)
    }
}

/// A validation error `e` about a key of the file `text` read from
/// `origin`, with the place of the key's value as `file:line:column` (as a
/// parse error has it); unchanged when the file does not set the key (a
/// default broke a rule with another key).
fn placed(e: ConfigError, text: &str, origin: Option<&Path>) -> ConfigError {
    match (e, origin) {
        (ConfigError::Invalid { key, reason }, Some(p)) => match place_of(text, &key) {
            Some(at) => {
                let (l, c) = location(text, at);
                ConfigError::invalid(key, format!("{reason} ({}:{l}:{c})", p.display()))
            }
            None => ConfigError::Invalid { key, reason },
        },
        (e, _) => e,
    }
}

/// Where in `text` the value of the dotted `key` (`kpi.short_abandon`,
/// `sla.policies[1].answer`, `windows.sizes[2]`, `kafka.bootstrap.servers`)
/// begins, or a table's header for a key that names a table.
fn place_of(text: &str, key: &str) -> Option<usize> {
    let doc = toml_edit::ImDocument::parse(text).ok()?;
    let key = unquoted(key);
    let (section, rest) = key.split_once('.').unwrap_or((&key, ""));
    let mut item = doc.as_item().get(section)?;
    // A librdkafka property is one key, dots and all.
    let parts: Vec<&str> = match (section, rest) {
        (_, "") => Vec::new(),
        ("kafka", r) => vec![r],
        (_, r) => r.split('.').collect(),
    };
    for part in parts {
        let (name, indices) = part.split_once('[').unwrap_or((part, ""));
        item = item.get(name)?;
        for i in indices.split('[').filter(|i| !i.is_empty()) {
            item = item.get(i.strip_suffix(']')?.parse::<usize>().ok()?)?;
        }
    }
    item.span().map(|r| r.start)
}

/// The dotted key (`sla.policies[1].answer`) and reason of a parser error
/// at `path` with message `msg`; `None` when it is not about a key (a
/// syntax error). A missing field's key is its table's path and the
/// field; a section's own deserializer names the key in its message
/// (`kafka.topic: must be a string`).
fn keyed(path: &serde_path_to_error::Path, msg: &str) -> Option<(String, String)> {
    let path = path.to_string();
    if path.is_empty() || path == "." || path == "?" {
        return None;
    }
    if let Some(field) = msg
        .strip_prefix("missing field `")
        .and_then(|m| m.split('`').next())
    {
        return Some((format!("{path}.{field}"), msg.to_string()));
    }
    if let Some((key, reason)) = msg.split_once(": ") {
        if key.starts_with(&format!("{path}.")) && !key.contains(' ') {
            return Some((key.to_string(), reason.to_string()));
        }
    }
    Some((path, msg.to_string()))
}

/// Values of the command line's own flags (`run --listen`, `--brokers`,
/// `--topic`, `--group`, `--web-config`): applied last, each as the string
/// it is. Unlike `--set`, nothing is read as TOML, so a value holding `"`
/// or `\` arrives unchanged.
#[derive(Clone, Debug, Default)]
pub struct Flags {
    /// `http.listen`.
    pub listen: Option<String>,
    /// `kafka."bootstrap.servers"`.
    pub brokers: Option<String>,
    /// `kafka.topic` (one topic).
    pub topic: Option<String>,
    /// `kafka."group.id"`.
    pub group: Option<String>,
    /// `http.web_config`.
    pub web_config: Option<PathBuf>,
}

impl Flags {
    /// Writes the given flags into `table`; the layers they are.
    fn apply(&self, table: &mut toml::Table) -> Vec<Layer> {
        let web_config = self.web_config.as_ref().map(|p| p.display().to_string());
        let mut layers = Vec::new();
        for (section, key, value, flag) in [
            ("http", "listen", &self.listen, "--listen"),
            ("kafka", "bootstrap.servers", &self.brokers, "--brokers"),
            ("kafka", "topic", &self.topic, "--topic"),
            ("kafka", "group.id", &self.group, "--group"),
            ("http", "web_config", &web_config, "--web-config"),
        ] {
            let Some(v) = value else { continue };
            // A section that is not a table stays as it is: parsing names it.
            if let toml::Value::Table(t) = table
                .entry(section)
                .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            {
                t.insert(key.into(), toml::Value::String(v.clone()));
            }
            layers.push(Layer::new(section, &[key], flag.to_string()));
        }
        layers
    }
}

/// The dotted key (`time.dedup_horizon`, `sla.policies[1].answer`) of the
/// `key = value` line holding byte `offset`, under the nearest table
/// header above it; an entry of a list of tables (`[[sla.policies]]`) is
/// numbered by the headers of that list before it.
fn key_at(text: &str, offset: usize) -> Option<String> {
    let offset = offset.min(text.len());
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next()?;
    let key = line.split_once('=')?.0.trim().trim_matches('"');
    if key.is_empty() || key.starts_with('[') {
        return None;
    }
    // Entries of each list of tables so far, and the table of the line.
    let mut entries: std::collections::HashMap<String, usize> = Default::default();
    let mut table = String::new();
    for l in text[..line_start].lines().map(str::trim) {
        let (list, rest) = match l.strip_prefix("[[") {
            Some(r) => (true, r),
            None => match l.strip_prefix('[') {
                Some(r) => (false, r),
                None => continue,
            },
        };
        // Up to the header's closing bracket: a comment may follow it.
        let Some(name) = rest.split(']').next() else {
            continue;
        };
        let parts = dotted_parts(name);
        if list {
            *entries.entry(parts.join(".")).or_default() += 1;
        }
        let (mut path, mut bare) = (String::new(), String::new());
        for part in &parts {
            if !bare.is_empty() {
                path.push('.');
                bare.push('.');
            }
            path.push_str(part);
            bare.push_str(part);
            if let Some(n) = entries.get(&bare) {
                path.push_str(&format!("[{}]", n - 1));
            }
        }
        table = path;
    }
    Some(if table.is_empty() {
        key.to_string()
    } else {
        format!("{table}.{key}")
    })
}

/// The parts of a dotted TOML key as an error names them (`sla. 'my.cal'
/// .hours` is `sla`, `"my.cal"`, `hours`): trimmed, and quoted only when
/// they hold a dot.
fn dotted_parts(key: &str) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut quote = None;
    for c in key.chars() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '.') => parts.push(String::new()),
            (None, c) if c.is_whitespace() => {}
            (_, c) => parts.last_mut().expect("one part at least").push(c),
        }
    }
    for p in &mut parts {
        if p.contains('.') {
            *p = format!("\"{p}\"");
        }
    }
    parts
}

/// A parser message on one line.
fn one_line(msg: &str) -> String {
    msg.split('\n')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Line and column (both from 1, the column in characters) of byte `offset`.
fn location(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rfind('\n')
        .map_or(before, |i| &before[i + 1..])
        .chars()
        .count()
        + 1;
    (line, col)
}
