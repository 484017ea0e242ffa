//! The Redis cache over TLS (`rediss://`): a second `redis-server` on a free
//! loopback port with only a TLS listener, its certificate signed by a CA
//! made for the test with `openssl`. The client must verify the chain and
//! the host name against that CA, and refuse the server without it.
//!
//! Skipped with a printed reason when `redis-server` or `openssl` is not
//! installed, or `redis-server` was built without TLS.

#![allow(clippy::unwrap_used)] // tests fail loudly

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use alertkit_core::Cache;
use alertkit_store::{RedisCache, RedisOptions};

/// A TLS-only `redis-server`, killed on drop.
struct TlsRedis {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn run(dir: &Path, args: &[&str]) -> bool {
    Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A CA (`ca.pem`) and a server certificate for `localhost` and 127.0.0.1
/// signed by it (`server.pem`, `server.key`) in `dir`.
fn certificates(dir: &Path) -> bool {
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
         extendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend(["-days", "2", "-subj", "/CN=alertkit-test-ca"]);
    ca.extend(["-keyout", "ca.key", "-out", "ca.pem"]);
    let mut csr = vec!["req"];
    csr.extend(ec);
    csr.extend(["-subj", "/CN=localhost", "-keyout", "server.key"]);
    csr.extend(["-out", "server.csr"]);
    run(dir, &ca)
        && run(dir, &csr)
        && run(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                "ext.cnf",
                "-out",
                "server.pem",
            ],
        )
}

/// Starts the server, or `None` (skip, with the reason printed).
fn start() -> Option<TlsRedis> {
    let dir = std::env::temp_dir().join(format!("alertkit-redis-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    if !certificates(&dir) {
        eprintln!("skipped: openssl is missing or failed");
        return None;
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("redis-server")
        .args([
            "--port",
            "0",
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .args(["--tls-port", &port.to_string(), "--tls-auth-clients", "no"])
        .args([
            "--tls-cert-file",
            "server.pem",
            "--tls-key-file",
            "server.key",
        ])
        .args(["--tls-ca-cert-file", "ca.pem"])
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let Ok(child) = child else {
        eprintln!("skipped: redis-server is not installed");
        return None;
    };
    let mut server = TlsRedis { child, port, dir };
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline || server.child.try_wait().ok().flatten().is_some() {
            eprintln!("skipped: redis-server did not listen for TLS (built without TLS?)");
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(server)
}

#[tokio::test]
async fn rediss_verifies_the_server_against_the_configured_ca() {
    let Some(server) = start() else { return };
    let url = format!("rediss://localhost:{}", server.port);
    let ca = server.dir.join("ca.pem");

    let cache = RedisCache::connect(RedisOptions::new(&url).ca_cert(&ca).prefix("tls-test:"))
        .await
        .unwrap();
    cache
        .set("k", "over tls".into(), Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(
        cache.get("k").await.unwrap().as_deref(),
        Some(&b"over tls"[..])
    );

    // The system trust store does not know the test CA: refused.
    let refused = RedisCache::connect(RedisOptions::new(&url)).await;
    assert!(refused.is_err(), "an unknown CA must be refused");

    // A plain connection to the TLS port gets no answer it can use.
    let plain = RedisCache::connect(RedisOptions::new(format!(
        "redis://127.0.0.1:{}",
        server.port
    )))
    .await;
    assert!(plain.is_err() || plain.unwrap().get("k").await.is_err());

    // A CA file that does not exist is a clear error naming it.
    let missing = RedisCache::connect(RedisOptions::new(&url).ca_cert("/nonexistent/ca.pem"))
        .await
        .unwrap_err();
    let shown = format!("{missing} {:?}", std::error::Error::source(&missing));
    assert!(shown.contains("/nonexistent/ca.pem"), "{shown}");
}
