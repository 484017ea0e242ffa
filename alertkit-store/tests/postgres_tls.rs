//! The Postgres store over TLS against the real local server (Debian's
//! PostgreSQL has `ssl = on` with its snakeoil certificate, CN `localhost`).
//! `sslmode` and `sslrootcert` in the URL are all a deployment sets.
//!
//! Skipped with a printed reason when the server is unreachable (unless
//! `ALERTKIT_REQUIRE_SERVICES=1`, set by `.ci/run`) or has TLS turned off.

#![allow(clippy::unwrap_used)] // tests fail loudly

use std::path::Path;

use alertkit_core::{Alert, HistoryStore, LabelSet, Receipt};
use alertkit_store::{PostgresHistoryStore, PostgresOptions};
use time::OffsetDateTime;

const PLAIN: &str = "postgres://postgres@127.0.0.1:5432/test";
/// The server's own certificate (self-signed), the trust root for verify-*.
const SNAKEOIL: &str = "/etc/ssl/certs/ssl-cert-snakeoil.pem";

/// A plain connection to inspect the server, or `None` (skip).
async fn server() -> Option<sqlx::PgPool> {
    match sqlx::PgPool::connect(PLAIN).await {
        Ok(pool) => {
            let ssl: String = sqlx::query_scalar("SHOW ssl")
                .fetch_one(&pool)
                .await
                .unwrap();
            if ssl == "on" {
                Some(pool)
            } else {
                eprintln!("skipped: PostgreSQL at {PLAIN} has ssl = {ssl}");
                None
            }
        }
        Err(e) if std::env::var_os("ALERTKIT_REQUIRE_SERVICES").is_none() => {
            eprintln!("skipped: PostgreSQL at {PLAIN} is unreachable: {e}");
            None
        }
        Err(e) => panic!("PostgreSQL at {PLAIN}: {e}"),
    }
}

fn schema(tag: &str) -> String {
    format!(
        "alertkit_test_{}_{}_tls_{tag}",
        std::process::id(),
        OffsetDateTime::now_utc().unix_timestamp()
    )
}

/// Opens a store at `url`, records one alert and reads it back; then checks
/// through `server` that every connection named `app` is encrypted.
async fn round_trip(server: &sqlx::PgPool, url: &str, app: &str) {
    let store = PostgresHistoryStore::open_with(PostgresOptions::new(url).schema(schema(app)))
        .await
        .unwrap();
    let now = OffsetDateTime::now_utc();
    let alert = Alert::firing(
        LabelSet::from_pairs([("alertname", "OverTls".to_owned())]),
        now,
    );
    let fp = alert.fingerprint();
    store.record(&[Receipt::new(alert, now)]).await.unwrap();
    assert!(store.get(fp).await.unwrap().is_some());

    let (connections, encrypted): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE s.ssl) \
         FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) \
         WHERE a.application_name = $1",
    )
    .bind(app)
    .fetch_one(server)
    .await
    .unwrap();
    assert!(connections > 0, "the store's connections are visible");
    assert_eq!(encrypted, connections, "every store connection uses TLS");
    store.close().await;
}

#[tokio::test]
async fn require_encrypts_every_connection() {
    let Some(server) = server().await else { return };
    let app = format!("alertkit_tls_require_{}", std::process::id());
    let url = format!("{PLAIN}?sslmode=require&application_name={app}");
    round_trip(&server, &url, &app).await;
}

#[tokio::test]
async fn verify_full_checks_the_certificate_and_the_host_name() {
    let Some(server) = server().await else { return };
    if !Path::new(SNAKEOIL).exists() {
        eprintln!("skipped: {SNAKEOIL} is missing");
        return;
    }
    // The certificate names `localhost`, signed by itself: trusted.
    let app = format!("alertkit_tls_verify_{}", std::process::id());
    let url = format!(
        "postgres://postgres@localhost:5432/test?sslmode=verify-full&sslrootcert={SNAKEOIL}\
         &application_name={app}"
    );
    round_trip(&server, &url, &app).await;

    // Another host name for the same server: refused, and the error says why
    // without leaking the URL.
    let url = format!(
        "postgres://postgres:hunter2@127.0.0.1:5432/test?sslmode=verify-full&sslrootcert={SNAKEOIL}"
    );
    let err = PostgresHistoryStore::open_with(PostgresOptions::new(url).schema(schema("badhost")))
        .await
        .unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(shown.to_lowercase().contains("certificate"), "{shown}");
    assert!(!shown.contains("hunter2"), "{shown}");
}

#[tokio::test]
async fn verify_ca_refuses_an_untrusted_server() {
    let Some(_server) = server().await else {
        return;
    };
    // A public root that never signed a snakeoil certificate.
    let other = "/etc/ssl/certs/ISRG_Root_X1.pem";
    if !Path::new(other).exists() {
        eprintln!("skipped: {other} is missing");
        return;
    }
    let url = format!("{PLAIN}?sslmode=verify-ca&sslrootcert={other}");
    let err =
        PostgresHistoryStore::open_with(PostgresOptions::new(url).schema(schema("untrusted")))
            .await
            .unwrap_err();
    let shown = format!("{err} {err:?}").to_lowercase();
    assert!(
        shown.contains("certificate") || shown.contains("issuer"),
        "{shown}"
    );
}
