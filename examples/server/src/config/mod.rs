//! Configuration: a TOML file (`--config <path>` or `CONFIG_FILE`) overridden
//! by environment variables named after the key paths (`server.port` →
//! `SERVER_PORT`). Every key has a default, so zero configuration works.

mod args;
mod source;
#[cfg(test)]
mod tests;

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use alertkit_core::Secret;
use axum::http::Uri;
use serde::Serialize;

pub(crate) use args::{Command, USAGE, parse_args};
use source::Raw;

/// Every configuration key (for tests that check the documentation).
#[cfg(test)]
pub(crate) fn keys() -> &'static [source::Key] {
    source::KEYS
}

/// The server's settings.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// `server.host` (default `0.0.0.0`) and `server.port` (default `8080`).
    pub(crate) listen: SocketAddr,
    /// `log.level` (default `info`): a level or a tracing filter directive.
    pub(crate) log_level: String,
    /// `database.*`.
    pub(crate) database: Database,
    /// `redis.url`: the shared tier of the verdict cache and the enrichment mode.
    pub(crate) redis_url: Option<Secret>,
    /// `redis.ca_cert`: a PEM file of the CA that signed the Redis server's
    /// certificate (a `rediss://` URL only), instead of the system roots.
    pub(crate) redis_ca_cert: Option<PathBuf>,
    /// `llm.*`: the LLM classifier (rules answer when it fails).
    pub(crate) llm: Option<Llm>,
    /// `enrichment.mode` (default `enriched`): the starting enrichment mode.
    pub(crate) enrichment_mode: EnrichmentMode,
    /// `admin.api_key`: admin endpoints are refused without it.
    pub(crate) admin_api_key: Option<Secret>,
    /// `simulation.enabled` (default `false`): targets replaced by a recorder.
    pub(crate) simulation_enabled: bool,
    /// `ingest.*`: credentials Alertmanager must send.
    pub(crate) ingest_auth: IngestAuth,
    /// `targets.file`: the publishing targets (none: metrics-only).
    pub(crate) targets_file: Option<PathBuf>,
    /// Request limits.
    pub(crate) limits: Limits,
    /// `retention.*`: how long history is kept.
    pub(crate) retention: Retention,
}

/// How long history is kept, and how often the server prunes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Retention {
    /// `retention.days` (default 90; 0 keeps everything): timeline events,
    /// resolved alerts unchanged for this long, finished deliveries, the
    /// delivery log and dead letters older than this are deleted.
    pub(crate) days: u64,
    /// `retention.interval_seconds` (default 600): the time between prunes;
    /// the first runs one interval (at most a minute) after start.
    pub(crate) every: std::time::Duration,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            days: 90,
            every: std::time::Duration::from_secs(600),
        }
    }
}

/// The history database.
#[derive(Debug, Clone)]
pub(crate) struct Database {
    /// `database.url` (default `sqlite://alertkit.db`): may hold a password.
    pub(crate) url: Secret,
    /// Which backend the URL names.
    pub(crate) kind: DatabaseKind,
    /// `database.pool_size`: connections (PostgreSQL) or readers (SQLite).
    pub(crate) pool_size: u32,
    /// `database.schema` (PostgreSQL only): the schema for alertkit's tables.
    pub(crate) schema: Option<String>,
    /// `database.journal` (SQLite only, default `true`): acknowledge after an
    /// append to an intake journal beside the database and record history
    /// in larger batches right after; `false` acknowledges after the history commit.
    pub(crate) journal: bool,
    /// `database.migrate` (default `true`): apply pending migrations at
    /// start; `false` only checks that they were applied (by `--migrate`
    /// or another replica) and refuses to start otherwise.
    pub(crate) migrate: bool,
}

/// Database backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum DatabaseKind {
    /// One SQLite file (the Lite profile).
    Sqlite,
    /// PostgreSQL (the Standard profile).
    Postgres,
}

impl DatabaseKind {
    /// `sqlite` or `postgres`.
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

impl Database {
    /// The URL without credentials or query, safe to log.
    pub(crate) fn redacted(&self) -> String {
        redact_url(self.url.expose())
    }
}

/// `scheme://***@host/path` without the query string.
pub(crate) fn redact_url(url: &str) -> String {
    let url = url.split('?').next().unwrap_or_default();
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => format!("{scheme}://{rest}"),
    }
}

/// The language model endpoint.
#[derive(Debug, Clone)]
pub(crate) struct Llm {
    /// `llm.base_url`: an http(s) URL.
    pub(crate) base_url: String,
    /// `llm.api_key` or `llm.api_key_file`.
    pub(crate) api_key: Option<Secret>,
    /// `llm.model`.
    pub(crate) model: Option<String>,
}

pub(crate) use alertkit_llm::EnrichmentMode;

/// Credentials the ingest endpoints require (what Alertmanager's
/// `http_config` sends).
#[derive(Debug, Clone, Default)]
pub(crate) enum IngestAuth {
    /// Open (the default).
    #[default]
    None,
    /// `Authorization: Bearer <token>`.
    Bearer(Secret),
    /// `Authorization: Basic …`.
    Basic {
        /// The user name.
        user: String,
        /// The password.
        password: Secret,
    },
}

impl IngestAuth {
    /// `none`, `bearer` or `basic`.
    pub(crate) const fn scheme(&self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Bearer(_) => "bearer",
            Self::Basic { .. } => "basic",
        }
    }
}

/// Request limits.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// `server.max_body_bytes` (default 4 MiB): larger bodies get 413.
    pub(crate) max_body_bytes: usize,
    /// `ingest.max_alerts_per_request` (default 10,000): more get 400.
    pub(crate) max_alerts_per_request: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 4 * 1024 * 1024,
            max_alerts_per_request: 10_000,
        }
    }
}

/// Configuration that cannot be used, naming the key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum ConfigError {
    /// A value is malformed or inconsistent.
    #[error("invalid configuration {key}: {reason}")]
    Invalid {
        /// The environment variable or file key.
        key: String,
        /// What is wrong (never the value of a secret).
        reason: String,
    },
    /// The file has a key the server does not know.
    #[error("unknown configuration key {key} in {file}")]
    UnknownKey {
        /// The dotted key path.
        key: String,
        /// The file.
        file: String,
    },
    /// The file cannot be read or parsed.
    #[error("invalid configuration file {file}: {reason}")]
    File {
        /// The file.
        file: String,
        /// What is wrong.
        reason: String,
    },
    /// The command line is malformed.
    #[error("invalid command line: {0}")]
    Args(String),
}

impl Config {
    /// Reads the file (if any), then the environment through `env`.
    pub(crate) fn load(
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        Self::from_raw(&Raw::load(file, &env)?)
    }

    fn from_raw(raw: &Raw) -> Result<Self, ConfigError> {
        let host: IpAddr = raw.parse_or("server.host", IpAddr::from([0, 0, 0, 0]), |s| {
            s.parse().map_err(|_| format!("{s:?} is not an IP address"))
        })?;
        let port: u16 = raw.parse_or("server.port", 8080, |s| {
            s.parse()
                .map_err(|_| format!("{s:?} is not a port number (0-65535)"))
        })?;
        let log_level = raw.parse_or("log.level", "info".to_owned(), |s| {
            const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];
            // A bare word would be read as a target name: only levels stand alone.
            if !s.contains(['=', ',']) && !LEVELS.iter().any(|l| l.eq_ignore_ascii_case(s)) {
                return Err(format!(
                    "{s:?} is not a level ({}) or a filter like \"info,alertkit=debug\"",
                    LEVELS.join(", ")
                ));
            }
            tracing_subscriber::EnvFilter::try_new(s)
                .map(|_| s.to_owned())
                .map_err(|e| format!("{s:?} is not a level or filter directive: {e}"))
        })?;
        let defaults = Limits::default();
        let limits = Limits {
            max_body_bytes: raw.parse_or(
                "server.max_body_bytes",
                defaults.max_body_bytes,
                |s| positive(s, "a number of bytes"),
            )?,
            max_alerts_per_request: raw.parse_or(
                "ingest.max_alerts_per_request",
                defaults.max_alerts_per_request,
                |s| positive(s, "a number of alerts"),
            )?,
        };
        let admin_api_key = secret(raw, "admin.api_key", "admin.api_key_file")?;
        if admin_api_key
            .as_ref()
            .is_some_and(|key| key.expose().len() < 16)
        {
            let key = if raw.get("admin.api_key").is_some() {
                "admin.api_key"
            } else {
                "admin.api_key_file"
            };
            return Err(ConfigError::Invalid {
                key: name_of(raw, key),
                reason: "the key must be at least 16 characters".to_owned(),
            });
        }
        let simulation_enabled = raw.parse_or("simulation.enabled", false, parse_bool)?;
        if simulation_enabled && admin_api_key.is_none() {
            return Err(ConfigError::Invalid {
                key: name_of(raw, "simulation.enabled"),
                reason: "simulation endpoints need ADMIN_API_KEY to be set".to_owned(),
            });
        }
        let redis_url: Option<Secret> = raw.parse_or("redis.url", None, |s| {
            url(s, &["redis", "rediss", "redis+unix", "unix"]).map(|()| Some(Secret::new(s)))
        })?;
        let redis_ca_cert = raw.parse_or("redis.ca_cert", None, readable_file)?;
        if redis_ca_cert.is_some()
            && !redis_url
                .as_ref()
                .is_some_and(|u| u.expose().starts_with("rediss://"))
        {
            return Err(ConfigError::Invalid {
                key: name_of(raw, "redis.ca_cert"),
                reason: "a CA certificate needs a rediss:// REDIS_URL".to_owned(),
            });
        }
        Ok(Self {
            listen: SocketAddr::new(host, port),
            log_level,
            database: database(raw)?,
            redis_url,
            redis_ca_cert,
            llm: llm(raw)?,
            enrichment_mode: raw.parse_or("enrichment.mode", EnrichmentMode::Enriched, |s| {
                s.parse::<EnrichmentMode>().map_err(|e| e.to_string())
            })?,
            admin_api_key,
            simulation_enabled,
            ingest_auth: ingest_auth(raw)?,
            targets_file: raw.parse_or("targets.file", None, readable_file)?,
            limits,
            retention: retention(raw)?,
        })
    }
}

/// `retention.*`.
fn retention(raw: &Raw) -> Result<Retention, ConfigError> {
    let defaults = Retention::default();
    // Beyond about 290 years a cutoff is before any storable time anyway.
    const MAX_DAYS: u64 = 100_000;
    const MAX_INTERVAL: u64 = 7 * 86_400;
    Ok(Retention {
        days: raw.parse_or("retention.days", defaults.days, |s| {
            match s.parse::<u64>() {
                Ok(n) if n <= MAX_DAYS => Ok(n),
                _ => Err(format!(
                    "{s:?} is not a number of days (0 keeps everything, at most {MAX_DAYS})"
                )),
            }
        })?,
        every: raw.parse_or("retention.interval_seconds", defaults.every, |s| match s
            .parse::<u64>()
        {
            Ok(n) if (1..=MAX_INTERVAL).contains(&n) => Ok(std::time::Duration::from_secs(n)),
            _ => Err(format!(
                "{s:?} is not a number of seconds from 1 to {MAX_INTERVAL} (a week)"
            )),
        })?,
    })
}

/// A path that must name a readable file.
fn readable_file(s: &str) -> Result<Option<PathBuf>, String> {
    let path = PathBuf::from(s);
    if path.is_file() {
        Ok(Some(path))
    } else {
        Err(format!("{s:?} is not a readable file"))
    }
}

/// The name to blame for `path`: where its value came from, or its variable.
fn name_of(raw: &Raw, path: &str) -> String {
    raw.get(path)
        .map_or_else(|| Raw::env_name(path).to_owned(), |v| v.name.clone())
}

fn positive(s: &str, what: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("{s:?} is not {what} above zero")),
    }
}

fn parse_bool(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(format!("{s:?} is not true or false")),
    }
}

/// Checks that `s` is a URL with one of `schemes` and a host.
fn url(s: &str, schemes: &[&str]) -> Result<(), String> {
    let uri: Uri = s.parse().map_err(|_| "is not a URL".to_owned())?;
    let scheme = uri.scheme_str().unwrap_or_default();
    if !schemes.contains(&scheme) {
        return Err(format!(
            "the scheme must be one of {} (the URL is not shown)",
            schemes.join(", ")
        ));
    }
    if uri.host().is_none_or(str::is_empty) && !scheme.contains("unix") {
        return Err("the URL has no host".to_owned());
    }
    Ok(())
}

/// A secret given inline at `path` or read from the file at `file_path`.
fn secret(raw: &Raw, path: &str, file_path: &str) -> Result<Option<Secret>, ConfigError> {
    match (raw.get(path), raw.get(file_path)) {
        (Some(v), Some(f)) => Err(ConfigError::Invalid {
            key: v.name.clone(),
            reason: format!("set either it or {}, not both", f.name),
        }),
        (Some(v), None) => Ok(Some(Secret::new(v.text.clone()))),
        (None, Some(f)) => {
            let text =
                std::fs::read_to_string(f.text.trim()).map_err(|e| ConfigError::Invalid {
                    key: f.name.clone(),
                    reason: format!("cannot read {:?}: {e}", f.text.trim()),
                })?;
            let text = text.trim_end_matches(['\r', '\n']);
            if text.is_empty() {
                return Err(ConfigError::Invalid {
                    key: f.name.clone(),
                    reason: format!("{:?} is empty", f.text.trim()),
                });
            }
            Ok(Some(Secret::new(text)))
        }
        (None, None) => Ok(None),
    }
}

fn database(raw: &Raw) -> Result<Database, ConfigError> {
    let url = raw
        .get("database.url")
        .map_or("sqlite://alertkit.db", |v| v.text.trim())
        .to_owned();
    let kind = if url.starts_with("sqlite:") {
        DatabaseKind::Sqlite
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        DatabaseKind::Postgres
    } else {
        return Err(ConfigError::Invalid {
            key: name_of(raw, "database.url"),
            reason: "must start with sqlite:, postgres:// or postgresql:// (the URL is not shown)"
                .to_owned(),
        });
    };
    let default_pool = match kind {
        DatabaseKind::Sqlite => 4,
        DatabaseKind::Postgres => 10,
    };
    let pool_size = raw.parse_or("database.pool_size", default_pool, |s| match s.parse() {
        Ok(n @ 1..=1000) => Ok(n),
        _ => Err(format!("{s:?} is not a pool size from 1 to 1000")),
    })?;
    let schema = raw.parse_or("database.schema", None, |s| {
        let ok = s.len() <= 63
            && s.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if ok {
            Ok(Some(s.to_owned()))
        } else {
            Err(format!(
                "{s:?} must be lowercase letters, digits and '_' (at most 63)"
            ))
        }
    })?;
    let journal = raw.parse_or("database.journal", kind == DatabaseKind::Sqlite, parse_bool)?;
    if journal && kind == DatabaseKind::Postgres {
        return Err(ConfigError::Invalid {
            key: name_of(raw, "database.journal"),
            reason: "only SQLite keeps an intake journal; DATABASE_URL names PostgreSQL".to_owned(),
        });
    }
    let migrate = raw.parse_or("database.migrate", true, parse_bool)?;
    if schema.is_some() && kind == DatabaseKind::Sqlite {
        return Err(ConfigError::Invalid {
            key: name_of(raw, "database.schema"),
            reason: "only PostgreSQL has schemas; DATABASE_URL names SQLite".to_owned(),
        });
    }
    Ok(Database {
        url: Secret::new(url),
        kind,
        pool_size,
        schema,
        journal,
        migrate,
    })
}

fn llm(raw: &Raw) -> Result<Option<Llm>, ConfigError> {
    let api_key = secret(raw, "llm.api_key", "llm.api_key_file")?;
    let model = raw.get("llm.model").map(|v| v.text.trim().to_owned());
    let Some(base) = raw.get("llm.base_url") else {
        if api_key.is_some() || model.is_some() {
            return Err(ConfigError::Invalid {
                key: "LLM_BASE_URL".to_owned(),
                reason: "is required when LLM_API_KEY or LLM_MODEL is set".to_owned(),
            });
        }
        return Ok(None);
    };
    raw.parse_or("llm.base_url", (), |s| url(s, &["http", "https"]))?;
    Ok(Some(Llm {
        base_url: base.text.trim().trim_end_matches('/').to_owned(),
        api_key,
        model,
    }))
}

fn ingest_auth(raw: &Raw) -> Result<IngestAuth, ConfigError> {
    let bearer = secret(raw, "ingest.bearer_token", "ingest.bearer_token_file")?;
    let user = raw.get("ingest.basic_user");
    let password = secret(raw, "ingest.basic_password", "ingest.basic_password_file")?;
    match (bearer, user, password) {
        (None, None, None) => Ok(IngestAuth::None),
        (Some(token), None, None) => Ok(IngestAuth::Bearer(token)),
        (None, Some(user), Some(password)) => Ok(IngestAuth::Basic {
            user: user.text.clone(),
            password,
        }),
        (Some(_), _, _) => Err(ConfigError::Invalid {
            key: name_of(raw, "ingest.bearer_token"),
            reason: "set either a bearer token or basic credentials, not both".to_owned(),
        }),
        (None, Some(_), None) => Err(ConfigError::Invalid {
            key: "INGEST_BASIC_PASSWORD".to_owned(),
            reason: "is required when INGEST_BASIC_USER is set".to_owned(),
        }),
        (None, None, Some(_)) => Err(ConfigError::Invalid {
            key: "INGEST_BASIC_USER".to_owned(),
            reason: "is required when INGEST_BASIC_PASSWORD is set".to_owned(),
        }),
    }
}
