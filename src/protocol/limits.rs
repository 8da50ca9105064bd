//! The sizes and times both sides of a connection keep (see "Limits" in the protocol docs).

use std::time::Duration;

/// Largest frame either side accepts: room for the largest chat message with margin, and
/// small, because the codec reserves the declared length as soon as it reads a header.
pub const MAX_FRAME_LEN: usize = 128 * 1024;
/// Largest chat message, in bytes of UTF-8.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;
/// Largest sealed direct message: one Noise message.
pub const MAX_SEALED: usize = 65535;
/// Largest display name or room name, in bytes of UTF-8.
pub const MAX_NAME_BYTES: usize = 64;
/// Largest of any other string field (ids, versions, reasons).
pub const MAX_SHORT_BYTES: usize = 256;
/// Most members a room admits, the host's own user included.
pub const MAX_MEMBERS: usize = 256;
/// Most history messages in one page: a newcomer's welcome brings the newest page, a member
/// catching up asks for page after page.
pub const HISTORY_PAGE: usize = 500;
/// How often a member pings its host when nothing else is said.
pub const PING_INTERVAL: Duration = Duration::from_secs(4);
/// Silence after which either side gives the other up: three pings (or their answers) missed,
/// so a peer whose machine or network died is noticed within seconds.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(12);
/// Longest a write to a peer may take before the peer counts as gone.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Time a new connection gets to complete its handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
