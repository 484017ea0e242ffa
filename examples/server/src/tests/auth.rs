use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use super::{app, send, webhook_body};

const ADMIN_KEY: &str = "admin-key-0123456789";

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
}

/// Posts a webhook with these headers; status, `WWW-Authenticate`, body text.
async fn post(
    app: &axum::Router,
    uri: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, Option<String>, String) {
    let body = if uri == "/api/v2/alerts" {
        br#"[{"labels":{"alertname":"A"}}]"#.to_vec()
    } else {
        webhook_body("firing", "0001-01-01T00:00:00Z")
    };
    request(app, "POST", uri, headers, body).await
}

async fn request(
    app: &axum::Router,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (StatusCode, Option<String>, String) {
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let (status, headers, body) = send(app, req.body(Body::from(body)).unwrap()).await;
    let challenge = headers
        .get(header::WWW_AUTHENTICATE)
        .map(|v| v.to_str().unwrap().to_owned());
    (status, challenge, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn ingest_is_open_by_default() {
    let (_p, app) = app(&[]);
    for uri in ["/webhook", "/api/v2/alerts"] {
        let (status, _, body) = post(&app, uri, &[]).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {body}");
    }
}

#[tokio::test]
async fn bearer_token_guards_both_ingest_endpoints() {
    let token = "am-token-xyz";
    let (_p, app) = app(&[("INGEST_BEARER_TOKEN", token)]);
    let good = format!("Bearer {token}");
    for uri in ["/webhook", "/api/v2/alerts"] {
        let (status, challenge, body) = post(&app, uri, &[]).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{uri}");
        assert_eq!(challenge.as_deref(), Some(r#"Bearer realm="alertkit""#));
        let json: Value = serde_json::from_str(&body).unwrap();
        assert!(json["error"].as_str().unwrap().contains("credentials"));
        for wrong in [
            "Bearer am-token-xy",
            "Bearer am-token-xyzz",
            "Bearer ",
            "am-token-xyz",
            &basic("x", token),
        ] {
            let (status, _, body) = post(&app, uri, &[("authorization", wrong)]).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{uri} {wrong:?}");
            assert!(!body.contains(token), "{body}");
        }
        let (status, _, body) = post(&app, uri, &[("authorization", &good)]).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {body}");
        // The scheme is case-insensitive (RFC 9110).
        let lower = format!("bearer {token}");
        let (status, _, _) = post(&app, uri, &[("authorization", &lower)]).await;
        assert_eq!(status, StatusCode::OK);
    }
    // Reading history needs no ingest credentials.
    let (status, _, _) = request(&app, "GET", "/api/v2/history", &[], vec![]).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn basic_credentials_as_alertmanager_sends_them() {
    let (_p, app) = app(&[
        ("INGEST_BASIC_USER", "alertmanager"),
        ("INGEST_BASIC_PASSWORD", "pa:ss"),
    ]);
    let (status, challenge, _) = post(&app, "/webhook", &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(challenge.unwrap().starts_with("Basic realm=\"alertkit\""));
    for (user, password) in [("alertmanager", "pa:s"), ("alertmanage", "pa:ss"), ("", "")] {
        let (status, _, _) = post(
            &app,
            "/webhook",
            &[("authorization", &basic(user, password))],
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{user}:{password}");
    }
    let (status, _, _) = post(&app, "/webhook", &[("authorization", "Basic !!notbase64")]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // A colon in the password is kept (only the first one separates).
    let good = basic("alertmanager", "pa:ss");
    let (status, _, body) = post(&app, "/webhook", &[("authorization", &good)]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn admin_endpoints_are_refused_without_a_configured_key() {
    let (_p, app) = app(&[]);
    let (status, challenge, body) = request(
        &app,
        "GET",
        "/api/v2/admin/config",
        &[("x-admin-key", "anything-at-all-123")],
        vec![],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(challenge.is_none());
    let json: Value = serde_json::from_str(&body).unwrap();
    assert!(json["error"].as_str().unwrap().contains("ADMIN_API_KEY"));
}

#[tokio::test]
async fn admin_key_by_bearer_or_header() {
    let (_p, app) = app(&[
        ("ADMIN_API_KEY", ADMIN_KEY),
        ("INGEST_BEARER_TOKEN", "ingest-secret-token"),
        ("LLM_BASE_URL", "https://llm.example"),
        ("LLM_API_KEY", "llm-secret-key"),
    ]);
    let uri = "/api/v2/admin/config";
    let (status, challenge, _) = request(&app, "GET", uri, &[], vec![]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenge.as_deref(),
        Some(r#"Bearer realm="alertkit-admin""#)
    );
    for wrong in [
        ("x-admin-key", "admin-key-012345678"),
        ("authorization", "Bearer admin-key-01234567890"),
        ("authorization", "Bearer ingest-secret-token"),
    ] {
        let (status, _, _) = request(&app, "GET", uri, &[wrong], vec![]).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{wrong:?}");
    }
    let bearer = format!("Bearer {ADMIN_KEY}");
    for good in [
        ("x-admin-key", ADMIN_KEY),
        ("authorization", bearer.as_str()),
    ] {
        let (status, _, body) = request(&app, "GET", uri, &[good], vec![]).await;
        assert_eq!(status, StatusCode::OK, "{good:?}: {body}");
        for secret in [ADMIN_KEY, "ingest-secret-token", "llm-secret-key"] {
            assert!(!body.contains(secret), "{body}");
        }
        let json: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["ingest_auth"], "bearer");
        assert_eq!(json["llm_api_key"], "***");
        assert_eq!(json["admin_api_key"], "***");
    }
    // The admin key is not an ingest credential.
    let (status, _, _) = post(&app, "/webhook", &[("authorization", &bearer)]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

/// curl, a real HTTP client, against the server on a loopback socket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_client_authenticates_over_http() {
    let (_p, app) = app(&[
        ("INGEST_BASIC_USER", "alertmanager"),
        ("INGEST_BASIC_PASSWORD", "s3cret"),
    ]);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/webhook", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let body = String::from_utf8(webhook_body("firing", "0001-01-01T00:00:00Z")).unwrap();
    let status = |user: &'static str| {
        let (url, body) = (url.clone(), body.clone());
        tokio::task::spawn_blocking(move || {
            let out = std::process::Command::new("curl")
                .args([
                    "-sS",
                    "-o",
                    "/dev/null",
                    "-w",
                    "%{http_code}",
                    "--max-time",
                    "10",
                ])
                .args(["-u", user, "-H", "Content-Type: application/json"])
                .args(["--data-binary", &body, &url])
                .output()
                .expect("curl is installed");
            String::from_utf8(out.stdout).unwrap()
        })
    };
    assert_eq!(status("alertmanager:s3cret").await.unwrap(), "200");
    assert_eq!(status("alertmanager:wrong").await.unwrap(), "401");
    server.abort();
}
