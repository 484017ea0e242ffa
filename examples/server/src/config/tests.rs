use std::collections::HashMap;
use std::path::PathBuf;

use super::*;

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |k| map.get(k).cloned()
}

/// A file in a fresh temporary directory.
fn temp_file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "alertkit-server-config-{}-{name}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn err(file: Option<&Path>, pairs: &[(&str, &str)]) -> String {
    Config::load(file, env(pairs)).unwrap_err().to_string()
}

#[test]
fn defaults_need_no_configuration() {
    let c = Config::load(None, env(&[])).unwrap();
    assert_eq!(c.listen.to_string(), "0.0.0.0:8080");
    assert_eq!(c.log_level, "info");
    assert_eq!(c.database.kind, DatabaseKind::Sqlite);
    assert_eq!(c.database.url.expose(), "sqlite://alertkit.db");
    assert_eq!(c.enrichment_mode, EnrichmentMode::Enriched);
    assert!(matches!(c.ingest_auth, IngestAuth::None));
    assert!(c.admin_api_key.is_none() && c.redis_url.is_none() && c.llm.is_none());
    assert_eq!(c.limits.max_body_bytes, 4 * 1024 * 1024);
    assert_eq!(c.limits.max_alerts_per_request, 10_000);
}

#[test]
fn the_environment_overrides_the_file() {
    let file = temp_file(
        "precedence.toml",
        r#"
[server]
host = "127.0.0.1"
port = 9000
max_body_bytes = 1024

[log]
level = "debug"

[enrichment]
mode = "transparent"

[ingest]
bearer_token = "from-the-file"
max_alerts_per_request = 5
"#,
    );
    let from_file = Config::load(Some(&file), env(&[])).unwrap();
    assert_eq!(from_file.listen.to_string(), "127.0.0.1:9000");
    assert_eq!(from_file.log_level, "debug");
    assert_eq!(from_file.enrichment_mode, EnrichmentMode::Transparent);
    assert_eq!(from_file.limits.max_body_bytes, 1024);
    assert_eq!(from_file.limits.max_alerts_per_request, 5);
    let IngestAuth::Bearer(token) = &from_file.ingest_auth else {
        panic!("bearer auth expected: {:?}", from_file.ingest_auth);
    };
    assert!(token.matches(b"from-the-file"));

    let c = Config::load(
        Some(&file),
        env(&[
            ("SERVER_PORT", "9100"),
            ("INGEST_BEARER_TOKEN", "from-the-env"),
            ("ENRICHMENT_MODE", "transparent_with_recommendations"),
            ("LOG_LEVEL", ""), // empty counts as unset: the file's value stays
        ]),
    )
    .unwrap();
    assert_eq!(
        c.listen.to_string(),
        "127.0.0.1:9100",
        "host from the file, port from env"
    );
    assert_eq!(c.log_level, "debug");
    assert_eq!(
        c.enrichment_mode,
        EnrichmentMode::TransparentWithRecommendations
    );
    let IngestAuth::Bearer(token) = &c.ingest_auth else {
        panic!("bearer auth expected");
    };
    assert!(token.matches(b"from-the-env") && !token.matches(b"from-the-file"));
}

#[test]
fn errors_name_the_key_where_it_was_set() {
    assert!(err(None, &[("SERVER_PORT", "80a")]).starts_with("invalid configuration SERVER_PORT:"),);
    let file = temp_file("bad-port.toml", "[server]\nport = 70000\n");
    let e = err(Some(&file), &[]);
    assert!(
        e.starts_with("invalid configuration server.port (in "),
        "{e}"
    );
    assert!(e.contains("bad-port.toml"), "{e}");
    for (key, value) in [
        ("SERVER_HOST", "localhost:80"),
        ("LOG_LEVEL", "loud=[["),
        ("LOG_LEVEL", "verbose"),
        ("SERVER_MAX_BODY_BYTES", "0"),
        ("INGEST_MAX_ALERTS_PER_REQUEST", "-1"),
        ("ENRICHMENT_MODE", "smart"),
        ("SIMULATION_ENABLED", "maybe"),
        ("DATABASE_URL", "mysql://db/alerts"),
        ("DATABASE_POOL_SIZE", "0"),
        ("REDIS_URL", "http://127.0.0.1:6379"),
        ("LLM_BASE_URL", "ftp://llm"),
        ("TARGETS_FILE", "/nonexistent/targets.toml"),
        ("REDIS_CA_CERT", "/nonexistent/ca.pem"),
    ] {
        let e = err(None, &[(key, value)]);
        assert!(
            e.starts_with(&format!("invalid configuration {key}:")),
            "{key}={value}: {e}"
        );
    }
}

#[test]
fn a_redis_ca_certificate_needs_a_tls_url() {
    let ca = temp_file("redis-ca.pem", "-----BEGIN CERTIFICATE-----\n");
    let ca = ca.to_str().unwrap();
    let e = err(
        None,
        &[
            ("REDIS_URL", "redis://127.0.0.1:6379"),
            ("REDIS_CA_CERT", ca),
        ],
    );
    assert!(e.starts_with("invalid configuration REDIS_CA_CERT:"), "{e}");
    let e = err(None, &[("REDIS_CA_CERT", ca)]);
    assert!(e.starts_with("invalid configuration REDIS_CA_CERT:"), "{e}");
    let c = Config::load(
        None,
        env(&[("REDIS_URL", "rediss://cache:6380"), ("REDIS_CA_CERT", ca)]),
    )
    .unwrap();
    assert_eq!(c.redis_ca_cert.as_deref(), Some(Path::new(ca)));
}

#[test]
fn log_levels_in_any_case_or_filters() {
    for level in [
        "DEBUG",
        "warn",
        "info,alertkit=debug",
        "alertkit_server=trace",
    ] {
        let c = Config::load(None, env(&[("LOG_LEVEL", level)])).unwrap();
        assert_eq!(c.log_level, level);
    }
}

#[test]
fn unknown_keys_in_the_file_are_errors() {
    let file = temp_file("typo.toml", "[server]\nprot = 9000\n");
    assert_eq!(
        err(Some(&file), &[]),
        format!(
            "unknown configuration key server.prot in {}",
            file.display()
        )
    );
    let file = temp_file("section.toml", "[servers]\nport = 9000\n");
    assert!(err(Some(&file), &[]).starts_with("unknown configuration key servers in"));
    let file = temp_file("top.toml", "port = 9000\n");
    assert!(err(Some(&file), &[]).starts_with("unknown configuration key port in"));
    let file = temp_file("array.toml", "[server]\nport = [1]\n");
    assert!(err(Some(&file), &[]).contains("server.port"));
}

#[test]
fn secrets_are_never_echoed() {
    let secret = "s3cr3t-value-that-must-not-leak";
    // A syntax error on the line holding a secret: position only.
    let file = temp_file("syntax.toml", &format!("[admin]\napi_key = \"{secret}\n"));
    let e = err(Some(&file), &[]);
    assert!(e.contains("line 2"), "{e}");
    assert!(!e.contains(secret), "{e}");
    // Malformed URLs with passwords.
    for key in ["DATABASE_URL", "REDIS_URL", "LLM_BASE_URL"] {
        let e = err(None, &[(key, &format!("bogus://user:{secret}@host/x"))]);
        assert!(
            e.starts_with(&format!("invalid configuration {key}")),
            "{e}"
        );
        assert!(!e.contains(secret), "{e}");
    }
    // Debug of the whole configuration.
    let c = Config::load(
        None,
        env(&[
            ("ADMIN_API_KEY", secret),
            ("INGEST_BASIC_USER", "am"),
            ("INGEST_BASIC_PASSWORD", secret),
            ("LLM_BASE_URL", "https://llm.example"),
            ("LLM_API_KEY", secret),
            ("REDIS_URL", &format!("redis://:{secret}@127.0.0.1:6379")),
            (
                "DATABASE_URL",
                &format!("postgres://alertkit:{secret}@db:5432/alertkit"),
            ),
        ]),
    )
    .unwrap();
    let debug = format!("{c:?}");
    assert!(!debug.contains(secret), "{debug}");
    assert_eq!(c.database.redacted(), "postgres://***@db:5432/alertkit");
    assert_eq!(c.database.kind, DatabaseKind::Postgres);
    assert_eq!(c.database.pool_size, 10);
}

#[test]
fn secrets_can_come_from_files() {
    let token = temp_file("token", "file-token\n");
    let c = Config::load(
        None,
        env(&[("INGEST_BEARER_TOKEN_FILE", token.to_str().unwrap())]),
    )
    .unwrap();
    let IngestAuth::Bearer(t) = &c.ingest_auth else {
        panic!("bearer expected");
    };
    assert!(t.matches(b"file-token"), "trailing newline trimmed");
    let e = err(
        None,
        &[
            ("INGEST_BEARER_TOKEN_FILE", token.to_str().unwrap()),
            ("INGEST_BEARER_TOKEN", "inline"),
        ],
    );
    assert!(
        e.starts_with("invalid configuration INGEST_BEARER_TOKEN:"),
        "{e}"
    );
    let e = err(None, &[("ADMIN_API_KEY_FILE", "/nonexistent/admin-key")]);
    assert!(
        e.starts_with("invalid configuration ADMIN_API_KEY_FILE:"),
        "{e}"
    );
}

#[test]
fn inconsistent_settings_name_the_missing_key() {
    let e = err(None, &[("INGEST_BASIC_USER", "am")]);
    assert!(
        e.starts_with("invalid configuration INGEST_BASIC_PASSWORD:"),
        "{e}"
    );
    let e = err(
        None,
        &[
            ("INGEST_BEARER_TOKEN", "t"),
            ("INGEST_BASIC_USER", "am"),
            ("INGEST_BASIC_PASSWORD", "p"),
        ],
    );
    assert!(
        e.starts_with("invalid configuration INGEST_BEARER_TOKEN:"),
        "{e}"
    );
    let e = err(None, &[("LLM_API_KEY", "k")]);
    assert!(e.starts_with("invalid configuration LLM_BASE_URL:"), "{e}");
    let e = err(None, &[("SIMULATION_ENABLED", "true")]);
    assert!(
        e.starts_with("invalid configuration SIMULATION_ENABLED:"),
        "{e}"
    );
    let e = err(None, &[("ADMIN_API_KEY", "short")]);
    assert!(e.starts_with("invalid configuration ADMIN_API_KEY:"), "{e}");
    let e = err(None, &[("DATABASE_SCHEMA", "alertkit")]);
    assert!(
        e.starts_with("invalid configuration DATABASE_SCHEMA:"),
        "{e}"
    );
}

#[test]
fn the_command_line_names_the_file() {
    let args = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    assert_eq!(
        parse_args(args(&["--config", "a.toml"]), Some("b.toml".to_owned())).unwrap(),
        Command::Run(Some(PathBuf::from("a.toml")))
    );
    assert_eq!(
        parse_args(args(&["--config=c.toml"]), None).unwrap(),
        Command::Run(Some(PathBuf::from("c.toml")))
    );
    assert_eq!(
        parse_args(args(&[]), Some("b.toml".to_owned())).unwrap(),
        Command::Run(Some(PathBuf::from("b.toml")))
    );
    assert_eq!(parse_args(args(&[]), None).unwrap(), Command::Run(None));
    assert_eq!(parse_args(args(&["-h"]), None).unwrap(), Command::Help);
    assert_eq!(
        parse_args(args(&["--migrate", "-c", "a.toml"]), None).unwrap(),
        Command::Migrate(Some(PathBuf::from("a.toml")))
    );
    assert_eq!(
        parse_args(args(&["--migrate"]), Some("b.toml".to_owned())).unwrap(),
        Command::Migrate(Some(PathBuf::from("b.toml")))
    );
    assert!(parse_args(args(&["--config"]), None).is_err());
    assert!(parse_args(args(&["--port", "1"]), None).is_err());
    let e = Config::load(Some(Path::new("/nonexistent/alertkit.toml")), env(&[]))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("invalid configuration file /nonexistent/alertkit.toml:"),
        "{e}"
    );
}

#[test]
fn every_key_can_be_set_in_the_file() {
    let admin = temp_file("admin-key", "0123456789abcdef0123\n");
    let targets = temp_file("targets.toml", "");
    let ca = temp_file("full-redis-ca.pem", "");
    let file = temp_file(
        "full.toml",
        &format!(
            r#"
[server]
host = "::1"
port = 0
max_body_bytes = 2048
[log]
level = "warn,alertkit=debug"
[database]
url = "postgres://alertkit@127.0.0.1:5432/alertkit"
pool_size = 3
schema = "alertkit_test"
journal = false
migrate = false
[redis]
url = "rediss://127.0.0.1:6379/0"
ca_cert = "{}"
[llm]
base_url = "https://llm.example/v1/"
api_key = "k"
model = "gpt-test"
[enrichment]
mode = "enriched"
[admin]
api_key_file = "{}"
[simulation]
enabled = true
[ingest]
basic_user = "alertmanager"
basic_password = "pw"
max_alerts_per_request = 7
[targets]
file = "{}"
[retention]
days = 30
interval_seconds = 120
"#,
            ca.display(),
            admin.display(),
            targets.display()
        ),
    );
    let c = Config::load(Some(&file), env(&[])).unwrap();
    assert_eq!(c.listen.to_string(), "[::1]:0");
    assert_eq!(c.database.schema.as_deref(), Some("alertkit_test"));
    assert_eq!(c.database.pool_size, 3);
    assert!(!c.database.journal);
    assert!(!c.database.migrate);
    assert_eq!(c.llm.as_ref().unwrap().base_url, "https://llm.example/v1");
    assert!(
        c.admin_api_key
            .as_ref()
            .unwrap()
            .matches(b"0123456789abcdef0123")
    );
    assert!(c.simulation_enabled);
    assert!(matches!(&c.ingest_auth, IngestAuth::Basic { user, .. } if user == "alertmanager"));
    assert_eq!(c.targets_file.as_deref(), Some(targets.as_path()));
    assert_eq!(c.redis_ca_cert.as_deref(), Some(ca.as_path()));
    assert_eq!(c.retention.days, 30);
    assert_eq!(c.retention.every, std::time::Duration::from_secs(120));
    let documented: std::collections::HashSet<_> = source::KEYS.iter().map(|k| k.path).collect();
    let used = file_keys(&std::fs::read_to_string(&file).unwrap());
    // Every key but the alternatives of keys set inline above appears.
    for k in &documented {
        let alternative = matches!(
            *k,
            "llm.api_key_file"
                | "admin.api_key"
                | "ingest.bearer_token"
                | "ingest.bearer_token_file"
                | "ingest.basic_password_file"
        );
        assert!(used.contains(*k) || alternative, "{k} not exercised");
    }
}

/// Dotted keys of a flat two-level TOML document.
fn file_keys(text: &str) -> std::collections::HashSet<String> {
    let table: toml::Table = text.parse().unwrap();
    let mut out = std::collections::HashSet::new();
    for (section, v) in &table {
        for key in v.as_table().unwrap().keys() {
            out.insert(format!("{section}.{key}"));
        }
    }
    out
}

#[test]
fn the_journal_is_on_for_sqlite_and_refused_for_postgres() {
    let lite = Config::load(None, env(&[])).unwrap();
    assert!(
        lite.database.journal,
        "the Lite profile acknowledges on the journal"
    );
    let strict = Config::load(None, env(&[("DATABASE_JOURNAL", "false")])).unwrap();
    assert!(!strict.database.journal);
    let pg = Config::load(
        None,
        env(&[("DATABASE_URL", "postgres://u:secret@127.0.0.1/db")]),
    )
    .unwrap();
    assert!(
        !pg.database.journal,
        "PostgreSQL records before acknowledging"
    );
    let e = Config::load(
        None,
        env(&[
            ("DATABASE_URL", "postgres://u:secret@127.0.0.1/db"),
            ("DATABASE_JOURNAL", "true"),
        ]),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("DATABASE_JOURNAL"), "{e}");
    assert!(!e.contains("secret"), "{e}");
}

#[test]
fn migrations_run_at_start_unless_turned_off() {
    assert!(Config::load(None, env(&[])).unwrap().database.migrate);
    let off = Config::load(None, env(&[("DATABASE_MIGRATE", "false")])).unwrap();
    assert!(!off.database.migrate);
    let e = Config::load(None, env(&[("DATABASE_MIGRATE", "later")]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("DATABASE_MIGRATE"), "{e}");
}

#[test]
fn retention_defaults_to_90_days_and_names_bad_values() {
    let c = Config::load(None, env(&[])).unwrap();
    assert_eq!(c.retention, Retention::default());
    assert_eq!(c.retention.days, 90);
    assert_eq!(c.retention.every, std::time::Duration::from_secs(600));
    let c = Config::load(
        None,
        env(&[
            ("RETENTION_DAYS", "0"),
            ("RETENTION_INTERVAL_SECONDS", "60"),
        ]),
    )
    .unwrap();
    assert_eq!(c.retention.days, 0, "0 keeps everything");
    assert_eq!(c.retention.every, std::time::Duration::from_secs(60));
    for (key, bad) in [
        ("RETENTION_DAYS", "-1"),
        ("RETENTION_DAYS", "ninety"),
        ("RETENTION_DAYS", "100001"),
        ("RETENTION_INTERVAL_SECONDS", "0"),
        ("RETENTION_INTERVAL_SECONDS", "604801"),
        ("RETENTION_INTERVAL_SECONDS", "1.5"),
    ] {
        let e = Config::load(None, env(&[(key, bad)]))
            .unwrap_err()
            .to_string();
        assert!(e.contains(key), "{key}={bad}: {e}");
    }
}
