//! The command line: `--config <file>` (or `CONFIG_FILE`) and `--help`.

use std::path::PathBuf;

use super::ConfigError;

/// What the command line asked for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Command {
    /// Run with this config file (if any).
    Run(Option<PathBuf>),
    /// Print usage.
    Help,
}

/// Usage text for `--help`.
pub(crate) const USAGE: &str = "usage: alertkit-server [--config <file.toml>]\n\n\
The file may also be named by CONFIG_FILE; environment variables override it\n\
(server.port -> SERVER_PORT). See examples/server/README.md for every key.";

/// Parses the arguments after the program name; `--config` wins over `config_file_env`.
pub(crate) fn parse_args(
    args: impl IntoIterator<Item = String>,
    config_file_env: Option<String>,
) -> Result<Command, ConfigError> {
    let mut file = None;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "-c" | "--config" => {
                let path = args
                    .next()
                    .ok_or_else(|| ConfigError::Args(format!("{arg} needs a file path")))?;
                file = Some(PathBuf::from(path));
            }
            other => match other.strip_prefix("--config=") {
                Some(path) => file = Some(PathBuf::from(path)),
                None => return Err(ConfigError::Args(format!("unknown argument {other:?}"))),
            },
        }
    }
    Ok(Command::Run(file.or_else(|| {
        config_file_env.filter(|v| !v.is_empty()).map(PathBuf::from)
    })))
}
