//! TCP sessions: the host side of a room ([`host`]) and the member side ([`session`]).

pub mod host;
pub mod session;

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, for message time stamps.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
