//! The command line: `--config <file>` (or `CONFIG_FILE`), `--migrate` and `--help`.

use std::path::PathBuf;

use super::ConfigError;

/// What the command line asked for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Command {
    /// Run with this config file (if any).
    Run(Option<PathBuf>),
    /// Apply the database's pending migrations, with this config file (if
    /// any), and exit.
    Migrate(Option<PathBuf>),
    /// Print usage.
    Help,
}

/// Usage text for `--help`.
pub(crate) const USAGE: &str = "usage: alertkit-server [--config <file.toml>] [--migrate]\n\n\
The file may also be named by CONFIG_FILE; environment variables override it\n\
(server.port -> SERVER_PORT). See examples/server/README.md for every key.\n\n\
--migrate  apply the database's pending migrations and exit (for replicas\n\
           that run with DATABASE_MIGRATE=false)";

/// Parses the arguments after the program name; `--config` wins over `config_file_env`.
pub(crate) fn parse_args(
    args: impl IntoIterator<Item = String>,
    config_file_env: Option<String>,
) -> Result<Command, ConfigError> {
    let mut file = None;
    let mut migrate = false;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--migrate" => migrate = true,
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
    let file = file.or_else(|| config_file_env.filter(|v| !v.is_empty()).map(PathBuf::from));
    Ok(if migrate {
        Command::Migrate(file)
    } else {
        Command::Run(file)
    })
}
