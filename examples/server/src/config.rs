//! Configuration from the environment.

use std::net::{IpAddr, SocketAddr};

/// Server settings. Every key has a default, so zero configuration works.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// `SERVER_HOST` (default `0.0.0.0`) and `SERVER_PORT` (default `8080`).
    pub(crate) listen: SocketAddr,
    /// `LOG_LEVEL` (default `info`): a level or a tracing filter directive.
    pub(crate) log_level: String,
    /// `DATABASE_URL` (default `sqlite://alertkit.db`, in the working directory).
    pub(crate) database_url: String,
}

/// A configuration value that cannot be used, naming the key.
#[derive(Debug)]
pub(crate) struct ConfigError {
    key: &'static str,
    reason: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid configuration {}: {}", self.key, self.reason)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Reads the configuration through `get` (the environment in production).
    pub(crate) fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let host = get("SERVER_HOST").unwrap_or_else(|| "0.0.0.0".to_owned());
        let host: IpAddr = host.trim().parse().map_err(|_| ConfigError {
            key: "SERVER_HOST",
            reason: format!("{host:?} is not an IP address"),
        })?;
        let port = get("SERVER_PORT").unwrap_or_else(|| "8080".to_owned());
        let port: u16 = port.trim().parse().map_err(|_| ConfigError {
            key: "SERVER_PORT",
            reason: format!("{port:?} is not a port number (0-65535)"),
        })?;
        let database_url = get("DATABASE_URL").unwrap_or_else(|| "sqlite://alertkit.db".to_owned());
        if !database_url.starts_with("sqlite:") {
            return Err(ConfigError {
                key: "DATABASE_URL",
                reason: "only sqlite:// URLs are supported so far (PostgreSQL is coming)"
                    .to_owned(),
            });
        }
        Ok(Self {
            listen: SocketAddr::new(host, port),
            log_level: get("LOG_LEVEL").unwrap_or_else(|| "info".to_owned()),
            database_url,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_errors_name_the_key() {
        let cfg = Config::from_lookup(|_| None).unwrap();
        assert_eq!(cfg.listen.to_string(), "0.0.0.0:8080");
        let err =
            Config::from_lookup(|k| (k == "SERVER_PORT").then(|| "80a".to_owned())).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("invalid configuration SERVER_PORT"),
            "{err}"
        );
    }
}
