//! HMAC-SHA256 request signing, and its verification for receivers.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::render::hex_lower;

/// Header carrying the signing time (Unix seconds).
pub const TIMESTAMP_HEADER: &str = "X-Alertkit-Timestamp";
/// Header carrying `sha256=<hex>`.
pub const SIGNATURE_HEADER: &str = "X-Alertkit-Signature";
/// Largest accepted difference between the signing time and the receiver's clock.
pub const MAX_SKEW_SECS: i64 = 300;

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &[u8], timestamp: &str, body: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = match HmacSha256::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => unreachable!("hmac accepts keys of any length"),
    };
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `X-Alertkit-Signature` value for `body` sent at `timestamp`:
/// `sha256=` + hex HMAC-SHA256(secret, `timestamp + "." + body`).
///
/// ```
/// use alertkit_publish::webhook::sign;
///
/// let sig = sign(b"secret", "1755856800", br#"{"version":"4"}"#);
/// assert!(sig.starts_with("sha256=") && sig.len() == 7 + 64);
/// ```
pub fn sign(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    format!(
        "sha256={}",
        hex_lower(&mac(secret, timestamp, body).finalize().into_bytes())
    )
}

/// Why a signed request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// `X-Alertkit-Timestamp` is not a Unix time in seconds.
    #[error("x-alertkit-timestamp: not a unix time in seconds")]
    MalformedTimestamp,
    /// The signing time is more than five minutes from the receiver's clock.
    #[error(
        "x-alertkit-timestamp: {skew_secs} s away from the receiver's clock (at most {MAX_SKEW_SECS} s)"
    )]
    Skewed {
        /// How far off, in seconds.
        skew_secs: i64,
    },
    /// `X-Alertkit-Signature` is not `sha256=` followed by 64 hex digits.
    #[error("x-alertkit-signature: expected sha256=<64 hex digits>")]
    MalformedSignature,
    /// The signature does not match the body.
    #[error("x-alertkit-signature: does not match the body")]
    Mismatch,
}

/// Verifies a request signed by alertkit's webhook publisher, against the
/// current system clock (see [`verify_signature_at`]).
///
/// # Errors
///
/// See [`SignatureError`].
///
/// ```
/// use alertkit_publish::webhook::{sign, verify_signature};
///
/// let now = std::time::SystemTime::now()
///     .duration_since(std::time::UNIX_EPOCH).unwrap().as_secs().to_string();
/// let body = br#"{"version":"4"}"#;
/// let sig = sign(b"secret", &now, body);
/// assert!(verify_signature(b"secret", &now, &sig, body).is_ok());
/// assert!(verify_signature(b"other", &now, &sig, body).is_err());
/// ```
pub fn verify_signature(
    secret: &[u8],
    timestamp: &str,
    signature: &str,
    body: &[u8],
) -> Result<(), SignatureError> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    verify_signature_at(secret, timestamp, signature, body, now)
}

/// Verifies a signature as of `now` (Unix seconds): the timestamp must be
/// within five minutes of `now`, and the signature is compared in constant time.
///
/// # Errors
///
/// See [`SignatureError`].
pub fn verify_signature_at(
    secret: &[u8],
    timestamp: &str,
    signature: &str,
    body: &[u8],
    now: i64,
) -> Result<(), SignatureError> {
    let ts = timestamp.trim();
    if ts.is_empty() || ts.len() > 12 || !ts.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SignatureError::MalformedTimestamp);
    }
    let at: i64 = ts.parse().map_err(|_| SignatureError::MalformedTimestamp)?;
    let skew = now.saturating_sub(at);
    if skew.abs() > MAX_SKEW_SECS {
        return Err(SignatureError::Skewed { skew_secs: skew });
    }
    let expected = signature
        .trim()
        .strip_prefix("sha256=")
        .and_then(decode_hex)
        .filter(|d| d.len() == 32)
        .ok_or(SignatureError::MalformedSignature)?;
    mac(secret, ts, body)
        .verify_slice(&expected)
        .map_err(|_| SignatureError::Mismatch)
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let digit = |b: u8| char::from(b).to_digit(16);
    s.as_bytes()
        .chunks(2)
        .map(|p| {
            let hi = digit(p[0])?;
            let lo = digit(p[1])?;
            u8::try_from(hi * 16 + lo).ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_failures() {
        let body = b"{}";
        let sig = sign(b"k", "1000", body);
        assert_eq!(verify_signature_at(b"k", "1000", &sig, body, 1000), Ok(()));
        assert_eq!(verify_signature_at(b"k", "1000", &sig, body, 1300), Ok(()));
        assert_eq!(
            verify_signature_at(b"k", "1000", &sig, body, 1301),
            Err(SignatureError::Skewed { skew_secs: 301 })
        );
        assert_eq!(
            verify_signature_at(b"k", "1000", &sig, b"{ }", 1000),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature_at(b"k", "1001", &sig, body, 1000),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature_at(b"k", "x", &sig, body, 1000),
            Err(SignatureError::MalformedTimestamp)
        );
        assert_eq!(
            verify_signature_at(b"k", "1000", "sha256=zz", body, 1000),
            Err(SignatureError::MalformedSignature)
        );
        assert_eq!(
            verify_signature_at(b"k", "1000", &sig.replace("sha256=", "sha1="), body, 1000),
            Err(SignatureError::MalformedSignature)
        );
    }
}
