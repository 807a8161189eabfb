//! Reading the config: the file, then the environment, `--set` flags and
//! the command line's own [`Flags`] layered over it; a parse error names
//! its key, file, line and column.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

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

/// Writes the environment's `FRONTLINE_<SECTION>__<KEY>` variables into
/// `table`; the layers they are.
fn env_layers(
    table: &mut toml::Table,
    env: impl Iterator<Item = (String, String)>,
) -> Result<Vec<Layer>, ConfigError> {
    let mut layers = Vec::new();
    // A variable that sets a table or a list goes before those that set
    // keys in it, whatever order the environment lists them in.
    let mut env: Vec<(String, String)> = env.collect();
    env.sort_by(|(a, _), (b, _)| (a.matches("__").count(), a).cmp(&(b.matches("__").count(), b)));
    for (k, v) in env {
        let Some(rest) = k.strip_prefix("FRONTLINE_") else {
            continue;
        };
        let Some((section, key)) = rest.split_once("__") else {
            if let Some(meant) = one_underscore_short(rest) {
                return Err(ConfigError::Parse(format!(
                    "environment variable {k} is not read: a config key takes two \
                     underscores after its section, as in {meant}"
                )));
            }
            continue;
        };
        let section = section.to_ascii_lowercase();
        let key = key.to_ascii_lowercase();
        let parts: Vec<String> = if section == "kafka" {
            if key == "topic" || key == "dead_letter_topic" {
                vec![key]
            } else {
                vec![key.replace('_', ".")]
            }
        } else {
            // `FRONTLINE_HISTOGRAMS__BUCKETS__FIRST_RESPONSE`: a key in a
            // table of the section; `FRONTLINE_SLA__POLICIES__0__ANSWER`:
            // one in a list of tables (`sla.policies[0].answer`). A number
            // is a key where the config has a table (a calendar named
            // `247`), and an index anywhere else.
            let mut parts: Vec<String> = Vec::new();
            for part in key.split("__") {
                let index = part.parse::<usize>().is_ok()
                    && !parts.is_empty()
                    && !table_at(table, &section, &parts);
                match parts.last_mut() {
                    Some(last) if index => last.push_str(&format!("[{part}]")),
                    _ => parts.push(part.to_string()),
                }
            }
            parts
        };
        let path: Vec<&str> = parts.iter().map(String::as_str).collect();
        set_key(table, &section, &path, &v).map_err(|e| with_source(e, &k))?;
        layers.push(Layer::new(&section, &path, k.clone()));
    }
    Ok(layers)
}

/// The sections of the config, as its file names them.
const SECTIONS: [&str; 15] = [
    "time",
    "windows",
    "kpi",
    "histograms",
    "labels",
    "cost",
    "kpi_targets",
    "limits",
    "state",
    "sla",
    "kafka",
    "http",
    "checkpoint",
    "agents",
    "sla_events",
];

/// For `rest` of `FRONTLINE_<rest>`, a name without the `__` that ends a
/// section, such as `KPI_SHORT_ABANDON`: the variable's name with two
/// underscores (`FRONTLINE_KPI__SHORT_ABANDON`) when `rest` is a section
/// and a key of that section joined by one. Such a variable would go
/// unread, and the value its writer meant with it. Names that are not a
/// section's key (`FRONTLINE_CONFIG`, `FRONTLINE_KAFKA_LIBS`) are not
/// frontline's config, and stay unread.
fn one_underscore_short(rest: &str) -> Option<String> {
    let lower = rest.to_ascii_lowercase();
    SECTIONS.iter().find_map(|section| {
        let key = lower.strip_prefix(section)?.strip_prefix('_')?;
        is_key(section, key).then(|| {
            let (s, k) = rest.split_at(section.len());
            format!("FRONTLINE_{s}_{k}")
        })
    })
}

/// Whether `key` is a key of `[section]`: frontline's own, or in `[kafka]`
/// a property librdkafka knows (its `_` standing for `.`, as in
/// [`env_layers`]).
fn is_key(section: &str, key: &str) -> bool {
    if key.is_empty() {
        return false;
    }
    if section == "kafka" {
        return key == "topic"
            || key == "dead_letter_topic"
            || !matches!(
                // librdkafka refuses a name it does not know as unknown,
                // and a value it does not take as invalid.
                rdkafka::ClientConfig::new()
                    .set(key.replace('_', "."), "1")
                    .create_native_config(),
                Err(rdkafka::error::KafkaError::ClientConfig(
                    rdkafka::types::RDKafkaConfRes::RD_KAFKA_CONF_UNKNOWN,
                    ..
                ))
            );
    }
    // A key the section does not have is refused as unknown; any other
    // refusal is of the probe's value.
    let mut probe = toml::Table::new();
    let mut table = toml::Table::new();
    table.insert(key.to_string(), toml::Value::Boolean(true));
    probe.insert(section.to_string(), toml::Value::Table(table));
    match toml::Value::Table(probe).try_into::<Config>() {
        Ok(_) => true,
        Err(e) => !e.to_string().contains("unknown field"),
    }
}

/// Whether the config `table` has a table at `[section] path` (`path`'s
/// parts as [`set_key`] takes them, indices included).
fn table_at(table: &toml::Table, section: &str, path: &[String]) -> bool {
    let mut at = table.get(section);
    for part in path {
        let (name, indices) = part.split_once('[').unwrap_or((part, ""));
        at = at.and_then(|v| v.get(name));
        for i in indices.split('[').filter(|i| !i.is_empty()) {
            let i = i.strip_suffix(']').and_then(|i| i.parse::<usize>().ok());
            at = at.zip(i).and_then(|(v, i)| v.get(i));
        }
    }
    at.is_some_and(toml::Value::is_table)
}

/// `e` with where its value came from.
fn with_source(e: ConfigError, source: &str) -> ConfigError {
    match e {
        ConfigError::Invalid { key, reason } => {
            ConfigError::invalid(key, format!("{reason} (from {source})"))
        }
        other => other,
    }
}

/// Writes the `--set section.key=value` flags into `table`; the layers
/// they are.
fn set_layers(table: &mut toml::Table, sets: &[String]) -> Result<Vec<Layer>, ConfigError> {
    let mut layers = Vec::new();
    for s in sets {
        let Some((path, v)) = s.split_once('=') else {
            return Err(ConfigError::invalid(
                s.clone(),
                "--set takes section.key=value",
            ));
        };
        let Some((section, key)) = path.split_once('.') else {
            return Err(ConfigError::invalid(path, "--set takes section.key=value"));
        };
        // A librdkafka key written as TOML quotes it
        // (`kafka."compression.type"`): the same key.
        let key = key
            .strip_prefix('"')
            .and_then(|k| k.strip_suffix('"'))
            .unwrap_or(key);
        let path: Vec<&str> = if section == "kafka" {
            vec![key]
        } else {
            // `histograms.buckets.first_response`,
            // `sla.calendars.office.timezone`: keys in tables.
            key.split('.').collect()
        };
        // The flag without its value, which may be a secret.
        let source = format!("--set {section}.{key}");
        set_key(table, section, &path, v).map_err(|e| with_source(e, &source))?;
        layers.push(Layer::new(section, &path, source));
    }
    Ok(layers)
}

/// An override of the config: the key it set and where it came from.
struct Layer {
    /// The dotted key (`time.allowed_lateness`, `kafka.sasl.password`).
    key: String,
    /// The variable or flag that gave it (never its value).
    source: String,
}

impl Layer {
    fn new(section: &str, path: &[&str], source: String) -> Layer {
        Layer {
            key: std::iter::once(section)
                .chain(path.iter().copied())
                .collect::<Vec<_>>()
                .join("."),
            source,
        }
    }

    /// Whether the value at `key` is this layer's: the key itself, a key
    /// below it, or a table holding it (`tme` for a misspelt section).
    fn covers(&self, key: &str) -> bool {
        let key = unquoted(key);
        let below = |a: &str, b: &str| {
            a.strip_prefix(b)
                .is_some_and(|r| r.starts_with('.') || r.starts_with('['))
        };
        self.key == key || below(&self.key, &key) || below(&key, &self.key)
    }
}

/// A key as the layers and the file's lookup write it: a librdkafka
/// property that validation names quoted (`kafka."group.id"`) without
/// its quotes (`kafka.group.id`).
fn unquoted(key: &str) -> std::borrow::Cow<'_, str> {
    match key
        .strip_prefix("kafka.\"")
        .and_then(|k| k.strip_suffix('"'))
    {
        Some(k) => format!("kafka.{k}").into(),
        None => key.into(),
    }
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

/// The variables of the environment `vars` that [`Config::load_layers`]
/// reads: every one whose name and value are UTF-8. One named
/// `FRONTLINE_…` that is not is an error naming it; any other is not
/// frontline's to read, and is left out.
pub fn environment(
    vars: impl Iterator<Item = (OsString, OsString)>,
) -> Result<Vec<(String, String)>, ConfigError> {
    let mut out = Vec::new();
    for (k, v) in vars {
        match (k.into_string(), v.into_string()) {
            (Ok(k), Ok(v)) => out.push((k, v)),
            (Ok(k), Err(_)) if k.starts_with("FRONTLINE_") => {
                return Err(ConfigError::Parse(format!(
                    "environment variable {k}: its value is not UTF-8"
                )))
            }
            (Err(k), _) if k.as_encoded_bytes().starts_with(b"FRONTLINE_") => {
                return Err(ConfigError::Parse(format!(
                    "environment variable {}: its name is not UTF-8",
                    k.to_string_lossy()
                )))
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Sets `[section] a.b.key = value` (`path` = `[a, b, key]`), keeping the
/// other keys of every table on the way. `value` is read as a TOML value
/// when it is one (`5`, `true`, `["a", "b"]`, `"quoted"`) and as a string
/// otherwise, but for the keys whose values are text whatever they look
/// like, where only a quoted TOML string is read as TOML: a librdkafka
/// property (`kafka.*`: a password `2024#prod` or `0x1F` is passed on as
/// given, not read as the number before a comment or in hex) and a topic
/// name (`topic`, `*_topic`: `123` is a topic; a list of topics is read as
/// TOML too).
fn set_key(
    table: &mut toml::Table,
    section: &str,
    path: &[&str],
    raw: &str,
) -> Result<(), ConfigError> {
    let Some((key, tables)) = path.split_last() else {
        return Ok(());
    };
    let topic = *key == "topic" || key.ends_with("_topic");
    let text = section == "kafka" || topic;
    let parsed = toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"));
    let value = match parsed {
        Some(v @ toml::Value::String(_)) => v,
        Some(v @ toml::Value::Array(_)) if topic => v,
        Some(v) if !text => v,
        _ => toml::Value::String(raw.to_string()),
    };
    let mut at = table;
    // The key so far, for an error.
    let mut shown = String::new();
    for name in std::iter::once(&section).chain(tables) {
        // `policies[1]`: an entry of a list of tables the config has.
        let (name, index) = name.split_once('[').unwrap_or((*name, ""));
        if !shown.is_empty() {
            shown.push('.');
        }
        shown.push_str(name);
        let index =
            match index {
                "" => None,
                i => match i.strip_suffix(']').and_then(|i| i.parse::<usize>().ok()) {
                    Some(i) => Some(i),
                    None => return Err(ConfigError::invalid(
                        shown,
                        "an index into a list is a number in brackets (`sla.policies[0].answer`)",
                    )),
                },
            };
        if !at.contains_key(name) || (index.is_none() && !at[name].is_table()) {
            // A value that is not a table becomes one: validation then
            // names the key that was given.
            at.insert(name.to_string(), toml::Value::Table(toml::Table::new()));
        }
        let entry = at.get_mut(name).expect("inserted above");
        at = match (entry, index) {
            (toml::Value::Table(t), None) => t,
            (toml::Value::Array(list), Some(i)) => {
                let len = list.len();
                match list.get_mut(i) {
                    Some(toml::Value::Table(t)) => t,
                    _ => {
                        return Err(ConfigError::invalid(
                            format!("{shown}[{i}]"),
                            format!("no such entry: the list has {len}, numbered from 0"),
                        ))
                    }
                }
            }
            (_, Some(i)) => {
                return Err(ConfigError::invalid(
                    format!("{shown}[{i}]"),
                    "not a list of tables in the config",
                ))
            }
            (_, None) => unreachable!("made a table above"),
        };
        if let Some(i) = index {
            shown.push_str(&format!("[{i}]"));
        }
    }
    // `sizes[0]`, `policies[1]`: an entry of a list the config has.
    let Some((name, index)) = key.split_once('[') else {
        at.insert(key.to_string(), value);
        return Ok(());
    };
    if !shown.is_empty() {
        shown.push('.');
    }
    shown.push_str(name);
    let Some(i) = index
        .strip_suffix(']')
        .and_then(|i| i.parse::<usize>().ok())
    else {
        return Err(ConfigError::invalid(
            shown,
            "an index into a list is a number in brackets (`windows.sizes[0]`)",
        ));
    };
    match at.get_mut(name) {
        Some(toml::Value::Array(list)) => {
            let len = list.len();
            match list.get_mut(i) {
                Some(entry) => *entry = value,
                None => {
                    return Err(ConfigError::invalid(
                        format!("{shown}[{i}]"),
                        format!("no such entry: the list has {len}, numbered from 0"),
                    ))
                }
            }
        }
        _ => {
            return Err(ConfigError::invalid(
                format!("{shown}[{i}]"),
                "not a list in the config",
            ))
        }
    }
    Ok(())
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
