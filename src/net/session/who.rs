//! Asking an address which room it runs, without joining it (a room joined by address).

use crate::net::identity::{Identity, PublicKey};
use crate::net::link::{self, Expect, LinkError, Timeouts};
use crate::protocol::{Frame, RoomId};
use std::net::SocketAddr;

/// What a host says about the room it runs at an address given by hand.
#[derive(Debug, Clone)]
pub struct About {
    pub room: RoomId,
    pub room_name: String,
    pub host_name: String,
    pub members: u32,
    /// Whether joining needs the password.
    pub locked: bool,
    /// The host's key, as its handshake proved it.
    pub key: PublicKey,
}

/// Why asking an address which room it runs failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WhoError {
    /// Nobody answered, or the connection broke: it may pass (the host is restarting).
    #[error("{0}")]
    Unreachable(String),
    /// The host answered, and the answer will not change by asking again.
    #[error("{0}")]
    Answered(String),
}

/// Asks the host at these addresses which room it runs, without joining it. `expect`: the
/// key of the room the person means, where it was pinned; another machine is then left
/// before it learns anything of ours (our key included).
pub async fn ask_who(
    addrs: &[SocketAddr],
    identity: &Identity,
    expect: Expect,
    timeouts: &Timeouts,
) -> Result<About, WhoError> {
    let mut link = link::dial(addrs, identity, expect, timeouts)
        .await
        .map_err(|e| match e {
            LinkError::KeyChanged { pinned, presented } => WhoError::Answered(format!(
                "the machine there presents the key {} instead of {}: it may be pretending to be the room, so nothing was sent to it",
                presented.fingerprint(),
                pinned.fingerprint()
            )),
            LinkError::Version { .. } => WhoError::Answered(e.to_string()),
            e => WhoError::Unreachable(e.to_string()),
        })?;
    let unreachable = |e: LinkError| WhoError::Unreachable(e.to_string());
    link.writer.send(Frame::Who).await.map_err(unreachable)?;
    match link.reader.next_within(timeouts.handshake).await {
        Ok(Frame::About {
            room,
            room_name,
            host_name,
            members,
            locked,
        }) => Ok(About {
            room,
            room_name,
            host_name,
            members,
            locked,
            key: link.remote,
        }),
        Ok(other) => Err(WhoError::Answered(format!(
            "the host answered with {}",
            other.kind()
        ))),
        Err(LinkError::Ended) => Err(WhoError::Unreachable(
            "the host hung up without answering".into(),
        )),
        Err(LinkError::TimedOut(_)) => Err(WhoError::Unreachable("the host did not answer".into())),
        Err(e) => Err(unreachable(e)),
    }
}
