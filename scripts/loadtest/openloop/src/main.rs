//! Open-loop load generator: sends alert batches at a fixed rate and records
//! the latency of each request from the time it was *scheduled* to be sent
//! (not from when it was actually sent), so a server that stalls is charged
//! for every request it delayed (no coordinated omission).
//!
//! Request `i` is scheduled at `start + i / rate`. `--connections` workers
//! share that schedule: each takes the next index, waits for its time, sends
//! on its own keep-alive HTTP/1.1 connection and waits for the answer. When all
//! workers are busy, later requests start late and their lateness counts in
//! their latency.
//!
//! ```text
//! alertkit-loadtest --url http://127.0.0.1:8080/webhook --format webhook \
//!     --rate 50000 --duration 20 [--alerts 10] [--connections 64] [--warmup 3]
//! ```
//!
//! Prints one `OPENLOOP key=value …` line (latencies in µs) on stdout.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Command line settings.
struct Args {
    url: String,
    host: String,
    port: u16,
    path: String,
    format: Format,
    rate: f64,
    duration: f64,
    warmup: f64,
    alerts: usize,
    connections: usize,
    run: String,
}

#[derive(Clone, Copy, PartialEq)]
enum Format {
    Webhook,
    ApiV2,
}

fn usage(msg: &str) -> ! {
    eprintln!("error: {msg}");
    eprintln!(
        "usage: alertkit-loadtest --url http://HOST:PORT/PATH [--format webhook|apiv2] --rate ALERTS_PER_S \
         [--duration S] [--warmup S] [--alerts N] [--connections N] [--run TAG]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut url = None;
    let mut format = Format::Webhook;
    let mut rate = None;
    let mut duration = 20.0;
    let mut warmup = 3.0;
    let mut alerts = 10;
    let mut connections = 64;
    let mut run = format!(
        "ol{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    );
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .unwrap_or_else(|| usage(&format!("{flag} needs a value")))
        };
        let num = |v: String| -> f64 {
            v.parse()
                .unwrap_or_else(|_| usage(&format!("{flag}: not a number: {v}")))
        };
        match flag.as_str() {
            "--url" => url = Some(value()),
            "--format" => {
                format = match value().as_str() {
                    "webhook" => Format::Webhook,
                    "apiv2" => Format::ApiV2,
                    other => usage(&format!("--format: unknown format {other}")),
                }
            }
            "--rate" => rate = Some(num(value())),
            "--duration" => duration = num(value()),
            "--warmup" => warmup = num(value()),
            "--alerts" => alerts = num(value()) as usize,
            "--connections" => connections = num(value()) as usize,
            "--run" => run = value(),
            other => usage(&format!("unknown argument {other}")),
        }
    }
    let url = url.unwrap_or_else(|| usage("--url is required"));
    let rate = rate.unwrap_or_else(|| usage("--rate is required"));
    if rate <= 0.0 || duration <= 0.0 || warmup < 0.0 || alerts == 0 || connections == 0 {
        usage("--rate, --duration, --alerts and --connections must be positive");
    }
    let rest = url
        .strip_prefix("http://")
        .unwrap_or_else(|| usage("--url must start with http://"));
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].to_owned()),
        None => (rest, "/".to_owned()),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (
            h.to_owned(),
            p.parse()
                .unwrap_or_else(|_| usage(&format!("--url: bad port {p}"))),
        ),
        None => (authority.to_owned(), 80),
    };
    Args {
        url,
        host,
        port,
        path,
        format,
        rate,
        duration,
        warmup,
        alerts,
        connections,
        run,
    }
}

/// Builds request bodies with the same alert shape as `alerts.lua`.
struct Bodies {
    format: Format,
    alerts: usize,
    run: String,
    starts_at: String,
    ends_at: String,
}

impl Bodies {
    fn new(args: &Args) -> Self {
        let fmt = &time::format_description::well_known::Rfc3339;
        let now = time::OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        let stamp = |t: time::OffsetDateTime| t.format(fmt).unwrap_or_default();
        Self {
            format: args.format,
            alerts: args.alerts,
            run: args.run.clone(),
            starts_at: stamp(now),
            ends_at: stamp(now + time::Duration::hours(1)),
        }
    }

    fn body(&self, n: u64) -> Bytes {
        const SEVERITIES: [&str; 3] = ["critical", "warning", "info"];
        let mut out = String::with_capacity(700 * self.alerts + 300);
        if self.format == Format::Webhook {
            out.push_str(
                r#"{"version":"4","status":"firing","receiver":"r","groupKey":"{}:{}","truncatedAlerts":0,"groupLabels":{},"commonLabels":{},"commonAnnotations":{},"externalURL":"http://alertmanager.example.internal:9093","alerts":["#,
            );
        } else {
            out.push('[');
        }
        for i in 1..=self.alerts {
            if i > 1 {
                out.push(',');
            }
            let id = format!("{}-{n}-{i}", self.run);
            let labels = format!(
                r#"{{"alertname":"LoadTestAlert{}","severity":"{}","instance":"node-{id}.example.internal:9100","job":"node-exporter","namespace":"loadtest","pod":"exporter-{}","cluster":"eu-west-1a","region":"eu-west-1","team":"platform","service":"loadgen"}}"#,
                i % 7,
                SEVERITIES[i % 3],
                n % 50
            );
            let annotations = format!(
                r#"{{"summary":"Load test alert {id} is firing","description":"Synthetic alert from scripts/loadtest; every alert has a unique instance label so that none is a duplicate."}}"#
            );
            let gen_url = "http://prometheus.example.internal:9090/graph";
            if self.format == Format::Webhook {
                out.push_str(&format!(
                    r#"{{"status":"firing","labels":{labels},"annotations":{annotations},"startsAt":"{}","endsAt":"0001-01-01T00:00:00Z","generatorURL":"{gen_url}","fingerprint":""}}"#,
                    self.starts_at
                ));
            } else {
                out.push_str(&format!(
                    r#"{{"labels":{labels},"annotations":{annotations},"startsAt":"{}","endsAt":"{}","generatorURL":"{gen_url}"}}"#,
                    self.starts_at, self.ends_at
                ));
            }
        }
        out.push(']');
        if self.format == Format::Webhook {
            out.push('}');
        }
        Bytes::from(out)
    }
}

/// What all workers share (single-threaded runtime: `Rc`/`RefCell`).
struct Shared {
    args: Args,
    bodies: Bodies,
    start: Instant,
    interval: Duration,
    total: u64,
    /// Answers before this are warm-up and not measured.
    measure_from: Instant,
    /// No request is started after this (scheduled end plus 2 s of grace).
    deadline: Instant,
    next: u64,
    /// Latency in µs from the scheduled send time, measured requests only.
    latencies: Vec<u64>,
    /// How late the send started (µs), measured requests only.
    lateness: Vec<u64>,
    ok: u64,
    /// 2xx answers including the warm-up (alerts acknowledged in all).
    ok_all: u64,
    non2xx: u64,
    errors: u64,
    last_done: Instant,
}

type Sender = http1::SendRequest<Full<Bytes>>;

async fn connect(host: &str, port: u16) -> Result<Sender, String> {
    let stream = TcpStream::connect((host, port))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let _ = stream.set_nodelay(true);
    let (sender, conn) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tokio::task::spawn_local(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

async fn worker(shared: Rc<RefCell<Shared>>) {
    let (host, port) = {
        let s = shared.borrow();
        (s.args.host.clone(), s.args.port)
    };
    let mut sender: Option<Sender> = None;
    loop {
        let (at, body, request) = {
            let mut s = shared.borrow_mut();
            if s.next >= s.total {
                return;
            }
            if Instant::now() >= s.deadline {
                // Over time: what is left was never sent (reported as unsent).
                return;
            }
            let i = s.next;
            s.next += 1;
            let at = s.start + s.interval.mul_f64(i as f64);
            let body = s.bodies.body(i);
            let request = Request::post(s.args.path.as_str())
                .header("host", format!("{}:{}", s.args.host, s.args.port))
                .header("content-type", "application/json");
            (at, body, request)
        };
        tokio::time::sleep_until(at).await;
        let sent = Instant::now();
        if sender.as_ref().is_none_or(|s| s.is_closed()) {
            // No RefCell borrow may live across an await (workers share it).
            sender = connect(&host, port).await.ok();
        }
        let outcome = match (sender.as_mut(), request.body(Full::new(body))) {
            (Some(tx), Ok(req)) => match tx.ready().await {
                Ok(()) => match tx.send_request(req).await {
                    Ok(resp) => {
                        let status = resp.status();
                        match resp.into_body().collect().await {
                            Ok(_) => Ok(status.is_success()),
                            Err(e) => Err(e.to_string()),
                        }
                    }
                    Err(e) => Err(e.to_string()),
                },
                Err(e) => Err(e.to_string()),
            },
            (None, _) => Err("not connected".to_owned()),
            (_, Err(e)) => Err(e.to_string()),
        };
        let done = Instant::now();
        let mut s = shared.borrow_mut();
        s.last_done = s.last_done.max(done);
        if outcome.is_err() {
            sender = None;
        }
        if outcome == Ok(true) {
            s.ok_all += 1;
        }
        // Warm-up: answers that arrive in the first `--warmup` seconds.
        if done < s.measure_from {
            continue;
        }
        match outcome {
            Ok(true) => {
                s.ok += 1;
                s.latencies.push(done.duration_since(at).as_micros() as u64);
                s.lateness.push(sent.duration_since(at).as_micros() as u64);
            }
            Ok(false) => s.non2xx += 1,
            Err(_) => s.errors += 1,
        }
    }
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn main() {
    let args = parse_args();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => usage(&format!("tokio runtime: {e}")),
    };
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let req_rate = args.rate / args.alerts as f64;
        let total = ((args.warmup + args.duration) * req_rate).round() as u64;
        let warmup = args.warmup;
        let connections = args.connections;
        let args_end = args.warmup + args.duration;
        let bodies = Bodies::new(&args);
        let start = Instant::now() + Duration::from_millis(200);
        let shared = Rc::new(RefCell::new(Shared {
            args,
            bodies,
            start,
            interval: Duration::from_secs_f64(1.0 / req_rate),
            total,
            measure_from: start + Duration::from_secs_f64(warmup),
            deadline: start + Duration::from_secs_f64(args_end) + Duration::from_secs(2),
            next: 0,
            latencies: Vec::with_capacity(total as usize),
            lateness: Vec::with_capacity(total as usize),
            ok: 0,
            ok_all: 0,
            non2xx: 0,
            errors: 0,
            last_done: start,
        }));
        let handles: Vec<_> = (0..connections)
            .map(|_| tokio::task::spawn_local(worker(Rc::clone(&shared))))
            .collect();
        for h in handles {
            let _ = h.await;
        }
        let mut s = shared.borrow_mut();
        let elapsed = s.last_done.duration_since(s.measure_from).as_secs_f64();
        s.latencies.sort_unstable();
        s.lateness.sort_unstable();
        let lat = &s.latencies;
        let late = &s.lateness;
        println!(
            "OPENLOOP url={} target_alerts_per_s={:.0} achieved_alerts_per_s={:.0} requests_ok={} alerts_acked_total={} non2xx={} errors={} unsent={} \
             p50_us={} p90_us={} p99_us={} p999_us={} max_us={} send_late_p99_us={} send_late_max_us={}",
            s.args.url,
            s.args.rate,
            (s.ok as f64 * s.args.alerts as f64) / elapsed.max(1e-9),
            s.ok,
            s.ok_all * s.args.alerts as u64,
            s.non2xx,
            s.errors,
            s.total - s.next,
            percentile(lat, 50.0),
            percentile(lat, 90.0),
            percentile(lat, 99.0),
            percentile(lat, 99.9),
            lat.last().copied().unwrap_or(0),
            percentile(late, 99.0),
            late.last().copied().unwrap_or(0),
        );
    });
}
