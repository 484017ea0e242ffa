//! Compatibility with a real Alertmanager (Debian's `prometheus-alertmanager`).
//!
//! Posts generated alerts (hostile label values included) to a real
//! Alertmanager through API v2, then checks that
//! 1. the fingerprints Alertmanager reports equal ours, and
//! 2. the webhook Alertmanager sends parses, carries no fingerprint
//!    mismatch, and survives our emit/parse round trip.
//!
//! Skipped with a printed reason when no Alertmanager binary is installed,
//! unless `ALERTKIT_REQUIRE_ALERTMANAGER=1` (set by `.ci/run`), which makes a
//! missing binary a failure.

#![allow(clippy::unwrap_used)] // tests fail loudly

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alertkit_core::testing::alertmanager::Alertmanager;
use alertkit_core::testing::strategies::label_set_with;
use alertkit_core::{Fingerprint, LabelSet, WebhookMessage};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::{Value, json};

/// A minimal HTTP/1.1 sink: records request bodies, answers 200.
fn webhook_sink() -> (u16, Arc<Mutex<Vec<Vec<u8>>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&bodies);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let sink = Arc::clone(&sink);
            std::thread::spawn(move || serve(stream, &sink));
        }
    });
    (port, bodies)
}

fn serve(stream: TcpStream, sink: &Mutex<Vec<Vec<u8>>>) {
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    loop {
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
            if let Some((k, v)) = line.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        sink.lock().unwrap().push(body);
        let _ = writer.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    }
}

/// Label sets Alertmanager 0.25 accepts: classic label names only.
fn generated_label_sets(n: usize) -> Vec<LabelSet> {
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]),
    );
    let classic = regex::Regex::new("^[a-zA-Z_][a-zA-Z0-9_]*$").unwrap();
    let strategy = label_set_with(6);
    let mut sets = Vec::new();
    while sets.len() < n {
        let set = strategy.new_tree(&mut runner).unwrap().current();
        let kept = LabelSet::from_pairs(set.iter().filter(|(k, _)| classic.is_match(k)));
        sets.push(kept);
    }
    sets
}

#[test]
fn fingerprints_and_webhooks_match_real_alertmanager() {
    let (sink_port, bodies) = webhook_sink();
    let Some(am) = Alertmanager::start(&format!("http://127.0.0.1:{sink_port}/webhook")) else {
        return;
    };

    let sets = generated_label_sets(60);
    let now = time::OffsetDateTime::now_utc() - time::Duration::minutes(1);
    let body: Vec<Value> = sets
        .iter()
        .map(|labels| {
            json!({"labels": labels, "annotations": {"summary": "from alertkit's compatibility test"},
                   "startsAt": alertkit_core::model::format_rfc3339(now)})
        })
        .collect();
    am.post_alerts(&Value::Array(body));
    let ours: BTreeSet<Fingerprint> = sets.iter().map(LabelSet::fingerprint).collect();

    // 1. API v2: Alertmanager's own fingerprints.
    let listed = am.alerts();
    assert_eq!(listed.len(), ours.len());
    for a in &listed {
        let labels: LabelSet = serde_json::from_value(a["labels"].clone()).unwrap();
        let theirs: Fingerprint = a["fingerprint"].as_str().unwrap().parse().unwrap();
        assert_eq!(labels.fingerprint(), theirs, "fingerprint of {labels}");
    }

    // 2. The webhooks Alertmanager sends: the group's notifications grow until
    // one carries every alert (a new notification each group_interval).
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut checked = 0;
    loop {
        let received: Vec<Vec<u8>> = bodies.lock().unwrap().clone();
        let mut complete = false;
        for body in &received[checked..] {
            let msg = WebhookMessage::from_json(body).expect("alertmanager's webhook parses");
            assert!(
                msg.fingerprint_mismatches.is_empty(),
                "{:?}",
                msg.fingerprint_mismatches
            );
            let again = WebhookMessage::from_json(&serde_json::to_vec(&msg).unwrap()).unwrap();
            assert_eq!(again, msg, "emit/parse round trip");
            let got: BTreeSet<Fingerprint> = msg.alerts.iter().map(|a| a.fingerprint()).collect();
            assert!(got.is_subset(&ours), "webhook carries alerts we never sent");
            complete |= got == ours;
        }
        checked = received.len();
        if complete {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no webhook from alertmanager carried all {} alerts",
            ours.len()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
