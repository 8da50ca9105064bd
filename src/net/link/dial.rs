//! Dialling: a TCP connection to the first of a room's addresses that answers, then the
//! member's side of the handshake, address after address until one lets us in.

use super::{Expect, Link, LinkError, Timeouts, connect};
use crate::net::identity::Identity;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::task::JoinSet;

/// Connects to the first of `addrs` that answers (starting one attempt every
/// `dial_stagger`) and runs the member's side of the handshake. An address whose handshake
/// fails — another key than the one expected, a stall, garbage — does not stop the others
/// from being tried (an impostor may answer for a room beside its real host); a key change
/// is told before any other failure, and only if no address has the key.
pub async fn dial(
    addrs: &[SocketAddr],
    identity: &Identity,
    expect: Expect,
    timeouts: &Timeouts,
) -> Result<Link, LinkError> {
    let mut left = addrs.to_vec();
    let mut failed: Option<LinkError> = None;
    // Each turn takes one address off: at most one turn per address.
    for _ in 0..addrs.len() {
        let (stream, answered) = match connect_tcp(&left, timeouts).await {
            Ok(answered) => answered,
            Err(e) => return Err(failed.unwrap_or(e)),
        };
        match connect(stream, identity, expect, timeouts).await {
            Ok(link) => return Ok(link),
            Err(e) => {
                tracing::info!("{answered}: {e}; trying the room's other addresses");
                left.retain(|a| *a != answered);
                if !matches!(failed, Some(LinkError::KeyChanged { .. })) {
                    failed = Some(e);
                }
                if left.is_empty() {
                    break;
                }
            }
        }
    }
    Err(failed.unwrap_or_else(|| LinkError::Unreachable("no known address".into())))
}

/// Whether anything listens at one of `addrs` (a TCP connection opens within `limit`); the
/// connection is closed at once, which a host takes as someone leaving before the handshake.
/// Discovery asks this of every listed room to notice a host that crashed without a goodbye.
pub async fn listening(addrs: &[SocketAddr], limit: Duration) -> bool {
    let timeouts = Timeouts {
        dial: limit,
        dial_stagger: Duration::ZERO,
        ..Timeouts::default()
    };
    connect_tcp(addrs, &timeouts).await.is_ok()
}

/// A TCP connection to the first address that answers, and which one of `addrs` it is.
async fn connect_tcp(
    addrs: &[SocketAddr],
    timeouts: &Timeouts,
) -> Result<(TcpStream, SocketAddr), LinkError> {
    if addrs.is_empty() {
        return Err(LinkError::Unreachable("no known address".into()));
    }
    let mut ordered = addrs.to_vec();
    // IPv4 and routable IPv6 before link-local IPv6, which needs the right scope to work.
    ordered.sort_by_key(|a| match a {
        SocketAddr::V4(_) => 0,
        SocketAddr::V6(v6) if v6.ip().is_unicast_link_local() => 2,
        SocketAddr::V6(_) => 1,
    });
    let mut attempts = JoinSet::new();
    for (i, addr) in ordered.into_iter().enumerate() {
        let (stagger, limit) = (timeouts.dial_stagger * i as u32, timeouts.dial);
        attempts.spawn(async move {
            tokio::time::sleep(stagger).await;
            match tokio::time::timeout(limit, TcpStream::connect(addr)).await {
                Ok(Ok(stream)) => Ok((stream, addr)),
                Ok(Err(e)) => Err(format!("{addr}: {e}")),
                Err(_) => Err(format!("{addr}: timed out")),
            }
        });
    }
    let mut last_error = String::new();
    while let Some(result) = attempts.join_next().await {
        match result {
            Ok(Ok((stream, addr))) => {
                let _ = stream.set_nodelay(true);
                return Ok((stream, addr));
            }
            Ok(Err(e)) => last_error = e,
            Err(e) => last_error = e.to_string(),
        }
    }
    Err(LinkError::Unreachable(last_error))
}
