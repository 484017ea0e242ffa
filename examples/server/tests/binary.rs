//! The built `alertkit-server` binary: configuration errors at start name the
//! key without echoing secrets, and a configured server serves, authenticates
//! and stops cleanly on SIGTERM. (`.ci/run` also lints this binary's live
//! `/metrics` with promtool.)

#![allow(clippy::unwrap_used)] // tests fail loudly

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_alertkit-server");

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("alertkit-bin-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The binary with a clean environment plus `vars`.
fn server(args: &[&str], vars: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .args(args)
        .envs(vars.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Runs to completion; the exit success and everything printed.
fn run(args: &[&str], vars: &[(&str, &str)]) -> (bool, String) {
    let out = server(args, vars).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn bad_configuration_stops_the_start_naming_the_key() {
    let (ok, out) = run(&[], &[("SERVER_PORT", "80a")]);
    assert!(!ok);
    assert!(out.contains("invalid configuration SERVER_PORT"), "{out}");

    let dir = temp_dir("badcfg");
    let file = dir.join("alertkit.toml");
    std::fs::write(&file, "[server]\nport = 0\n[ingest]\nbearer_tokn = \"x\"\n").unwrap();
    let (ok, out) = run(&["--config", file.to_str().unwrap()], &[]);
    assert!(!ok);
    assert!(
        out.contains("unknown configuration key ingest.bearer_tokn"),
        "{out}"
    );

    let (ok, out) = run(&[], &[("CONFIG_FILE", "/nonexistent/alertkit.toml")]);
    assert!(!ok);
    assert!(out.contains("/nonexistent/alertkit.toml"), "{out}");

    // The database cannot be reached: DATABASE_URL is named, its password is not shown.
    let (ok, out) = run(
        &[],
        &[
            (
                "DATABASE_URL",
                "postgres://alertkit:pw-must-not-leak@127.0.0.1:1/db",
            ),
            ("DATABASE_POOL_SIZE", "1"),
        ],
    );
    assert!(!ok);
    assert!(out.contains("DATABASE_URL"), "{out}");
    assert!(!out.contains("pw-must-not-leak"), "{out}");

    let (ok, out) = run(&["--help"], &[]);
    assert!(ok && out.contains("--config"), "{out}");
}

/// With `DATABASE_MIGRATE=false` the server refuses an unmigrated database,
/// naming the first migration it lacks and how to apply it; `--migrate`
/// applies them and exits, and then the server starts without migrating.
#[test]
fn without_migrating_the_server_needs_a_migrated_database() {
    let dir = temp_dir("migrate");
    let url = format!("sqlite://{}/h.db", dir.display());
    // A port already taken: a start that gets past the database stops there.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let off = [
        ("DATABASE_URL", url.as_str()),
        ("DATABASE_MIGRATE", "false"),
        ("SERVER_HOST", "127.0.0.1"),
        ("SERVER_PORT", port.as_str()),
    ];
    let (ok, out) = run(&[], &off);
    assert!(!ok);
    assert!(
        out.contains("migration 20261122000001 (history) is not applied"),
        "{out}"
    );
    assert!(
        out.contains("`alertkit-server --migrate` applies them"),
        "{out}"
    );

    let (ok, out) = run(&["--migrate"], &off);
    assert!(ok, "{out}");
    assert!(out.contains("migrations applied to sqlite://"), "{out}");
    assert!(
        !dir.join("h.db.journal").exists(),
        "--migrate leaves the intake journal alone"
    );

    // Migrated: the start gets past the database to the taken port.
    let (ok, out) = run(&[], &off);
    assert!(!ok);
    assert!(
        out.contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{out}"
    );
    drop(taken);
}

/// Kills the child if a test fails midway.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn curl(args: &[&str]) -> String {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("curl is installed");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn serves_authenticates_and_stops_on_sigterm() {
    let dir = temp_dir("serve");
    let token = "ingest-token-not-logged";
    let file = dir.join("alertkit.toml");
    std::fs::write(
        &file,
        format!(
            "[server]\nhost = \"127.0.0.1\"\nport = 0\n[database]\nurl = \"sqlite://{}/h.db\"\n[ingest]\nbearer_token = \"{token}\"\n",
            dir.display()
        ),
    )
    .unwrap();
    let mut child = Running(
        server(
            &["--config", file.to_str().unwrap()],
            &[("LOG_LEVEL", "debug")],
        )
        .spawn()
        .unwrap(),
    );
    let mut stdout = BufReader::new(child.0.stdout.take().unwrap());
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut log = String::new();
    let addr = loop {
        assert!(Instant::now() < deadline, "no start line:\n{log}");
        let mut line = String::new();
        assert!(stdout.read_line(&mut line).unwrap() > 0, "exited:\n{log}");
        log.push_str(&line);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        if v["fields"]["message"] == "alertkit server started" {
            break v["fields"]["listen"].as_str().unwrap().to_owned();
        }
    };
    let url = format!("http://{addr}/webhook");
    let body = r#"{"version":"4","alerts":[{"labels":{"alertname":"Bin"},"startsAt":"2026-01-01T00:00:00Z"}]}"#;
    let json = [
        "-H",
        "Content-Type: application/json",
        "--data-binary",
        body,
    ];
    let refused = curl(&[&json[..], &[url.as_str()]].concat());
    assert!(refused.ends_with("\n401"), "{refused}");
    let auth = format!("Authorization: Bearer {token}");
    let accepted = curl(&[&json[..], &["-H", auth.as_str(), url.as_str()]].concat());
    assert!(accepted.ends_with("\n200"), "{accepted}");
    let ready = curl(&[&format!("http://{addr}/readyz")]);
    assert!(ready.ends_with("\n200"), "{ready}");

    let pid = child.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = child.0.wait().unwrap();
    stdout.read_to_string(&mut log).unwrap();
    assert!(status.success(), "{status}\n{log}");
    assert!(log.contains("\"stopped\""), "{log}");
    assert!(
        log.contains("request_id"),
        "requests are logged in a span:\n{log}"
    );
    assert!(!log.contains(token), "{log}");
    let mut stderr = String::new();
    child
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(!stderr.contains(token), "{stderr}");
}
