//! Credentials: the ingest endpoints' optional bearer or basic auth (what
//! Alertmanager's `http_config` sends) and the admin key. Both are axum
//! middleware; comparisons take constant time; secrets are never logged or
//! echoed.

use std::sync::Arc;

use alertkit_core::Secret;
use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::api::error::ErrorBody;
use crate::config::IngestAuth;
use crate::telemetry;

/// The credentials the server checks.
#[derive(Debug, Clone, Default)]
pub(crate) struct Guards {
    /// Ingest credentials.
    pub(crate) ingest: IngestAuth,
    /// The admin key; admin endpoints answer 403 without one.
    pub(crate) admin: Option<Secret>,
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// No credentials sent.
    Missing,
    /// Credentials of another scheme, or not decodable.
    Malformed,
    /// Wrong credentials.
    Wrong,
    /// No credentials are configured for this scope.
    Disabled,
}

impl Refusal {
    const fn as_str(self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Malformed => "malformed",
            Self::Wrong => "wrong",
            Self::Disabled => "disabled",
        }
    }
}

/// `Authorization: <scheme> <value>` with a case-insensitive scheme.
fn authorization<'a>(headers: &'a HeaderMap, scheme: &str) -> Result<&'a str, Refusal> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(Refusal::Missing);
    };
    let value = value.to_str().map_err(|_| Refusal::Malformed)?;
    let (given, rest) = value.split_once(' ').ok_or(Refusal::Malformed)?;
    if !given.eq_ignore_ascii_case(scheme) {
        return Err(Refusal::Malformed);
    }
    Ok(rest.trim())
}

fn check_bearer(headers: &HeaderMap, token: &Secret) -> Result<(), Refusal> {
    let given = authorization(headers, "Bearer")?;
    if token.matches(given.as_bytes()) {
        Ok(())
    } else {
        Err(Refusal::Wrong)
    }
}

fn check_basic(headers: &HeaderMap, user: &str, password: &Secret) -> Result<(), Refusal> {
    let encoded = authorization(headers, "Basic")?;
    let decoded = STANDARD.decode(encoded).map_err(|_| Refusal::Malformed)?;
    let colon = decoded
        .iter()
        .position(|b| *b == b':')
        .ok_or(Refusal::Malformed)?;
    let (given_user, given_password) = (&decoded[..colon], &decoded[colon + 1..]);
    // Both compared every time: no early exit on a wrong user name.
    let user_ok = Secret::new(user).matches(given_user);
    let password_ok = password.matches(given_password);
    if user_ok & password_ok {
        Ok(())
    } else {
        Err(Refusal::Wrong)
    }
}

fn unauthorized(challenge: &'static str, message: &str) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(challenge),
        )],
        Json(ErrorBody::new(message)),
    )
        .into_response()
}

fn refused(scope: &'static str, refusal: Refusal) {
    metrics::counter!(telemetry::AUTH_FAILURES, "scope" => scope, "reason" => refusal.as_str())
        .increment(1);
    tracing::info!(
        scope,
        reason = refusal.as_str(),
        "request refused: credentials"
    );
}

/// Middleware for the ingest routes: passes when no credentials are
/// configured or the right ones are sent; else 401 with a challenge.
pub(crate) async fn require_ingest(
    State(guards): State<Arc<Guards>>,
    req: Request,
    next: Next,
) -> Response {
    let (result, challenge) = match &guards.ingest {
        IngestAuth::None => return next.run(req).await,
        IngestAuth::Bearer(token) => (
            check_bearer(req.headers(), token),
            r#"Bearer realm="alertkit""#,
        ),
        IngestAuth::Basic { user, password } => (
            check_basic(req.headers(), user, password),
            r#"Basic realm="alertkit", charset="UTF-8""#,
        ),
    };
    match result {
        Ok(()) => next.run(req).await,
        Err(refusal) => {
            refused("ingest", refusal);
            unauthorized(challenge, "missing or wrong ingest credentials")
        }
    }
}

/// Middleware for the admin routes: `Authorization: Bearer <key>` or
/// `X-Admin-Key: <key>`; 403 when no admin key is configured.
pub(crate) async fn require_admin(
    State(guards): State<Arc<Guards>>,
    req: Request,
    next: Next,
) -> Response {
    let Some(key) = &guards.admin else {
        refused("admin", Refusal::Disabled);
        return (
            StatusCode::FORBIDDEN,
            Json(ErrorBody::new(
                "the admin API is disabled: set ADMIN_API_KEY to enable it",
            )),
        )
            .into_response();
    };
    let result = match req.headers().get("x-admin-key") {
        Some(given) if key.matches(given.as_bytes()) => Ok(()),
        Some(_) => Err(Refusal::Wrong),
        None => check_bearer(req.headers(), key),
    };
    match result {
        Ok(()) => next.run(req).await,
        Err(refusal) => {
            refused("admin", refusal);
            unauthorized(
                r#"Bearer realm="alertkit-admin""#,
                "missing or wrong admin key (Authorization: Bearer or X-Admin-Key)",
            )
        }
    }
}
