//! Graceful shutdown of the built binary under load: SIGTERM while webhooks
//! keep arriving and a slow target is being delivered to. Every webhook
//! answered `200` is in the history afterwards, no outbox row is left
//! leased (the delivery workers finished their attempts and handed the rest
//! back), and nothing was lost between the two: each stored alert was
//! either delivered or still waits in the outbox.

#![allow(clippy::unwrap_used)] // tests fail loudly

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alertkit_core::traits::AttemptOutcome;
use alertkit_core::{HistoryQuery, HistoryStore, Outbox};
use alertkit_store::SqliteHistoryStore;

const BIN: &str = env!("CARGO_BIN_EXE_alertkit-server");
/// Alerts per webhook.
const BATCH: usize = 10;
/// Webhooks per client at most (the clients stop at the first refusal).
const MAX_REQUESTS: usize = 2_000;

/// Kills the child if a test fails midway.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A loopback HTTP target that answers `200` half a second after each
/// request, so deliveries are in flight (and rows leased) at SIGTERM.
fn slow_target(hits: Arc<AtomicUsize>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            let hits = Arc::clone(&hits);
            std::thread::spawn(move || serve_slowly(conn, &hits));
        }
    });
    addr
}

fn serve_slowly(conn: TcpStream, hits: &AtomicUsize) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
    let mut reader = BufReader::new(conn);
    loop {
        // One request: headers, then Content-Length bytes.
        let mut length = 0usize;
        let mut line = String::new();
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        hits.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(500));
        let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
        if reader.get_mut().write_all(answer).is_err() {
            return;
        }
    }
}

/// POSTs a webhook; the status code, or an error once the server is gone.
fn post(addr: &str, body: &str) -> std::io::Result<u16> {
    let mut conn = TcpStream::connect(addr)?;
    conn.set_read_timeout(Some(Duration::from_secs(60)))?;
    write!(
        conn,
        "POST /webhook HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut answer = String::new();
    conn.read_to_string(&mut answer)?;
    answer
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no status line: {answer:?}")))
}

fn webhook(instances: &[String]) -> String {
    let alerts: Vec<serde_json::Value> = instances
        .iter()
        .map(|i| {
            serde_json::json!({"status": "firing", "startsAt": "2026-08-22T10:00:00Z",
                "labels": {"alertname": "ShutdownLoad", "instance": i}})
        })
        .collect();
    serde_json::json!({"version": "4", "status": "firing", "alerts": alerts}).to_string()
}

/// Posts webhooks until the server refuses; the instances acknowledged.
fn client(addr: String, id: usize, acked: Arc<Mutex<Vec<String>>>, sent: Arc<AtomicUsize>) {
    for n in 0..MAX_REQUESTS {
        let instances: Vec<String> = (0..BATCH).map(|k| format!("c{id}-{n}-{k}")).collect();
        match post(&addr, &webhook(&instances)) {
            Ok(200) => {
                acked.lock().unwrap().extend(instances);
                sent.fetch_add(1, Ordering::SeqCst);
            }
            // 503 while the store drains, or refused once the listener closed.
            Ok(_) | Err(_) => return,
        }
    }
}

#[test]
fn sigterm_during_ingest_keeps_every_acknowledged_alert_and_hands_back_leases() {
    let dir: PathBuf =
        std::env::temp_dir().join(format!("alertkit-bin-{}-shutdown", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let target = slow_target(Arc::clone(&hits));
    let targets = dir.join("targets.toml");
    std::fs::write(
        &targets,
        format!(
            "[[targets]]\nname = \"slow\"\ntype = \"webhook\"\nurl = \"http://{target}/hook\"\n"
        ),
    )
    .unwrap();
    let db = format!("sqlite://{}/h.db", dir.display());
    let mut child = Running(
        Command::new(BIN)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("SERVER_HOST", "127.0.0.1")
            .env("SERVER_PORT", "0")
            .env("DATABASE_URL", &db)
            .env("TARGETS_FILE", &targets)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut stdout = BufReader::new(child.0.stdout.take().unwrap());
    let mut log = String::new();
    let addr = loop {
        let mut line = String::new();
        assert!(stdout.read_line(&mut line).unwrap() > 0, "exited:\n{log}");
        log.push_str(&line);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        if v["fields"]["message"] == "alertkit server started" {
            break v["fields"]["listen"].as_str().unwrap().to_owned();
        }
    };

    let acked = Arc::new(Mutex::new(Vec::new()));
    let sent = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..2)
        .map(|id| {
            let (addr, acked, sent) = (addr.clone(), Arc::clone(&acked), Arc::clone(&sent));
            std::thread::spawn(move || client(addr, id, acked, sent))
        })
        .collect();
    // SIGTERM once ingest is under way and a delivery is in flight.
    let mut stopped_early = false;
    while sent.load(Ordering::SeqCst) < 20 || hits.load(Ordering::SeqCst) == 0 {
        if clients.iter().all(std::thread::JoinHandle::is_finished) {
            stopped_early = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        !stopped_early,
        "the clients stopped before SIGTERM ({} webhooks acknowledged, {} deliveries)",
        sent.load(Ordering::SeqCst),
        hits.load(Ordering::SeqCst)
    );
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
    for c in clients {
        c.join().unwrap();
    }
    let acked: Vec<String> = std::mem::take(&mut *acked.lock().unwrap());

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = SqliteHistoryStore::open(&db).await.unwrap();
        let mut stored = Vec::new();
        let mut query = HistoryQuery::default();
        query.limit = 1000;
        loop {
            let page = store.list(&query).await.unwrap();
            stored.extend(page.records);
            match page.next {
                Some(next) => query.after = Some(next),
                None => break,
            }
        }
        let instances: HashSet<&str> = stored
            .iter()
            .filter_map(|r| r.labels.get("instance"))
            .collect();
        let missing: Vec<&String> = acked
            .iter()
            .filter(|i| !instances.contains(i.as_str()))
            .collect();
        assert!(
            missing.is_empty(),
            "{} of {} acknowledged alerts are not stored: {:?}",
            missing.len(),
            acked.len(),
            &missing[..missing.len().min(5)]
        );

        let depth = store.depth().await.unwrap();
        let slow = depth.iter().find(|d| d.target == "slow");
        let (pending, in_flight) = slow.map_or((0, 0), |d| (d.pending, d.in_flight));
        assert_eq!(in_flight, 0, "leases left behind: {depth:?}");
        let mut delivered = 0u64;
        for r in &stored {
            let log = store.deliveries(r.fingerprint).await.unwrap();
            if log
                .iter()
                .any(|a| a.target == "slow" && a.outcome == AttemptOutcome::Delivered)
            {
                delivered += 1;
            }
        }
        eprintln!(
            "{} webhooks acknowledged, {} alerts stored, {delivered} delivered, {pending} handed back or waiting",
            sent.load(Ordering::SeqCst),
            stored.len()
        );
        assert_eq!(
            delivered + pending,
            stored.len() as u64,
            "every stored alert is delivered or waits in the outbox ({delivered} delivered, {pending} pending, {} stored)",
            stored.len()
        );
        store.close().await;
    });
    let _ = std::fs::remove_dir_all(&dir);
}
