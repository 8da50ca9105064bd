//! Listening and admitting: the host's listeners, the limits a connection meets before it
//! says anything (per address, handshakes in flight), the handshake, and the route each
//! connection takes by its first frame: a member's join, the room's `Who` answer, or a
//! service (files) registered for it.

use super::room::RoomCmd;
use super::{Incoming, RoomHandle, Service};
use crate::net::identity::{Identity, PublicKey};
use crate::net::limits::{AddressPlace, HandshakePlace, Handshakes, Limits, PerAddress};
use crate::net::link::{self, LinkError, Timeouts};
use crate::net::password::{Guesses, RoomSecret};
use crate::protocol::{DeviceId, Frame};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Binds one address, or the same port on IPv4 and IPv6 (IPv6 only where the system has it).
pub(super) fn bind(only: Option<IpAddr>, port: u16) -> std::io::Result<Vec<TcpListener>> {
    let first = only.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let first = match listen(SocketAddr::new(first, port)) {
        Ok(listener) => listener,
        Err(e) if port != 0 => {
            tracing::debug!("port {port} is taken ({e}); using any free port");
            return bind(only, 0);
        }
        Err(e) => return Err(e),
    };
    let port = first.local_addr()?.port();
    let mut listeners = vec![first];
    if only.is_none() {
        match listen(SocketAddr::from((Ipv6Addr::UNSPECIFIED, port))) {
            Ok(v6) => listeners.push(v6),
            Err(e) => tracing::info!("no IPv6 listener on port {port}: {e}"),
        }
    }
    Ok(listeners)
}

fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    if addr.is_ipv6() {
        // Separate sockets per family behave the same on every OS.
        socket.set_only_v6(true)?;
    }
    #[cfg(not(windows))]
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    TcpListener::from_std(socket.into())
}

/// The address one machine's limits are counted under: the address it connects from, an
/// IPv4-mapped IPv6 address as its IPv4 address. IPv6 addresses are counted one by one, not
/// by prefix: on a LAN every machine shares the one /64 (and `fe80::/64`), so a prefix would
/// make the whole network one machine. A machine's other addresses are linked to it by its
/// key once it joins (see [`crate::net::limits::Allowances`]).
pub fn address_key(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

/// Numbers connections, so a leave from a replaced connection is told apart.
static CONNECTIONS: AtomicU64 = AtomicU64::new(1);

/// What every connection of a room shares.
pub(super) struct Shared {
    /// Keys that have been members of this room (shared with the room task).
    pub(super) known: Arc<std::sync::Mutex<std::collections::HashSet<DeviceId>>>,
    /// The host's key, proved to every member.
    pub(super) identity: Identity,
    /// The room's password secret, for locked rooms.
    pub(super) password: Option<RoomSecret>,
    /// Deadlines of the handshake and of a silent member.
    pub(super) timeouts: Timeouts,
    /// Budgets a connection is held to (its queue's bytes, above all).
    pub(super) limits: Limits,
    /// The kinds of connection served besides members' (see [`Service`]).
    pub(super) services: Vec<Arc<dyn Service>>,
    /// How many connections may be where at once, and from whom.
    pub(super) gates: Arc<Gates>,
}

/// The host's limits on connections, shared by its listeners.
pub(super) struct Gates {
    /// Places for connections still in their handshake, from everyone; when all are taken,
    /// the biggest holder gives one up to a newcomer.
    pub(super) handshakes: Arc<Handshakes>,
    /// The same, per address: one machine cannot take every place.
    pub(super) handshakes_per_address: Arc<PerAddress>,
    /// Connections of any kind, per address.
    pub(super) connections_per_address: Arc<PerAddress>,
    /// Password tries per address and per key.
    pub(super) guesses: Arc<Guesses>,
}

/// What a connection holds while it is in its handshake, given back when it is through.
pub(super) struct HandshakePlaces {
    /// Among every connection's (see [`Handshakes`]).
    pub(super) all: HandshakePlace,
    /// Among its address's (`Limits` handshakes per address).
    pub(super) _address: AddressPlace,
}

/// What an accept loop hands each new connection.
pub(super) struct Accept {
    pub(super) shared: Arc<Shared>,
    pub(super) room: mpsc::Sender<RoomCmd>,
    /// The room's cancel token; each connection gets a child.
    pub(super) cancel: CancellationToken,
    pub(super) tasks: TaskTracker,
}

impl Accept {
    pub(super) async fn run(self, listener: TcpListener) {
        let gates = &self.shared.gates;
        loop {
            let accepted = tokio::select! {
                _ = self.cancel.cancelled() => return,
                _ = self.room.closed() => return, // the room task has finished
                accepted = listener.accept() => accepted,
            };
            let (stream, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: pause rather than spin.
                    tracing::warn!("accepting a member failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            // Over a limit, the connection is closed at once: it costs nobody else a place.
            let ip = address_key(peer.ip());
            let Some(connection) = gates.connections_per_address.take(ip) else {
                tracing::debug!("{peer}: too many connections from {ip}; closing");
                continue;
            };
            let Some(address) = gates.handshakes_per_address.take(ip) else {
                tracing::debug!("{peer}: too many handshakes from {ip}; closing");
                continue;
            };
            let token = self.cancel.child_token();
            let all = gates.handshakes.take(ip, token.clone());
            let conn = Conn {
                id: CONNECTIONS.fetch_add(1, Ordering::Relaxed),
                peer,
                room: self.room.clone(),
                token,
                tasks: self.tasks.clone(),
                shared: self.shared.clone(),
                _connection: connection,
            };
            let places = HandshakePlaces {
                all,
                _address: address,
            };
            self.tasks.spawn(conn.serve(stream, places));
        }
    }
}

/// One connection, from accept to close.
pub(super) struct Conn {
    /// Tells this connection's leave apart from an older one of the same member.
    pub(super) id: u64,
    pub(super) peer: SocketAddr,
    pub(super) room: mpsc::Sender<RoomCmd>,
    /// Ends this connection's reader and writer; a child of the room's token.
    pub(super) token: CancellationToken,
    pub(super) tasks: TaskTracker,
    pub(super) shared: Arc<Shared>,
    /// This connection's place among its address's, held for its whole life.
    pub(super) _connection: AddressPlace,
}

impl Conn {
    /// Handshake, then whatever the first frame asks for: to join (frames in to the room task
    /// while a writer task sends queued frames), a file, or which room this is.
    async fn serve(self, stream: TcpStream, places: HandshakePlaces) {
        let peer = self.peer;
        let _ = stream.set_nodelay(true);
        let timeouts = &self.shared.timeouts;
        // Everything up to the first frame counts against the handshake deadline.
        let deadline = Instant::now() + timeouts.handshake;
        let mut places = Some(places);
        let opened = async {
            let mut link = link::accept(stream, &self.shared.identity, timeouts).await?;
            // A key that has been a member here competes for no place with strangers.
            if self.is_known(&link.remote) {
                places = None;
            }
            if let Some(places) = &places {
                places.all.spoke();
            }
            match tokio::time::timeout_at(deadline, link.reader.recv()).await {
                Ok(Some(first)) => Ok((link, first?)),
                Ok(None) => Err(LinkError::Ended),
                Err(_) => Err(LinkError::TimedOut("no first frame in time")),
            }
        };
        let (link, first) = tokio::select! {
            _ = self.token.cancelled() => return,
            _ = self.room.closed() => return,
            opened = opened => match opened {
                Ok(opened) => opened,
                Err(LinkError::Ended) => return tracing::debug!("{peer}: left during the handshake"),
                Err(e) => return tracing::info!("{peer}: closing: {e}"),
            },
        };
        match first {
            Frame::Hello(hello) => self.serve_member(link, hello, places, deadline).await,
            // Another service's connection: it holds no handshake place from here on, and
            // its connection place until it ends.
            first if self.services().any(|s| s.takes(&first)) => {
                drop(places);
                let service = self.services().find(|s| s.takes(&first)).cloned();
                let incoming = Incoming {
                    link,
                    first,
                    peer,
                    token: self.token.clone(),
                    room: RoomHandle {
                        room: self.room.clone(),
                    },
                };
                if let Some(service) = service {
                    service.serve(incoming).await;
                }
            }
            Frame::Who => {
                let (reply, about) = oneshot::channel();
                if self.room.send(RoomCmd::About { reply }).await.is_ok()
                    && let Ok(about) = about.await
                {
                    link.answer_and_close(about).await;
                }
            }
            other => tracing::info!("{peer}: closing: sent {} first", other.kind()),
        }
    }

    fn services(&self) -> impl Iterator<Item = &Arc<dyn Service>> {
        self.shared.services.iter()
    }

    /// Whether `key` has been a member of this room.
    pub(super) fn is_known(&self, key: &PublicKey) -> bool {
        let known = self.shared.known.lock().expect("known keys");
        known.contains(&key.device())
    }
}
