//! Where configuration values come from: the key table, the TOML file and
//! the environment, merged with the environment winning.

use std::collections::HashMap;
use std::path::Path;

use super::ConfigError;

/// One configuration key: its dotted path in the TOML file and the
/// environment variable that overrides it (the path upper-cased, dots as `_`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Key {
    /// `server.port`.
    pub(crate) path: &'static str,
    /// `SERVER_PORT`.
    pub(crate) env: &'static str,
}

macro_rules! keys {
    ($($path:literal => $env:literal),* $(,)?) => {
        /// Every key the server reads; anything else in the file is an error.
        pub(crate) const KEYS: &[Key] = &[$(Key { path: $path, env: $env }),*];
    };
}

keys! {
    "server.host" => "SERVER_HOST",
    "server.port" => "SERVER_PORT",
    "server.max_body_bytes" => "SERVER_MAX_BODY_BYTES",
    "log.level" => "LOG_LEVEL",
    "database.url" => "DATABASE_URL",
    "database.pool_size" => "DATABASE_POOL_SIZE",
    "database.schema" => "DATABASE_SCHEMA",
    "database.journal" => "DATABASE_JOURNAL",
    "database.migrate" => "DATABASE_MIGRATE",
    "retention.days" => "RETENTION_DAYS",
    "retention.interval_seconds" => "RETENTION_INTERVAL_SECONDS",
    "redis.url" => "REDIS_URL",
    "redis.ca_cert" => "REDIS_CA_CERT",
    "llm.base_url" => "LLM_BASE_URL",
    "llm.api_key" => "LLM_API_KEY",
    "llm.api_key_file" => "LLM_API_KEY_FILE",
    "llm.model" => "LLM_MODEL",
    "enrichment.mode" => "ENRICHMENT_MODE",
    "admin.api_key" => "ADMIN_API_KEY",
    "admin.api_key_file" => "ADMIN_API_KEY_FILE",
    "simulation.enabled" => "SIMULATION_ENABLED",
    "ingest.bearer_token" => "INGEST_BEARER_TOKEN",
    "ingest.bearer_token_file" => "INGEST_BEARER_TOKEN_FILE",
    "ingest.basic_user" => "INGEST_BASIC_USER",
    "ingest.basic_password" => "INGEST_BASIC_PASSWORD",
    "ingest.basic_password_file" => "INGEST_BASIC_PASSWORD_FILE",
    "ingest.max_alerts_per_request" => "INGEST_MAX_ALERTS_PER_REQUEST",
    "targets.file" => "TARGETS_FILE",
}

/// A value and the name to blame when it is wrong.
#[derive(Debug, Clone)]
pub(crate) struct Value {
    /// The text (TOML numbers and booleans are converted to text).
    pub(crate) text: String,
    /// `SERVER_PORT`, or `server.port (in /etc/alertkit.toml)`.
    pub(crate) name: String,
}

/// The merged values, by key path.
#[derive(Debug, Default)]
pub(crate) struct Raw {
    values: HashMap<&'static str, Value>,
}

impl Raw {
    /// Merges the file (if any) and then the environment through `env`.
    ///
    /// Empty environment variables count as unset.
    pub(crate) fn load(
        file: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut raw = Self::default();
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
                file: path.display().to_string(),
                reason: e.to_string(),
            })?;
            raw.merge_toml(&text, &path.display().to_string())?;
        }
        for key in KEYS {
            if let Some(text) = env(key.env).filter(|v| !v.is_empty()) {
                raw.values.insert(
                    key.path,
                    Value {
                        text,
                        name: key.env.to_owned(),
                    },
                );
            }
        }
        Ok(raw)
    }

    /// Adds the keys of a TOML document; `file` names it in errors.
    pub(crate) fn merge_toml(&mut self, text: &str, file: &str) -> Result<(), ConfigError> {
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            // Only the message and position: the offending line may hold a secret.
            let at = e
                .span()
                .map(|s| {
                    let before = &text[..s.start.min(text.len())];
                    let line = before.matches('\n').count() + 1;
                    let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                    format!(" at line {line}, column {col}")
                })
                .unwrap_or_default();
            ConfigError::File {
                file: file.to_owned(),
                reason: format!("not valid TOML{at}: {}", e.message().trim_end()),
            }
        })?;
        self.merge_table(&table, "", file)
    }

    fn merge_table(
        &mut self,
        table: &toml::Table,
        prefix: &str,
        file: &str,
    ) -> Result<(), ConfigError> {
        for (name, value) in table {
            let path = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}.{name}")
            };
            let unknown = || ConfigError::UnknownKey {
                key: path.clone(),
                file: file.to_owned(),
            };
            if let toml::Value::Table(inner) = value {
                let section = format!("{path}.");
                if !KEYS.iter().any(|k| k.path.starts_with(&section)) {
                    return Err(unknown());
                }
                self.merge_table(inner, &path, file)?;
                continue;
            }
            let key = KEYS.iter().find(|k| k.path == path).ok_or_else(unknown)?;
            let name = format!("{path} (in {file})");
            let text = match value {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Float(f) => f.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                _ => {
                    return Err(ConfigError::Invalid {
                        key: name,
                        reason: "must be a string, a number or a boolean".to_owned(),
                    });
                }
            };
            if !text.is_empty() {
                self.values.insert(key.path, Value { text, name });
            }
        }
        Ok(())
    }

    /// The value of `path`, if set.
    pub(crate) fn get(&self, path: &str) -> Option<&Value> {
        self.values.get(path)
    }

    /// The name to use in an error about `path` when it is unset: its
    /// environment variable.
    pub(crate) fn env_name(path: &str) -> &'static str {
        KEYS.iter().find(|k| k.path == path).map_or("?", |k| k.env)
    }

    /// Parses `path` with `parse`, or returns `default` when unset.
    pub(crate) fn parse_or<T>(
        &self,
        path: &str,
        default: T,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        match self.get(path) {
            None => Ok(default),
            Some(v) => parse(v.text.trim()).map_err(|reason| ConfigError::Invalid {
                key: v.name.clone(),
                reason,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::KEYS;

    #[test]
    fn env_names_follow_the_key_paths() {
        for k in KEYS {
            assert_eq!(k.env, k.path.to_uppercase().replace('.', "_"), "{k:?}");
        }
    }
}
