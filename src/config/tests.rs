use super::*;

#[test]
fn every_kafka_client_starts_from_the_client_defaults_unless_told_otherwise() {
    let c = Config::parse("").unwrap();
    for cc in [
        c.kafka.client_config(&[]),
        c.kafka.producer_config(&[("acks", "all")]),
    ] {
        assert_eq!(cc.get("reconnect.backoff.ms"), Some("20"));
        // librdkafka takes it (an unknown property fails here).
        let _: rdkafka::producer::BaseProducer = cc.create().expect("a valid config");
    }
    let c = Config::parse("[kafka]\n\"reconnect.backoff.ms\" = \"250\"\n").unwrap();
    assert_eq!(
        c.kafka.client_config(&[]).get("reconnect.backoff.ms"),
        Some("250")
    );
    assert_eq!(
        c.kafka.producer_config(&[]).get("reconnect.backoff.ms"),
        Some("250")
    );
}

#[test]
fn kafka_secrets_are_redacted_when_printed() {
    let c = Config::parse(
        "[kafka]\n\"sasl.username\" = \"svc\"\n\"sasl.password\" = \"pw-1\"\n\
             \"ssl.key.password\" = \"pw-2\"\n\"sasl.oauthbearer.client.secret\" = \"pw-3\"\n\
             \"ssl.key.pem\" = \"pw-4\"\n\"ssl.keystore.password\" = \"pw-5\"\n",
    )
    .unwrap();
    let shown = format!("{c:?} {:#?}", c.kafka);
    assert!(!shown.contains("pw-"), "{shown}");
    assert!(shown.contains("\"sasl.username\": \"svc\""), "{shown}");
    assert_eq!(c.kafka.redacted()["sasl.password"], "[redacted]");
    // The real value still reaches librdkafka.
    assert_eq!(
        c.kafka.client_config(&[]).get("sasl.password"),
        Some("pw-1")
    );
    let e = rdkafka::error::KafkaError::ClientConfig(
        rdkafka::types::RDKafkaConfRes::RD_KAFKA_CONF_UNKNOWN,
        "No such configuration property".into(),
        "sasl.pasword".into(),
        "pw-6".into(),
    );
    assert_eq!(
        kafka_error_text(&e),
        "invalid config key `kafka.\"sasl.pasword\"`: No such configuration property"
    );
}

#[test]
fn durations_parse() {
    assert_eq!("30s".parse::<Dur>().unwrap(), Dur(30_000));
    assert_eq!("15m".parse::<Dur>().unwrap(), Dur(900_000));
    assert_eq!("8h".parse::<Dur>().unwrap(), Dur(28_800_000));
    assert_eq!("2d".parse::<Dur>().unwrap(), Dur(172_800_000));
    assert_eq!("1h30m".parse::<Dur>().unwrap(), Dur(5_400_000));
    assert_eq!("250ms".parse::<Dur>().unwrap(), Dur(250));
    assert!("30".parse::<Dur>().is_err());
    assert!("3x".parse::<Dur>().is_err());
    assert!("".parse::<Dur>().is_err());
    assert_eq!(Dur(300_000).to_string(), "5m");
    assert_eq!(Dur(86_400_000).to_string(), "24h");
    assert_eq!(Dur(7 * 86_400_000).to_string(), "7d");
}

#[test]
fn empty_file_gives_spec_defaults() {
    let c = Config::parse("").unwrap();
    assert_eq!(c.time.allowed_lateness, Dur(600_000));
    assert_eq!(c.time.idle_timeout, Dur(30_000));
    assert_eq!(c.time.dedup_horizon, Dur(3_600_000));
    assert_eq!(c.kpi.repeat_window, Dur(7 * 86_400_000));
    assert_eq!(c.kpi.short_abandon, Dur(5_000));
    assert_eq!(c.kpi.service_level_threshold, Dur(20_000));
    assert_eq!(c.kpi.acw_timeout, Dur(600_000));
    assert_eq!(c.labels.max_queues, 200);
    assert_eq!(c.labels.max_agents, 500);
    assert_eq!(c.limits.max_event_bytes, 65_536);
    assert_eq!(c.limits.max_held_events, 100_000);
    assert_eq!(c.time.max_future_skew, Dur(300_000));
    assert_eq!(c.time.max_event_age, Dur(7 * 86_400_000));
    assert_eq!(c.agents.idle_timeout, Dur(12 * 3_600_000));
    assert!(!c.agents.per_agent_metrics, "per-agent families are opt-in");
    assert_eq!(c.labels.max_series, 1_000_000);
    assert_eq!(c.windows.max_label_sets, 64);
    assert_eq!(
        c.windows.sizes,
        vec![Dur(300_000), Dur(3_600_000), Dur(86_400_000)]
    );
}

#[test]
fn unknown_key_is_named() {
    let e = Config::parse("[time]\nallowed_latenes = \"5m\"\n").unwrap_err();
    assert!(e.to_string().contains("`time.allowed_latenes`"), "{e}");
}

#[test]
fn bad_values_name_their_key() {
    let e = Config::parse("[windows]\npane = \"7s\"\n").unwrap_err();
    assert_eq!(
        e,
        ConfigError::invalid(
            "windows.sizes[0]",
            "5m is not a multiple of windows.pane (7s)"
        )
    );
    let e = Config::parse("[kpi]\nacw_timeout = \"0s\"\n").unwrap_err();
    assert!(e.to_string().contains("kpi.acw_timeout"), "{e}");
    let e = Config::parse("[histograms.buckets]\nfirst_respons = [1.0]\n").unwrap_err();
    assert!(
        e.to_string().contains("histograms.buckets.first_respons"),
        "{e}"
    );
    let e = Config::parse("[cost]\nper_agent_hour = -1.0\n").unwrap_err();
    assert!(e.to_string().contains("cost.per_agent_hour"), "{e}");
    let e = Config::parse("[time]\ndedup_horizon = \"soon\"\n").unwrap_err();
    assert!(e.to_string().contains("`time.dedup_horizon`"), "{e}");
    let e = Config::parse("[labels]\nmax_queues = \"many\"\n").unwrap_err();
    assert!(e.to_string().contains("`labels.max_queues`"), "{e}");
    // Room reserved up front: up to 100 M per partition, a typo past it.
    let c = Config::parse("[state]\nreserve_event_ids = 100000000\n").unwrap();
    assert_eq!(c.state.reserve_event_ids, 100_000_000);
    for key in ["tickets", "calls", "customers", "event_ids"] {
        let e = Config::parse(&format!("[state]\nreserve_{key} = 100000001\n")).unwrap_err();
        assert!(
            e.to_string().contains(&format!("state.reserve_{key}")),
            "{e}"
        );
    }
    let e = Config::parse("[state]\nreserve_tickets = -1\n").unwrap_err();
    assert!(e.to_string().contains("state.reserve_tickets"), "{e}");
}

const SPEC_SLA: &str = r#"
[sla]
warn_fraction = 0.8

[[sla.policies]]
name = "urgent"
match = { priority = ["urgent"] }
calendar = "office"
first_response = "1h"
next_response = "2h"
resolution = "8h"

[[sla.policies]]
name = "phone"
match = { channel = ["phone"] }
answer = "20s"

[[sla.policies]]
name = "standard"
first_response = "8h"
resolution = "3d"

[sla.calendars.office]
timezone = "Europe/Berlin"
hours = { mon = ["09:00-17:00"], tue = ["09:00-17:00"], wed = ["09:00-12:30", "13:30-17:00"], thu = ["09:00-17:00"], fri = ["09:00-15:00"] }
holidays = ["2026-12-24", "2026-12-25", "2026-12-26"]
"#;

#[test]
fn the_spec_sla_example_parses() {
    let c = Config::parse(SPEC_SLA).unwrap();
    assert_eq!(c.sla.policies.len(), 3);
    assert_eq!(c.sla.policies[0].resolution, Some(Dur(8 * 3_600_000)));
    assert_eq!(c.sla.policies[2].calendar, "24x7");
    assert_eq!(c.sla.calendars().unwrap().len(), 1);
}

#[test]
fn sla_errors_name_their_key() {
    let bad = |from: &str, to: &str| {
        Config::parse(&SPEC_SLA.replace(from, to))
            .unwrap_err()
            .to_string()
    };
    let e = bad("calendar = \"office\"", "calendar = \"ofice\"");
    assert!(
        e.contains("`sla.policies[0].calendar`") && e.contains("ofice"),
        "{e}"
    );
    let e = bad("Europe/Berlin", "Europe/Berlinn");
    assert!(e.contains("`sla.calendars.office.timezone`"), "{e}");
    let e = bad(
        "\"09:00-12:30\", \"13:30-17:00\"",
        "\"09:00-14:00\", \"13:30-17:00\"",
    );
    assert!(
        e.contains("`sla.calendars.office.hours.wed`") && e.contains("overlap"),
        "{e}"
    );
    let e = bad("fri = [\"09:00-15:00\"]", "fri = [\"15:00-09:00\"]");
    assert!(e.contains("`sla.calendars.office.hours.fri`"), "{e}");
    let e = bad("answer = \"20s\"", "answer = \"0s\"");
    assert!(e.contains("`sla.policies[1].answer`"), "{e}");
    let e = bad("\"2026-12-26\"", "\"26.12.2026\"");
    assert!(e.contains("`sla.calendars.office.holidays[2]`"), "{e}");
    let e = bad("name = \"phone\"", "name = \"urgent\"");
    assert!(e.contains("`sla.policies[1].name`"), "{e}");
    let e = bad("warn_fraction = 0.8", "warn_fraction = 1.5");
    assert!(e.contains("`sla.warn_fraction`"), "{e}");
    let e = bad("priority = [\"urgent\"]", "priority = [\"asap\"]");
    assert!(e.contains("`sla.policies[0].match.priority`"), "{e}");
    // A required key left out is named by its table and index.
    let e = bad("name = \"phone\"\n", "");
    assert!(e.contains("`sla.policies[1].name`"), "{e}");
    assert!(e.contains("missing field"), "{e}");
}

#[test]
fn a_missing_key_names_its_table() {
    let text = "[time]\nallowed_lateness = \"1m\"\n\n[[sla.policies]] # first\nname = \"a\"\n\n[[sla.policies]]\nfirst_response = \"1h\"\n";
    let e = Config::parse(text).unwrap_err().to_string();
    assert!(e.contains("`sla.policies[1].name`"), "{e}");
    assert!(e.contains("missing field `name`"), "{e}");
}

#[test]
fn kafka_keys_pass_through_and_env_overrides_apply() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("f.toml");
    std::fs::write(
            &p,
            "[kafka]\ntopic = \"events\"\n\"security.protocol\" = \"SASL_SSL\"\n\"fetch.max.bytes\" = 1048576\n[time]\nallowed_lateness = \"5m\"\n",
        )
        .unwrap();
    let env = vec![
        (
            "FRONTLINE_KAFKA__BOOTSTRAP_SERVERS".to_string(),
            "10.0.0.1:9092".to_string(),
        ),
        (
            "FRONTLINE_TIME__DEDUP_HORIZON".to_string(),
            "2h".to_string(),
        ),
        ("FRONTLINE_LOG_FORMAT".to_string(), "json".to_string()),
        ("HOME".to_string(), "/root".to_string()),
    ];
    let c = Config::load_with(
        Some(&p),
        env.into_iter(),
        &["http.listen=127.0.0.1:9999".into()],
    )
    .unwrap();
    assert_eq!(c.kafka.topics, vec!["events".to_string()]);
    assert_eq!(c.kafka.dlq(), "events.dlq");
    assert_eq!(c.kafka.client["security.protocol"], "SASL_SSL");
    assert_eq!(c.kafka.client["fetch.max.bytes"], "1048576");
    assert_eq!(c.kafka.client["bootstrap.servers"], "10.0.0.1:9092");
    assert_eq!(c.kafka.client["group.id"], "frontline");
    assert_eq!(c.time.allowed_lateness, Dur(300_000));
    assert_eq!(c.time.dedup_horizon, Dur(7_200_000));
    assert_eq!(c.http.listen, "127.0.0.1:9999");
    // A librdkafka key as TOML writes it, quoted, or bare: the same key.
    let c = Config::load_with(
        None,
        std::iter::empty(),
        &[
            r#"kafka."compression.type"="zstd""#.into(),
            "kafka.linger.ms=20".into(),
        ],
    )
    .unwrap();
    assert_eq!(c.kafka.client["compression.type"], "zstd");
    assert_eq!(c.kafka.client["linger.ms"], "20");
    assert!(!c.kafka.client.contains_key(r#""compression.type""#));
    let e =
        Config::load_with(None, std::iter::empty(), &["http.listen=nowhere".into()]).unwrap_err();
    assert!(e.to_string().contains("`http.listen`"), "{e}");
    let e = Config::load_with(
        None,
        vec![(
            "FRONTLINE_KPI__SHORT_ABANDON".to_string(),
            "soon".to_string(),
        )]
        .into_iter(),
        &[],
    )
    .unwrap_err();
    assert!(e.to_string().contains("kpi.short_abandon"), "{e}");
}

/// Defect: a librdkafka property or a topic name given in the environment
/// or by `--set` was read as TOML, so a password `2024#prod` reached
/// librdkafka as `2024` (the rest a comment), `0x1F` as `31`, and a topic
/// `123` was refused as not a string. They are text as given; a quoted
/// TOML string is still unquoted, and a list of topics still read.
#[test]
fn kafka_properties_and_topic_names_from_overrides_are_text_as_given() {
    let env = vec![
        (
            "FRONTLINE_KAFKA__SASL_PASSWORD".to_string(),
            "2024#prod".to_string(),
        ),
        ("FRONTLINE_KAFKA__CLIENT_ID".to_string(), "nan".to_string()),
        ("FRONTLINE_CHECKPOINT__TOPIC".to_string(), "42".to_string()),
    ];
    let c = Config::load_with(
        None,
        env.into_iter(),
        &[
            "kafka.ssl.key.password=0x1F".into(),
            "kafka.topic=123".into(),
            "kafka.fetch.wait.max.ms=1_000".into(),
            r#"kafka.sasl.username="quoted # text""#.into(),
            "sla_events.topic=7".into(),
        ],
    )
    .unwrap();
    assert_eq!(c.kafka.client["sasl.password"], "2024#prod");
    assert_eq!(c.kafka.client["client.id"], "nan");
    assert_eq!(c.kafka.client["ssl.key.password"], "0x1F");
    assert_eq!(c.kafka.client["fetch.wait.max.ms"], "1_000");
    assert_eq!(c.kafka.client["sasl.username"], "quoted # text");
    assert_eq!(c.kafka.topics, ["123"]);
    assert_eq!(c.checkpoint.topic.as_deref(), Some("42"));
    assert_eq!(c.sla_events.topic.as_deref(), Some("7"));
    let c = Config::load_with(
        None,
        std::iter::empty(),
        &[r#"kafka.topic=["a", "b"]"#.into()],
    )
    .unwrap();
    assert_eq!(c.kafka.topics, ["a", "b"]);
    // Other keys still read TOML values.
    let c = Config::load_with(
        None,
        std::iter::empty(),
        &["windows.max_label_sets=1_000".into()],
    )
    .unwrap();
    assert_eq!(c.windows.max_label_sets, 1000);
}

/// Defect: a non-UTF-8 variable anywhere in the environment panicked
/// (exit 101). One that is not frontline's is left out; one named
/// `FRONTLINE_…` is a config error naming it.
#[test]
fn the_environment_leaves_out_variables_that_are_not_utf8_unless_they_are_ours() {
    use std::ffi::OsString;
    use std::os::unix::ffi::OsStringExt;
    let bad = || OsString::from_vec(b"caf\xe9".to_vec());
    let vars = vec![
        (OsString::from("LANG"), bad()),
        (OsString::from_vec(b"X\xff".to_vec()), OsString::from("1")),
        (
            OsString::from("FRONTLINE_TIME__DEDUP_HORIZON"),
            OsString::from("2h"),
        ),
    ];
    let env = super::environment(vars.into_iter()).unwrap();
    assert_eq!(
        env,
        [(
            "FRONTLINE_TIME__DEDUP_HORIZON".to_string(),
            "2h".to_string()
        )]
    );
    let e = super::environment(
        vec![(OsString::from("FRONTLINE_KAFKA__SASL_PASSWORD"), bad())].into_iter(),
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("FRONTLINE_KAFKA__SASL_PASSWORD: its value is not UTF-8"),
        "{e}"
    );
    let e = super::environment(
        vec![(
            OsString::from_vec(b"FRONTLINE_\xff".to_vec()),
            OsString::from("1"),
        )]
        .into_iter(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("its name is not UTF-8"), "{e}");
}

/// Defect: `FRONTLINE_KPI_SHORT_ABANDON` (one underscore after the
/// section) went unread, so the value its writer set was silently not the
/// one in force. A variable that names a section's key with one underscore
/// is an error naming the variable it should be; one that names no key is
/// not frontline's config and stays unread.
#[test]
fn a_config_variable_with_one_underscore_after_its_section_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("f.toml");
    std::fs::write(&p, "").unwrap();
    for (var, meant) in [
        (
            "FRONTLINE_KPI_SHORT_ABANDON",
            "FRONTLINE_KPI__SHORT_ABANDON",
        ),
        (
            "FRONTLINE_TIME_DEDUP_HORIZON",
            "FRONTLINE_TIME__DEDUP_HORIZON",
        ),
        ("FRONTLINE_SLA_EVENTS_TOPIC", "FRONTLINE_SLA_EVENTS__TOPIC"),
        ("FRONTLINE_KPI_TARGETS_CSAT", "FRONTLINE_KPI_TARGETS__CSAT"),
        ("FRONTLINE_KAFKA_TOPIC", "FRONTLINE_KAFKA__TOPIC"),
        (
            "FRONTLINE_KAFKA_BOOTSTRAP_SERVERS",
            "FRONTLINE_KAFKA__BOOTSTRAP_SERVERS",
        ),
        (
            "frontline_kpi_short_abandon",
            "FRONTLINE_kpi__short_abandon",
        ),
    ] {
        let var = var.replace("frontline_", "FRONTLINE_");
        let e = load_over(&p, &[(&var, "2m")], &[])
            .expect_err(&var)
            .to_string();
        assert!(
            e.contains(&format!("environment variable {var} is not read")),
            "{e}"
        );
        assert!(e.ends_with(&format!("as in {meant}")), "{e}");
    }
    // Not a key of the section named, or no section: not config.
    for var in [
        "FRONTLINE_KAFKA_LIBS",
        "FRONTLINE_KPI_SHORTABANDON",
        "FRONTLINE_CONFIG",
        "FRONTLINE_LOG_FORMAT",
        "FRONTLINE_WEB_CONFIG",
        "FRONTLINE_TEST_KAFKA",
        "FRONTLINE_KPI_",
    ] {
        let c = load_over(&p, &[(var, "2m")], &[]).unwrap();
        assert_eq!(
            c.kpi.short_abandon,
            Config::default().kpi.short_abandon,
            "{var}"
        );
    }
}

/// Defects: the environment's variables were applied in the order it
/// listed them, so one setting a whole list after one setting a key of an
/// entry took that key back, or made it an error, by the order alone; and
/// a number in a variable's name was read as an index even where the
/// config has a table (a calendar named `247`), which `--set` reached.
#[test]
fn environment_overrides_do_not_depend_on_the_variables_order() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("f.toml");
    std::fs::write(&p, "").unwrap();
    let list = (
        "FRONTLINE_SLA__POLICIES",
        "[{name = \"a\", first_response = \"1h\"}]",
    );
    let entry = ("FRONTLINE_SLA__POLICIES__0__FIRST_RESPONSE", "2h");
    for env in [[list, entry], [entry, list]] {
        let c = load_over(&p, &env, &[]).unwrap();
        assert_eq!(c.sla.policies[0].first_response, Some(Dur(7_200_000)));
    }
    let hours = "hours = { mon = [\"09:00-17:00\"] }";
    std::fs::write(
        &p,
        format!("[sla.calendars.247]\ntimezone = \"UTC\"\n{hours}\n"),
    )
    .unwrap();
    let c = load_over(
        &p,
        &[("FRONTLINE_SLA__CALENDARS__247__TIMEZONE", "Europe/Berlin")],
        &[],
    )
    .unwrap();
    let set = load_over(&p, &[], &["sla.calendars.247.timezone=Europe/Berlin"]).unwrap();
    assert_eq!(c.sla.calendars["247"].timezone, "Europe/Berlin");
    assert_eq!(set.sla.calendars["247"].timezone, "Europe/Berlin");
}

/// Defect: a syntax error on a `key = value` line named the key under the
/// nearest header's raw text: no index for an entry of a list of tables
/// (`sla.policies.first_response`), and a comment after a header taken
/// for part of the table's name (`time] # clocks.allowed_lateness`).
#[test]
fn a_syntax_error_names_its_key_under_the_right_table() {
    let key = |text: &str| match Config::parse(text).unwrap_err() {
        ConfigError::Invalid { key, .. } => key,
        e => panic!("{e}"),
    };
    let two = "[[sla.policies]]\nname = \"a\"\n[[sla.policies]]\nname = \"b\"\n";
    assert_eq!(
        key(&format!("{two}first_response = 5h\n")),
        "sla.policies[1].first_response"
    );
    assert_eq!(key(&format!("{two}name = \"c\"\n")), "sla.policies[1].name");
    assert_eq!(
        key(&format!("{two}[sla.policies.match]\npriority = [urgent]\n")),
        "sla.policies[1].match.priority"
    );
    assert_eq!(
        key("[time] # clocks\nallowed_lateness = 10m\n"),
        "time.allowed_lateness"
    );
    assert_eq!(
        key("[sla.calendars.\"a.b\"]\ntimezone = Europe/Berlin\n"),
        "sla.calendars.\"a.b\".timezone"
    );
    assert_eq!(
        key("[kpi]\n[ time ]\nallowed_lateness = 10m\n"),
        "time.allowed_lateness"
    );
}

/// Defect: an override naming an entry of a list as its last part
/// (`--set windows.sizes[1]=2h`, `sla.policies[1]={…}`) was refused as an
/// unknown field `sizes[1]`. It replaces that entry; one past the list or
/// into a value that is no list is refused, naming the entry.
#[test]
fn an_override_replaces_one_entry_of_a_list() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("f.toml");
    std::fs::write(
        &p,
        "[windows]\nsizes = [\"5m\", \"1h\"]\n[[sla.policies]]\nname = \"a\"\n[[sla.policies]]\nname = \"b\"\n",
    )
    .unwrap();
    let c = load_over(&p, &[], &["windows.sizes[1]=2h"]).unwrap();
    assert_eq!(c.windows.sizes, [Dur(300_000), Dur(7_200_000)]);
    let c = load_over(&p, &[("FRONTLINE_WINDOWS__SIZES__0", "1m")], &[]).unwrap();
    assert_eq!(c.windows.sizes, [Dur(60_000), Dur(3_600_000)]);
    let c = load_over(
        &p,
        &[],
        &["sla.policies[1]={name = \"c\", first_response = \"3h\"}"],
    )
    .unwrap();
    assert_eq!(c.sla.policies[0].name, "a");
    assert_eq!(c.sla.policies[1].name, "c");
    assert_eq!(c.sla.policies[1].first_response, Some(Dur(10_800_000)));
    let e = load_over(&p, &[], &["windows.sizes[2]=2h"])
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("invalid config key `windows.sizes[2]`: no such entry: the list has 2"),
        "{e}"
    );
    // A list with entries by default is reached without the file setting it.
    let none = dir.path().join("none.toml");
    std::fs::write(&none, "").unwrap();
    let c = load_over(&none, &[], &["windows.sizes[1]=2h"]).unwrap();
    assert_eq!(
        c.windows.sizes,
        [Dur(300_000), Dur(7_200_000), Dur(86_400_000)]
    );
    let c = load_over(&none, &[("FRONTLINE_WINDOWS__SIZES__2", "7d")], &[]).unwrap();
    assert_eq!(
        c.windows.sizes,
        [Dur(300_000), Dur(3_600_000), Dur(604_800_000)]
    );
    let e = load_over(&p, &[], &["kpi.short_abandon[0]=3s"])
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("invalid config key `kpi.short_abandon[0]`: not a list in the config"),
        "{e}"
    );
}

/// Defect: a target of more business time than a deadline is searched for
/// on its calendar (300d on office hours: three and a half years) was
/// accepted, and its clocks got no deadline and were never judged. It is
/// refused, naming the key; one within reach is taken.
#[test]
fn a_target_beyond_the_calendars_reach_is_refused() {
    let cfg = |target: &str| {
        format!(
            "[sla.calendars.office]\ntimezone = \"Europe/Berlin\"\nhours = {{ mon = [\"09:00-17:00\"], tue = [\"09:00-17:00\"], wed = [\"09:00-17:00\"], thu = [\"09:00-17:00\"], fri = [\"09:00-17:00\"] }}\n[[sla.policies]]\nname = \"p\"\ncalendar = \"office\"\nresolution = \"{target}\"\n"
        )
    };
    let e = Config::parse(&cfg("300d")).unwrap_err().to_string();
    assert!(e.contains("`sla.policies[0].resolution`"), "{e}");
    assert!(e.contains("calendar `office`"), "{e}");
    assert!(Config::parse(&cfg("200d")).is_ok());
    // Always open, the whole range of targets is within reach.
    assert!(Config::parse("[[sla.policies]]\nname = \"p\"\nresolution = \"365d\"\n").is_ok());
}

/// An empty `match` list would match nothing (or, read as absent,
/// anything); it is refused, naming the key.
#[test]
fn an_empty_match_list_is_refused() {
    for field in ["channel", "priority", "queue"] {
        let e = Config::parse(&format!(
            "[[sla.policies]]\nname = \"p\"\nanswer = \"20s\"\nmatch = {{ {field} = [] }}\n"
        ))
        .unwrap_err();
        assert!(
            e.to_string()
                .contains(&format!("`sla.policies[0].match.{field}`: an empty list")),
            "{e}"
        );
    }
}

/// An empty `group.id` is refused naming its key (librdkafka took it and
/// failed later, naming none), and where the value came from (defect: the
/// key, named quoted, matched no override and no place in the file).
#[test]
fn an_empty_group_id_is_refused() {
    let e = Config::load_with(None, std::iter::empty(), &["kafka.group.id=".into()]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid config key `kafka.\"group.id\"`: empty; give the consumer group's name \
         (from --set kafka.group.id)"
    );
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("f.toml");
    std::fs::write(&p, "[kafka]\ntopic = \"t\"\n\"group.id\" = \"\"\n").unwrap();
    let e = load_over(&p, &[], &[]).unwrap_err().to_string();
    assert!(e.ends_with(&format!("({}:3:14)", p.display())), "{e}");
    std::fs::write(&p, "").unwrap();
    let e = load_over(&p, &[("FRONTLINE_KAFKA__GROUP_ID", "")], &[])
        .unwrap_err()
        .to_string();
    assert!(e.ends_with("(from FRONTLINE_KAFKA__GROUP_ID)"), "{e}");
}

/// Defect: a duration far past any sane value (`106751991167d`, ~2^63 ms
/// away from overflow) was accepted and changed results.
#[test]
fn durations_out_of_range_name_their_key() {
    let e = Config::parse("[kpi]\nacw_timeout = \"106751991167d\"\n").unwrap_err();
    assert_eq!(
        e,
        ConfigError::invalid(
            "kpi.acw_timeout",
            "106751991167d is out of range: must be between 1s and 24h"
        )
    );
    for (section, key, bad) in [
        ("time", "allowed_lateness", "8d"),
        ("time", "idle_timeout", "500ms"),
        ("time", "dedup_horizon", "30d"),
        ("windows", "pane", "2h"),
        ("kpi", "repeat_window", "91d"),
        ("kpi", "short_abandon", "2h"),
        ("kpi", "service_level_threshold", "2d"),
        ("state", "resolved_ticket_ttl", "366d"),
        ("state", "idle_ticket_ttl", "1m"),
        ("state", "finished_call_ttl", "31d"),
        ("state", "idle_call_ttl", "1s"),
        ("http", "ready_max_watermark_lag", "31d"),
        ("http", "publish_interval", "5ms"),
        ("checkpoint", "interval", "2h"),
        ("checkpoint", "write_timeout", "11m"),
    ] {
        let e = Config::parse(&format!("[{section}]\n{key} = \"{bad}\"\n")).unwrap_err();
        assert!(
            e.to_string().contains(&format!("`{section}.{key}`"))
                && e.to_string().contains("out of range"),
            "{section}.{key} = {bad}: {e}"
        );
    }
    let e = Config::parse("[windows]\nsizes = [\"5m\", \"60d\"]\n").unwrap_err();
    assert!(e.to_string().contains("`windows.sizes[1]`"), "{e}");
    let e = Config::parse("[[sla.policies]]\nname = \"a\"\nresolution = \"400d\"\n").unwrap_err();
    assert!(
        e.to_string().contains("`sla.policies[0].resolution`"),
        "{e}"
    );
    // The bounds themselves are accepted, and so is every default.
    // (A 7-day lateness needs a longer max_event_age than its 7-day default.)
    Config::parse("[kpi]\nacw_timeout = \"1d\"\nshort_abandon = \"0s\"\n[time]\nallowed_lateness = \"7d\"\nmax_event_age = \"8d\"\n").unwrap();
    Config::parse(&std::fs::read_to_string("deploy/frontline.toml").unwrap()).unwrap();
}

/// Counts past their ranges name their key.
#[test]
fn counts_out_of_range_name_their_key() {
    for (text, key) in [
        (
            "[limits]\nmax_event_bytes = 17000000\n",
            "limits.max_event_bytes",
        ),
        ("[labels]\nmax_agents = 65535\n", "labels.max_agents"),
        ("[labels]\nmax_queues = 0\n", "labels.max_queues"),
        ("[http]\nready_max_lag = -1\n", "http.ready_max_lag"),
        ("[http]\nmax_body_bytes = 1048577\n", "http.max_body_bytes"),
        (
            "[checkpoint]\nreplication_factor = 40000\n",
            "checkpoint.replication_factor",
        ),
        (
            "[checkpoint]\nwrite_format = 3\n",
            "checkpoint.write_format",
        ),
        (
            "[checkpoint]\nwrite_format = 9\n",
            "checkpoint.write_format",
        ),
        ("[sla_events]\ntopic = \"\"\n", "sla_events.topic"),
        ("[sla_events]\ntopics = \"x\"\n", "sla_events.topics"),
    ] {
        let e = Config::parse(text).unwrap_err();
        assert!(e.to_string().contains(&format!("`{key}`")), "{text}: {e}");
    }
    assert!(!Config::parse("").unwrap().checkpoint.mirror);
    assert!(
        Config::parse("[checkpoint]\nmirror = true\n")
            .unwrap()
            .checkpoint
            .mirror
    );
    let older = Config::parse("[checkpoint]\nwrite_format = 4\n").unwrap();
    assert_eq!(older.checkpoint.write_format, 4);
    let five = Config::parse("[checkpoint]\nwrite_format = 5\n").unwrap();
    assert_eq!(five.checkpoint.write_format, 5);
    let six = Config::parse("[checkpoint]\nwrite_format = 6\n").unwrap();
    assert_eq!(six.checkpoint.write_format, 6);
    let seven = Config::parse("[checkpoint]\nwrite_format = 7\n").unwrap();
    assert_eq!(seven.checkpoint.write_format, 7);
    assert_eq!(Config::default().checkpoint.write_format, 8);
    let targets: String = (0..101).map(|i| format!("k{i} = 1.0\n")).collect();
    let e = Config::parse(&format!("[kpi_targets]\n{targets}")).unwrap_err();
    assert!(e.to_string().contains("`kpi_targets`"), "{e}");
    let policies: String = (0..101)
        .map(|i| format!("[[sla.policies]]\nname = \"p{i}\"\nanswer = \"20s\"\n"))
        .collect();
    let e = Config::parse(&policies).unwrap_err();
    assert!(e.to_string().contains("`sla.policies`"), "{e}");
}

/// Defect: ids are 16-bit, so a queue allow list of more than 65 534
/// values wrapped (`q65534` became `unknown`, `q69999` became `q4463`).
#[test]
fn allow_lists_past_the_label_id_space_are_refused() {
    let list = |n: usize| {
        (0..n)
            .map(|i| format!("\"q{i}\""))
            .collect::<Vec<_>>()
            .join(",")
    };
    let e = Config::parse(&format!(
        "[labels]\nqueue_allow_list = [{}]\n",
        list(65_535)
    ))
    .unwrap_err();
    assert!(e.to_string().contains("`labels.queue_allow_list`"), "{e}");
    let e = Config::parse(&format!(
        "[labels]\nagent_allow_list = [{}]\n",
        list(70_000)
    ))
    .unwrap_err();
    assert!(e.to_string().contains("`labels.agent_allow_list`"), "{e}");
    Config::parse(&format!(
        "[labels]\nqueue_allow_list = [{}]\n",
        list(LABEL_VALUES)
    ))
    .unwrap();
    // Queues named by SLA policies take ids of their own.
    let e = Config::parse(&format!(
            "[labels]\nqueue_allow_list = [{}]\n[[sla.policies]]\nname = \"x\"\nmatch = {{ queue = \"extra\" }}\nanswer = \"20s\"\n",
            list(LABEL_VALUES)
        ))
        .unwrap_err();
    assert!(e.to_string().contains("`labels.queue_allow_list`"), "{e}");
}

/// Defect: `1.5m` said "a unit is required"; it has one, it is the
/// decimal that is not supported.
#[test]
fn a_decimal_duration_says_so_and_suggests_whole_units() {
    let e = "1.5m".parse::<Dur>().unwrap_err();
    assert_eq!(
        e,
        "`1.5m`: decimals are not supported; write whole units, e.g. 90s"
    );
    assert!("0.5h".parse::<Dur>().unwrap_err().ends_with("e.g. 30m"));
    assert!("1.5s".parse::<Dur>().unwrap_err().ends_with("e.g. 1500ms"));
    assert!("0.0001ms"
        .parse::<Dur>()
        .unwrap_err()
        .contains("decimals are not supported"));
    assert!("1.5"
        .parse::<Dur>()
        .unwrap_err()
        .contains("decimals are not supported"));
    let e = Config::parse("[kpi]\nacw_timeout = \"1.5m\"\n").unwrap_err();
    assert!(
        e.to_string().contains("`kpi.acw_timeout`") && e.to_string().contains("90s"),
        "{e}"
    );
}

/// Defect: `09:00-09:00` said "ends before it starts"; it is empty.
#[test]
fn an_empty_opening_range_is_called_empty() {
    let e = Config::parse(&SPEC_SLA.replace("fri = [\"09:00-15:00\"]", "fri = [\"09:00-09:00\"]"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("`sla.calendars.office.hours.fri`") && e.contains("is empty"),
        "{e}"
    );
    assert!(!e.contains("before it starts"), "{e}");
}

/// Defect: a TOML syntax error was reported on two lines, without the file.
#[test]
fn a_syntax_error_is_one_line_with_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("f.toml");
    std::fs::write(&p, "[time]\nallowed_lateness = \"5m\"\n[kpi\n").unwrap();
    let e = Config::load(&p).unwrap_err().to_string();
    assert!(!e.contains('\n'), "{e}");
    assert!(
        e.starts_with(&format!("invalid config: {}:3:", p.display())),
        "{e}"
    );
    let e = Config::parse("[kpi\n").unwrap_err().to_string();
    assert!(!e.contains('\n') && e.contains("line 1, column"), "{e}");
    // On a key's line the key is named, and the place too.
    std::fs::write(&p, "[time]\nallowed_lateness = = \"5m\"\n").unwrap();
    let e = Config::load(&p).unwrap_err().to_string();
    assert!(!e.contains('\n'), "{e}");
    assert!(e.contains("`time.allowed_lateness`"), "{e}");
    assert!(e.contains(&format!("{}:2:", p.display())), "{e}");
}

/// The config file at `p` with the variables `env` and the `--set` flags
/// `sets` over it.
fn load_over(
    p: &std::path::Path,
    env: &[(&str, &str)],
    sets: &[&str],
) -> Result<Config, ConfigError> {
    let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    Config::load_with(Some(p), env, &sets)
}

/// Defects: with any override in the environment or by `--set`, an error
/// was placed at a line and column of an internal merged text, without
/// its key, and a file's own error lost its place; a key in the second
/// `[[sla.policies]]` was named without its index, and one whose table
/// had the wrong shape not at all. An error names its key path, indexed,
/// and the override that set it, or the file's place.
#[test]
fn an_error_names_its_key_and_the_layer_that_set_it() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("f.toml");
    let load = |text: &str, env: &[(&str, &str)], sets: &[&str]| {
        std::fs::write(&p, text).unwrap();
        load_over(&p, env, sets).unwrap_err().to_string()
    };
    let file = "[time]\nallowed_lateness = \"5m\"\n[kpi]\nshort_abandon = \"10s\"\n";
    let e = load(file, &[("FRONTLINE_TME__ALLOWED_LATENESS", "5m")], &[]);
    assert!(
        e.starts_with("invalid config key `tme`: unknown field `tme`"),
        "{e}"
    );
    assert!(e.ends_with("(from FRONTLINE_TME__ALLOWED_LATENESS)"), "{e}");
    let e = load(file, &[], &["sla.policies[0].answer=10s"]);
    assert!(e.contains("`sla.policies[0]`"), "{e}");
    assert!(e.ends_with("(from --set sla.policies[0].answer)"), "{e}");
    // A bad value from an override is named with it; its value is not
    // printed (it may be a secret).
    let e = load(file, &[("FRONTLINE_KPI__SHORT_ABANDON", "soon")], &[]);
    assert!(e.contains("`kpi.short_abandon`"), "{e}");
    assert!(e.ends_with("(from FRONTLINE_KPI__SHORT_ABANDON)"), "{e}");
    // The file's own error keeps its place beside an unrelated override.
    let bad = "[time]\nallowed_lateness = \"5m\"\n[kpi]\nshort_abandon = 10\n";
    let e = load(bad, &[("FRONTLINE_TIME__DEDUP_HORIZON", "2h")], &[]);
    assert!(e.contains("`kpi.short_abandon`"), "{e}");
    assert!(e.contains(&format!("({}:4:", p.display())), "{e}");
    // Keys in an array of tables are indexed.
    let policies = "[[sla.policies]]\nname = \"a\"\n[[sla.policies]]\nname = \"b\"\n";
    let e = load(&format!("{policies}first_respons = \"1h\"\n"), &[], &[]);
    assert!(e.contains("`sla.policies[1].first_respons`"), "{e}");
    let e = load(&format!("{policies}answer = 20\n"), &[], &[]);
    assert!(e.contains("`sla.policies[1].answer`"), "{e}");
    assert!(e.contains(&format!("({}:5:", p.display())), "{e}");
    // A table where a list of tables belongs.
    let e = load("[sla.policies]\nname = \"a\"\n", &[], &[]);
    assert!(e.contains("`sla.policies`"), "{e}");
}

/// SPEC §6: every key overridable. A key in a list of tables is reached
/// by its index: `--set sla.policies[1].first_response=2h`, or
/// `FRONTLINE_SLA__POLICIES__1__FIRST_RESPONSE`; the other entries and
/// keys stay as the file has them.
#[test]
fn a_key_in_a_list_of_tables_is_overridden_by_its_index() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("f.toml");
    std::fs::write(
        &p,
        "[[sla.policies]]\nname = \"a\"\nfirst_response = \"1h\"\n\
         [[sla.policies]]\nname = \"b\"\nfirst_response = \"4h\"\nresolution = \"1d\"\n",
    )
    .unwrap();
    let load = |env: &[(&str, &str)], sets: &[&str]| load_over(&p, env, sets);
    let h = |n: i64| Some(Dur(n * 3_600_000));
    let c = load(&[], &["sla.policies[1].first_response=2h"]).unwrap();
    let (a, b) = (&c.sla.policies[0], &c.sla.policies[1]);
    assert_eq!((a.name.as_str(), a.first_response), ("a", h(1)));
    assert_eq!(
        (b.name.as_str(), b.first_response, b.resolution),
        ("b", h(2), h(24))
    );
    let c = load(
        &[("FRONTLINE_SLA__POLICIES__0__FIRST_RESPONSE", "30m")],
        &[],
    )
    .unwrap();
    assert_eq!(c.sla.policies[0].first_response, Some(Dur(1_800_000)));
    assert_eq!(c.sla.policies[1].first_response, h(4));
    // The flag after the variable, as everywhere.
    let c = load(
        &[("FRONTLINE_SLA__POLICIES__1__FIRST_RESPONSE", "3h")],
        &["sla.policies[1].first_response=5h"],
    )
    .unwrap();
    assert_eq!(c.sla.policies[1].first_response, h(5));
    let err = |env: &[(&str, &str)], sets: &[&str]| load(env, sets).unwrap_err().to_string();
    let e = err(&[], &["sla.policies[2].answer=10s"]);
    assert!(
        e.contains("`sla.policies[2]`: no such entry: the list has 2"),
        "{e}"
    );
    assert!(e.ends_with("(from --set sla.policies[2].answer)"), "{e}");
    let e = err(&[], &["sla.policies[x].answer=10s"]);
    assert!(
        e.contains("`sla.policies`: an index into a list is a number"),
        "{e}"
    );
    let e = err(&[], &["kpi.short_abandon[0].x=1"]);
    assert!(
        e.contains("`kpi.short_abandon[0]`: not a list of tables"),
        "{e}"
    );
    let e = err(&[("FRONTLINE_SLA__POLICIES__0__FIRST_RESPONSE", "0s")], &[]);
    assert!(e.contains("`sla.policies[0].first_response`"), "{e}");
    assert!(
        e.ends_with("(from FRONTLINE_SLA__POLICIES__0__FIRST_RESPONSE)"),
        "{e}"
    );
}

/// A value that parses but breaks a rule (a range, a limit, another key)
/// is named with where it came from too: the variable, the flag, or its
/// place in the file.
#[test]
fn a_value_out_of_range_names_where_it_came_from() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("f.toml");
    let load = |text: &str, env: &[(&str, &str)], sets: &[&str]| {
        std::fs::write(&p, text).unwrap();
        load_over(&p, env, sets).unwrap_err().to_string()
    };
    let at = |l: usize, c: usize| format!("({}:{l}:{c})", p.display());
    let file = "[kpi]\nshort_abandon = \"5s\"\n";
    let e = load(file, &[("FRONTLINE_KPI__SHORT_ABANDON", "2h")], &[]);
    assert!(e.contains("`kpi.short_abandon`: 2h is out of range"), "{e}");
    assert!(e.ends_with("(from FRONTLINE_KPI__SHORT_ABANDON)"), "{e}");
    let e = load(
        file,
        &[("FRONTLINE_KPI__SHORT_ABANDON", "2h")],
        &["kpi.short_abandon=3h"],
    );
    assert!(
        e.ends_with("3h is out of range: must be between 0s and 1h (from --set kpi.short_abandon)"),
        "{e}"
    );
    // In the file, at the value.
    let e = load("[time]\n\n[kpi]\nshort_abandon = \"2h\"\n", &[], &[]);
    assert!(e.ends_with(&at(4, 17)), "{e}");
    // With an unrelated override, the file's value is still placed.
    let e = load(
        "[kpi]\nshort_abandon = \"2h\"\n",
        &[("FRONTLINE_TIME__DEDUP_HORIZON", "2h")],
        &[],
    );
    assert!(e.ends_with(&at(2, 17)), "{e}");
    // An element of a list, a key in a list of tables, a dotted key.
    let e = load("[windows]\nsizes = [\"5m\", \"1h\", \"0s\"]\n", &[], &[]);
    assert!(e.contains("`windows.sizes[2]`"), "{e}");
    assert!(e.ends_with(&at(2, 22)), "{e}");
    let policies = "[[sla.policies]]\nname = \"a\"\n[[sla.policies]]\nname = \"b\"\n";
    let e = load(&format!("{policies}first_response = \"-1s\"\n"), &[], &[]);
    assert!(e.contains("`sla.policies[1]"), "{e}");
    assert!(e.contains(&format!("{}:", p.display())), "{e}");
    let e = load("kpi.short_abandon = \"2h\"\n", &[], &[]);
    assert!(e.ends_with(&at(1, 21)), "{e}");
    // A rule between two keys: the place of the key it names.
    let e = load(
        "[time]\nmax_event_age = \"10m\"\nallowed_lateness = \"20m\"\n",
        &[],
        &[],
    );
    assert!(e.contains("`time.max_event_age`: must be longer"), "{e}");
    assert!(e.ends_with(&at(2, 17)), "{e}");
    let e = load(
        "[time]\nallowed_lateness = \"20m\"\nmax_event_age = \"10m\"\n",
        &[],
        &[],
    );
    assert!(e.ends_with(&at(3, 17)), "{e}");
}

#[test]
fn bucket_bounds_fall_back_to_default() {
    let c = Config::parse("[histograms.buckets]\nreply = [60.0, 5.0, 60.0]\n").unwrap();
    assert_eq!(c.histograms.bounds("reply"), vec![5.0, 60.0]);
    assert_eq!(c.histograms.bounds("handle"), DEFAULT_BUCKETS.to_vec());
}

#[test]
fn topic_names_kafka_refuses_are_config_errors_naming_the_key() {
    let key = |toml: &str| match Config::parse(toml) {
        Err(ConfigError::Invalid { key, .. }) => key,
        other => panic!("{toml}: {other:?}"),
    };
    assert_eq!(key("[kafka]\ntopic = \"bad topic!\"\n"), "kafka.topic");
    assert_eq!(
        key("[kafka]\ndead_letter_topic = \"bad topic!\"\n"),
        "kafka.dead_letter_topic"
    );
    assert_eq!(key("[checkpoint]\ntopic = \"..\"\n"), "checkpoint.topic");
    assert_eq!(key("[sla_events]\ntopic = \"a/b\"\n"), "sla_events.topic");
    // 249 characters is a name; with `.frontline-state` after it, it is not.
    let long = "t".repeat(249);
    assert_eq!(
        key(&format!("[kafka]\ntopic = \"{long}\"\n")),
        "kafka.topic"
    );
    let ok = format!(
        "[kafka]\ntopic = \"{long}\"\ndead_letter_topic = \"d\"\n[checkpoint]\ntopic = \"c\"\n"
    );
    Config::parse(&ok).unwrap();
    Config::parse("[kafka]\ntopic = [\"support.events_v2-x\", \"b\"]\n").unwrap();
}

/// Defect: a key in a table of a section (`histograms.buckets.handle`,
/// `sla.calendars.office.timezone`) could not be set by `--set` or the
/// environment ("unknown field `buckets.handle`").
#[test]
fn keys_in_tables_of_a_section_are_set_by_flag_and_environment() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("f.toml");
    std::fs::write(
        &p,
        "[histograms.buckets]\nfirst_response = [60, 600]\nhandle = [30]\n\
         [sla.calendars.office]\ntimezone = \"Europe/Berlin\"\nhours = { mon = [\"09:00-17:00\"] }\n",
    )
    .unwrap();
    let env = [(
        "FRONTLINE_HISTOGRAMS__BUCKETS__HANDLE".to_string(),
        "[10, 20]".to_string(),
    )];
    let c = Config::load_with(
        Some(&p),
        env.into_iter(),
        &["sla.calendars.office.timezone=UTC".into()],
    )
    .unwrap();
    assert_eq!(c.histograms.bounds("handle"), vec![10.0, 20.0]);
    // The file's other entries of those tables stay.
    assert_eq!(c.histograms.bounds("first_response"), vec![60.0, 600.0]);
    let office = &c.sla.calendars["office"];
    assert_eq!(office.timezone, "UTC");
    assert!(office.hours.contains_key("mon"), "{office:?}");
}

/// Defect: with an override present, an error in the file was placed at a
/// line of the merged text frontline builds ("line 4" for a `[tim]` on the
/// file's line 6), without the file's name.
#[test]
fn an_error_in_the_file_names_its_place_in_the_file_under_overrides() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("f.toml");
    std::fs::write(
        &p,
        "# a\n\n[time]\nallowed_lateness = \"5m\"\n\n[tim]\nx = 1\n",
    )
    .unwrap();
    let alone = Config::load_with(Some(&p), std::iter::empty(), &[]).unwrap_err();
    let with_set = Config::load_with(
        Some(&p),
        std::iter::empty(),
        &["time.idle_timeout=\"1m\"".into()],
    )
    .unwrap_err();
    assert_eq!(with_set.to_string(), alone.to_string());
    assert!(alone.to_string().contains("f.toml:6:"), "{alone}");
}
