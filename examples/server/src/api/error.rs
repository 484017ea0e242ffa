//! Error answers: a status and a JSON body naming what is wrong.

use alertkit_core::pipeline::PipelineError;
use alertkit_core::{ParseError, StoreError};
use axum::Json;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::telemetry;

/// The body of every error answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct ErrorBody {
    /// What is wrong.
    pub(crate) error: String,
    /// The offending field or JSON path (`alerts[0].startsAt`, `filter`, `body`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) field: Option<String>,
    /// The limit that was exceeded (bytes for 413, alerts for too many alerts).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) limit: Option<u64>,
}

impl ErrorBody {
    /// An error without a field.
    pub(crate) fn new(error: impl Into<String>) -> Self {
        Self {
            error: error.into(),
            field: None,
            limit: None,
        }
    }
}

/// An error answer.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) body: ErrorBody,
}

/// A JSON request body, or a 400 naming `body` with serde's reason.
pub(crate) fn json_body<T>(
    body: Result<Json<T>, axum::extract::rejection::JsonRejection>,
) -> Result<T, ApiError> {
    body.map(|b| b.0)
        .map_err(|e| ApiError::bad_request("body", e.body_text()))
}

impl ApiError {
    /// 400 naming `field`.
    pub(crate) fn bad_request(field: &str, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            body: ErrorBody {
                field: Some(field.to_owned()),
                ..ErrorBody::new(message)
            },
        }
    }

    /// `status` with a message.
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            body: ErrorBody::new(message),
        }
    }

    /// A payload that does not parse: 400 with its JSON path.
    pub(crate) fn parse(e: &ParseError) -> Self {
        Self::bad_request(e.path(), e.to_string())
    }

    /// A body that could not be read: 413 above `limit` bytes, else 400.
    pub(crate) fn body(rejection: &BytesRejection, limit: usize) -> Self {
        let status = rejection.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            return Self {
                status,
                body: ErrorBody {
                    field: Some("body".to_owned()),
                    limit: Some(limit as u64),
                    ..ErrorBody::new(format!("the body is larger than {limit} bytes"))
                },
            };
        }
        let status = if status.is_server_error() {
            StatusCode::BAD_REQUEST
        } else {
            status
        };
        Self {
            status,
            body: ErrorBody {
                field: Some("body".to_owned()),
                ..ErrorBody::new(format!("cannot read the body: {}", rejection.body_text()))
            },
        }
    }

    /// A history store failure: 400 for a bad query, 503 when transient, else 500.
    pub(crate) fn store(e: &StoreError) -> Self {
        match e {
            StoreError::InvalidQuery(m) | StoreError::Invalid(m) => {
                Self::bad_request("query", m.clone())
            }
            e if e.is_transient() => {
                telemetry::count_error("store_unavailable");
                tracing::warn!(error = %e, "history store unavailable");
                Self::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
            }
            e => {
                telemetry::count_error("store");
                tracing::error!(error = %e, "history store failure");
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
            }
        }
    }

    /// A pipeline failure: the store's answer, else 503 (Alertmanager retries).
    pub(crate) fn pipeline(e: &PipelineError) -> Self {
        match e {
            PipelineError::Store(s) => Self::store(s),
            e => {
                telemetry::count_error("pipeline");
                tracing::warn!(error = %e, "pipeline unavailable");
                Self::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}
