//! [`RateLimit`]: `"<count>/<unit>"` limits per target.

use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// At most `count` deliveries per `per`, written `"1/s"`, `"120/min"`, `"3000/min"`, `"10/h"`.
///
/// ```
/// use std::time::Duration;
/// use alertkit_publish::config::RateLimit;
///
/// let limit: RateLimit = "120/min".parse().unwrap();
/// assert_eq!(limit.count.get(), 120);
/// assert_eq!(limit.per, Duration::from_secs(60));
/// assert_eq!(limit.to_string(), "120/min");
/// assert_eq!(limit.interval(), Duration::from_millis(500));
/// assert!("0/s".parse::<RateLimit>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Deliveries allowed per window.
    pub count: NonZeroU32,
    /// The window.
    pub per: Duration,
}

impl RateLimit {
    /// `count` per `per`.
    pub const fn new(count: NonZeroU32, per: Duration) -> Self {
        Self { count, per }
    }

    /// The average spacing between deliveries (`per / count`).
    pub fn interval(&self) -> Duration {
        self.per / self.count.get()
    }

    /// A `governor` quota: one cell every [`interval`](Self::interval), bursts up to `count`.
    pub fn quota(&self) -> governor::Quota {
        governor::Quota::with_period(self.interval())
            .unwrap_or_else(|| governor::Quota::per_second(self.count))
            .allow_burst(self.count)
    }

    /// Slack: about one message per second per channel.
    pub const SLACK: Self = Self::new(NonZeroU32::MIN, Duration::from_secs(1));
    /// PagerDuty: about 120 events per minute per integration key.
    pub const PAGERDUTY: Self = Self::new(
        match NonZeroU32::new(120) {
            Some(n) => n,
            None => NonZeroU32::MIN,
        },
        Duration::from_secs(60),
    );
    /// Rootly: about 3000 writes per minute per API key.
    pub const ROOTLY: Self = Self::new(
        match NonZeroU32::new(3000) {
            Some(n) => n,
            None => NonZeroU32::MIN,
        },
        Duration::from_secs(60),
    );
}

/// Why a rate limit does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid rate limit {0:?}: expected <count>/<s|min|h>, e.g. \"120/min\", with count > 0")]
pub struct InvalidRateLimit(pub String);

impl FromStr for RateLimit {
    type Err = InvalidRateLimit;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || InvalidRateLimit(s.chars().take(32).collect());
        let (count, unit) = s.trim().split_once('/').ok_or_else(err)?;
        let count: NonZeroU32 = count.trim().parse().map_err(|_| err())?;
        let per = match unit.trim() {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            _ => return Err(err()),
        };
        Ok(Self { count, per })
    }
}

impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.per.as_secs() {
            1 => "s",
            60 => "min",
            3600 => "h",
            _ => return write!(f, "{}/{}ms", self.count, self.per.as_millis()),
        };
        write!(f, "{}/{unit}", self.count)
    }
}

impl Serialize for RateLimit {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for RateLimit {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}
