use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::{Value, json};

use super::{app, call, send, webhook_with};

#[tokio::test]
async fn bodies_above_the_limit_get_413_json() {
    let (_p, app) = app(&[("SERVER_MAX_BODY_BYTES", "1000")]);
    let big = webhook_with(40);
    assert!(big.len() > 1000);
    for uri in ["/webhook", "/api/v2/alerts"] {
        let (status, body) = call(&app, "POST", uri, big.clone()).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{uri}");
        assert_eq!(body["limit"], 1000, "{body}");
        assert_eq!(body["field"], "body");
    }
    // Without Content-Length (a chunked upload) the limit holds too.
    let stream = futures_util::stream::iter(
        big.chunks(100)
            .map(|c| Ok::<_, std::io::Error>(axum::body::Bytes::copy_from_slice(c)))
            .collect::<Vec<_>>(),
    );
    let req = Request::post("/webhook")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(stream))
        .unwrap();
    let (status, _, body) = send(&app, req).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["limit"], 1000);
    // Just under the limit is fine.
    let (status, body) = call(&app, "POST", "/webhook", webhook_with(3)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn too_many_alerts_get_400_with_the_count() {
    let (_p, app) = app(&[("INGEST_MAX_ALERTS_PER_REQUEST", "5")]);
    let (status, body) = call(&app, "POST", "/webhook", webhook_with(6)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["field"], "alerts");
    assert_eq!(body["limit"], 5);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("6 alerts exceed"),
        "{body}"
    );
    let v2: Vec<Value> = (0..7)
        .map(|i| json!({"labels": {"alertname": "A", "i": i.to_string()}}))
        .collect();
    let (status, body) = call(
        &app,
        "POST",
        "/api/v2/alerts",
        serde_json::to_vec(&v2).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("7 alerts exceed"),
        "{body}"
    );
    let (status, _) = call(&app, "POST", "/webhook", webhook_with(5)).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn client_mistakes_are_4xx_json_never_500() {
    let (_p, app) = app(&[]);
    let garbage: &[&[u8]] = &[
        b"",
        b"{",
        b"null",
        b"[]",
        b"\xff\xfe",
        br#"{"alerts": 3}"#,
        br#"{"alerts": [{"labels": {"a": 1}}]}"#,
        br#"[{"labels": "x"}]"#,
    ];
    for uri in ["/webhook", "/api/v2/alerts"] {
        for body in garbage {
            let (status, json) = call(&app, "POST", uri, body.to_vec()).await;
            assert!(
                status.is_client_error() || status == StatusCode::OK,
                "{uri} {:?}: {status}",
                String::from_utf8_lossy(body)
            );
            if status != StatusCode::OK {
                assert!(json["error"].is_string(), "{uri}: {json}");
            }
        }
    }
    // A form post (curl -d without a content type) is refused as 415.
    let req = Request::post("/webhook")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from("{}"))
        .unwrap();
    let (status, _, body) = send(&app, req).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["field"], "content-type");
    // No content type at all is accepted; so is a +json type with parameters.
    for ct in [
        None,
        Some("application/vnd.alertmanager+json; charset=utf-8"),
    ] {
        let mut req = Request::post("/api/v2/alerts");
        if let Some(ct) = ct {
            req = req.header(header::CONTENT_TYPE, ct);
        }
        let req = req
            .body(Body::from(r#"[{"labels":{"alertname":"A"}}]"#))
            .unwrap();
        let (status, _, _) = send(&app, req).await;
        assert_eq!(status, StatusCode::OK, "{ct:?}");
    }
    // Unknown routes and methods answer JSON too.
    let (status, json) = call(&app, "GET", "/nope", vec![]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(json["error"].is_string());
    let (status, json) = call(&app, "GET", "/webhook", vec![]).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(json["error"].is_string());
}
