//! A real Alertmanager for tests: start one, point its webhook at your
//! server, post alerts to it.
//!
//! Uses Debian's `prometheus-alertmanager` (or `alertmanager`, or the binary
//! in `ALERTMANAGER_BIN`) and `curl`. [`Alertmanager::start`] returns `None`
//! when no binary is installed, after printing why, unless
//! `ALERTKIT_REQUIRE_ALERTMANAGER` is set, in which case it panics: CI makes
//! the real thing mandatory, a developer's `cargo test` may skip it.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running Alertmanager, killed on drop.
#[derive(Debug)]
pub struct Alertmanager {
    child: Child,
    dir: PathBuf,
    base: String,
}

fn binary() -> Option<PathBuf> {
    if let Ok(path) = std::env::var("ALERTMANAGER_BIN") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| ["prometheus-alertmanager", "alertmanager"].map(|b| dir.join(b)))
        .find(|p| p.is_file())
}

fn free_port() -> u16 {
    match TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()) {
        Ok(addr) => addr.port(),
        Err(e) => panic!("no free port: {e}"),
    }
}

/// Runs `curl` with `args`; the response body on success.
pub fn curl(args: &[&str]) -> Option<Vec<u8>> {
    let out = Command::new("curl")
        .args(["-sS", "-f", "--max-time", "10"])
        .args(args)
        .output()
        .ok()?;
    out.status.success().then_some(out.stdout)
}

impl Alertmanager {
    /// Starts an Alertmanager whose only receiver is a webhook to
    /// `webhook_url`, grouping every alert into one group (`group_by: []`)
    /// with a 1 s `group_wait` and `group_interval`, and waits until it is
    /// ready.
    pub fn start(webhook_url: &str) -> Option<Self> {
        Self::start_with_bearer(webhook_url, None)
    }

    /// Like [`start`](Self::start), sending `Authorization: Bearer <token>`
    /// with every webhook when `bearer` is given (Alertmanager's
    /// `http_config.authorization`).
    pub fn start_with_bearer(webhook_url: &str, bearer: Option<&str>) -> Option<Self> {
        let Some(binary) = binary() else {
            assert!(
                std::env::var_os("ALERTKIT_REQUIRE_ALERTMANAGER").is_none(),
                "ALERTKIT_REQUIRE_ALERTMANAGER is set but no Alertmanager binary was found"
            );
            eprintln!(
                "skipped: no prometheus-alertmanager/alertmanager binary on PATH \
                 (apt-get install prometheus-alertmanager)"
            );
            return None;
        };
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("alertkit-am-{}-{port}", std::process::id()));
        let write = |path: &Path, text: String| {
            if let Err(e) = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(path, text))
            {
                panic!("cannot write {}: {e}", path.display());
            }
        };
        let config = dir.join("alertmanager.yml");
        let auth = bearer.map_or_else(String::new, |t| {
            format!("    http_config:\n      authorization:\n        type: Bearer\n        credentials: {t}\n")
        });
        write(
            &config,
            format!(
                "route:\n  receiver: alertkit\n  group_by: []\n  group_wait: 1s\n  group_interval: 1s\n  \
                 repeat_interval: 1h\nreceivers:\n- name: alertkit\n  webhook_configs:\n  - url: {webhook_url}\n    \
                 send_resolved: true\n{auth}"
            ),
        );
        let child = Command::new(&binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.path={}", dir.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let am = Self {
            child,
            dir,
            base: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while curl(&[&format!("{}/-/ready", am.base)]).is_none() {
            assert!(
                Instant::now() < deadline,
                "alertmanager did not become ready"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(am)
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Posts an API v2 alerts body (a JSON array); panics if Alertmanager refuses it.
    pub fn post_alerts(&self, body: &serde_json::Value) {
        let file = self.dir.join(format!("alerts-{}.json", free_port()));
        let bytes = match serde_json::to_vec(body) {
            Ok(b) => b,
            Err(e) => panic!("cannot encode alerts: {e}"),
        };
        if let Err(e) = std::fs::write(&file, bytes) {
            panic!("cannot write {}: {e}", file.display());
        }
        let url = format!("{}/api/v2/alerts", self.base);
        let data = format!("@{}", file.display());
        if curl(&[
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            &data,
            &url,
        ])
        .is_none()
        {
            panic!("alertmanager rejected the alerts posted to {url}");
        }
    }

    /// `GET /api/v2/alerts`, parsed.
    pub fn alerts(&self) -> Vec<serde_json::Value> {
        let url = format!("{}/api/v2/alerts", self.base);
        curl(&[&url])
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
