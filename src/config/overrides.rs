//! Overrides of the config file: `FRONTLINE_<SECTION>__<KEY>` variables
//! of the environment and `--set section.key=value` flags, each written
//! into the file's table as a [`Layer`] that an error can name.

use std::ffi::OsString;

use super::{Config, ConfigError};

/// Writes the environment's `FRONTLINE_<SECTION>__<KEY>` variables into
/// `table`; the layers they are.
pub(super) fn env_layers(
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
            if super::kafka::OWN_KEYS.contains(&key.as_str()) {
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
        return super::kafka::OWN_KEYS.contains(&key)
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
pub(super) fn set_layers(
    table: &mut toml::Table,
    sets: &[String],
) -> Result<Vec<Layer>, ConfigError> {
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
pub(super) struct Layer {
    /// The dotted key (`time.allowed_lateness`, `kafka.sasl.password`).
    key: String,
    /// The variable or flag that gave it (never its value).
    pub(super) source: String,
}

impl Layer {
    pub(super) fn new(section: &str, path: &[&str], source: String) -> Layer {
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
    pub(super) fn covers(&self, key: &str) -> bool {
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
pub(super) fn unquoted(key: &str) -> std::borrow::Cow<'_, str> {
    match key
        .strip_prefix("kafka.\"")
        .and_then(|k| k.strip_suffix('"'))
    {
        Some(k) => format!("kafka.{k}").into(),
        None => key.into(),
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
    let value = override_value(section, key, raw);
    // The key so far, for an error.
    let mut shown = String::new();
    let at = table_for(table, std::iter::once(&section).chain(tables), &mut shown)?;
    // `sizes[0]`, `policies[1]`: an entry of a list the config has.
    let Some((name, index)) = key.split_once('[') else {
        at.insert(key.to_string(), value);
        return Ok(());
    };
    if !shown.is_empty() {
        shown.push('.');
    }
    shown.push_str(name);
    let i = index_of(index, &shown, "`windows.sizes[0]`")?;
    if !at.contains_key(name) {
        if let Some(list) = default_list(section, tables, name) {
            at.insert(name.to_string(), list);
        }
    }
    match at.get_mut(name) {
        Some(toml::Value::Array(list)) => {
            let len = list.len();
            *list.get_mut(i).ok_or_else(|| no_entry(&shown, i, len))? = value;
            Ok(())
        }
        _ => Err(ConfigError::invalid(
            format!("{shown}[{i}]"),
            "not a list in the config",
        )),
    }
}

/// The default of a list that has entries by default, for an override of
/// one of its entries when the file does not set it
/// (`--set windows.sizes[1]=2h` with the default sizes).
fn default_list(section: &str, tables: &[&str], name: &str) -> Option<toml::Value> {
    match (section, tables, name) {
        ("windows", [], "sizes") => Some(toml::Value::Array(
            super::WindowConfig::default()
                .sizes
                .iter()
                .map(|d| toml::Value::String(format!("{}ms", d.ms())))
                .collect(),
        )),
        _ => None,
    }
}

/// The value an override's `raw` text gives `[section] key` (see
/// [`set_key`]).
fn override_value(section: &str, key: &str, raw: &str) -> toml::Value {
    let topic = key == "topic" || key.ends_with("_topic");
    let text = section == "kafka" || topic;
    let parsed = toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"));
    match parsed {
        Some(v @ toml::Value::String(_)) => v,
        Some(v @ toml::Value::Array(_)) if topic => v,
        Some(v) if !text => v,
        _ => toml::Value::String(raw.to_string()),
    }
}

/// The table the parts `names` lead to in `table` (`policies[1]`: an entry
/// of a list of tables the config has), made where missing; `shown` is
/// the key so far, for an error.
fn table_for<'t, 'n>(
    table: &'t mut toml::Table,
    names: impl Iterator<Item = &'n &'n str>,
    shown: &mut String,
) -> Result<&'t mut toml::Table, ConfigError> {
    let mut at = table;
    for name in names {
        let (name, index) = name.split_once('[').unwrap_or((*name, ""));
        if !shown.is_empty() {
            shown.push('.');
        }
        shown.push_str(name);
        let index = match index {
            "" => None,
            i => Some(index_of(i, shown, "`sla.policies[0].answer`")?),
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
                    _ => return Err(no_entry(shown, i, len)),
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
    Ok(at)
}

/// The index in `i]` (what follows a `[`), or an error naming `shown`
/// with an `example`.
fn index_of(i: &str, shown: &str, example: &str) -> Result<usize, ConfigError> {
    i.strip_suffix(']')
        .and_then(|i| i.parse::<usize>().ok())
        .ok_or_else(|| {
            ConfigError::invalid(
                shown,
                format!("an index into a list is a number in brackets ({example})"),
            )
        })
}

/// No entry `i` in the list `shown` of `len`.
fn no_entry(shown: &str, i: usize, len: usize) -> ConfigError {
    ConfigError::invalid(
        format!("{shown}[{i}]"),
        format!("no such entry: the list has {len}, numbered from 0"),
    )
}
