//! The host side of a room, in parts: [`accept`] listens and routes each connection by its
//! first frame, [`room`] is the one task that owns the member list and the history, and
//! [`member`] serves one member's connection. Other kinds of connection (files) are
//! [`Service`]s registered with the host: it hands them their connections and a narrow
//! [`RoomHandle`], and never calls into them otherwise.

mod accept;
mod member;
mod room;

pub use accept::address_key;
use accept::{Accept, Gates, Shared, bind};
use room::{Room, RoomCmd};
use std::future::Future;
use std::pin::Pin;

use crate::net::identity::Identity;
use crate::net::limits::{Handshakes, Limits, PerAddress};
use crate::net::link::{Link, Timeouts};
use crate::net::password::{Guesses, RoomSecret};
use crate::protocol::{CloseCode, DeviceId, FileRef, Frame, RejectCode, RoomId};
use crate::store::{Database, History, ProblemSink, StoreError};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Commands queued for the room task; a member flooding it waits, it does not grow memory.
const ROOM_QUEUE: usize = 1024;

/// A kind of connection the host serves besides members' (the room's files): the accept
/// loop hands it each connection whose first frame it takes, once the link is up and within
/// the connection limits, and never calls into it otherwise (as iroh's `Router` hands
/// connections to a `ProtocolHandler`).
pub trait Service: Send + Sync + 'static {
    /// Whether a connection that opens with `first` is this service's.
    fn takes(&self, first: &Frame) -> bool;
    /// Serves one connection to its end.
    fn serve(self: Arc<Self>, incoming: Incoming) -> Pin<Box<dyn Future<Output = ()> + Send>>;
}

/// A connection handed to a [`Service`].
pub struct Incoming {
    /// Its link, through the handshake.
    pub link: Link,
    /// The frame it opened with.
    pub first: Frame,
    /// Where it comes from.
    pub peer: SocketAddr,
    /// Cancelled when the room closes (or cuts its connections off).
    pub token: CancellationToken,
    /// What it may ask of the room.
    pub room: RoomHandle,
}

/// The narrow part of the room a [`Service`] reaches: who a key is, a post of a file, and
/// words in the host's name.
#[derive(Clone)]
pub struct RoomHandle {
    /// The room task's commands.
    room: mpsc::Sender<RoomCmd>,
}

/// A member of the room, as a service knows it.
#[derive(Debug, Clone)]
pub struct Who {
    /// The name it is in the room under.
    pub name: String,
    /// The key it proved.
    pub device: DeviceId,
    /// The machine it connects from (see [`address_key`]): places and allowances are its.
    pub machine: IpAddr,
}

impl RoomHandle {
    /// The member holding `device` now; `None` if it is not in the room (or the room is
    /// closing).
    pub async fn who_is(&self, device: DeviceId) -> Option<Who> {
        let (reply, answer) = oneshot::channel();
        let asked = RoomCmd::WhoIs {
            device: device.clone(),
            reply,
        };
        self.room.send(asked).await.ok()?;
        let (name, machine) = answer.await.ok()??;
        Some(Who {
            name,
            device,
            machine,
        })
    }

    /// Posts `file` to the room from `who` (costing its allowance, as a post does): the
    /// message's id once it is on the disk, or why not. `None`: the room is closing.
    pub async fn post_file(
        &self,
        who: &Who,
        file: FileRef,
        share: Option<u64>,
    ) -> Option<Result<u64, RejectCode>> {
        let (reply, id) = oneshot::channel();
        let post = RoomCmd::PostFile {
            from: who.name.clone(),
            device: who.device.clone(),
            machine: who.machine,
            file,
            share,
            reply,
        };
        self.room.send(post).await.ok()?;
        id.await.ok()
    }

    /// The room says `text` in the host's name.
    pub async fn say(&self, text: String) {
        let _ = self.room.send(RoomCmd::HostSays { text }).await;
    }
}

/// What a room needs to start.
#[derive(Clone)]
pub struct HostConfig {
    /// The room's identity, checked against each member's hello.
    pub room: RoomId,
    /// The room's name, sent in the welcome.
    pub room_name: String,
    /// The hosting user's display name, shown as the room's host.
    pub host_name: String,
    /// The hosting device's key: every link proves it, and the member holding it is the host.
    pub identity: Identity,
    /// The room's folder: a history file an older lanchat left there is imported.
    pub dir: PathBuf,
    /// The profile's database, which holds the room's history; `None` opens one of the
    /// room's own in `dir` (tests and benchmarks).
    pub db: Option<Database>,
    /// Port to try first (the room's previous one); 0 or a taken port means any free port.
    pub port: u16,
    /// Listen on this address only; `None` means every address, IPv4 and IPv6 (tests use
    /// loopback).
    pub bind: Option<IpAddr>,
    /// Hears of problems the hosting user should know about.
    pub problems: Option<ProblemSink>,
    /// The kinds of connection the host serves besides members' (the room's files).
    pub services: Vec<Arc<dyn Service>>,
    /// The room's password secret; `None` for an open room.
    pub password: Option<RoomSecret>,
    /// What one address or one member may take.
    pub limits: Limits,
    /// Deadlines for every connection.
    pub timeouts: Timeouts,
}

impl HostConfig {
    /// A room with the default limits and deadlines, open to anyone who finds it.
    pub fn new(
        room: RoomId,
        room_name: String,
        host_name: String,
        identity: Identity,
        dir: PathBuf,
    ) -> Self {
        Self {
            room,
            room_name,
            host_name,
            identity,
            db: None,
            port: 0,
            bind: None,
            problems: None,
            services: Vec::new(),
            dir,
            password: None,
            limits: Limits::default(),
            timeouts: Timeouts::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("could not listen for members: {0}")]
    Listen(std::io::Error),
    #[error("could not open the room's history: {0}")]
    History(StoreError),
}

/// What a room holds for its members, in bytes: each member's share is capped by
/// `Limits::member_queue_bytes` and `Limits::held_bytes`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Sessions in the room (members and those passing through).
    pub sessions: usize,
    /// Encoded frames queued for them and not yet written, in all.
    pub queued: usize,
    /// The most queued for any one of them.
    pub most_queued: usize,
    /// Posts held back while their senders were over their allowance, in all.
    pub held: usize,
}

/// A running room. Dropping it without [`RoomHost::close`] leaves members to time out.
pub struct RoomHost {
    /// The port members connect to (the same on IPv4 and IPv6).
    pub port: u16,
    /// The number of members, for the room's advert.
    members: watch::Receiver<u32>,
    /// Commands to the room task.
    room: mpsc::Sender<RoomCmd>,
    /// Stops the accept loops and every member task.
    cancel: CancellationToken,
    /// Every task of this room, to wait for them at close.
    tasks: TaskTracker,
}

impl RoomHost {
    /// Opens the history, binds the listeners and starts accepting members.
    pub async fn start(config: HostConfig) -> Result<RoomHost, HostError> {
        let (dir, db, room) = (config.dir.clone(), config.db.clone(), config.room.clone());
        let (history, warning, known) = tokio::task::spawn_blocking(move || {
            let db = match db {
                Some(db) => db,
                None => Database::open(&dir.join("lanchat.db"))?.0,
            };
            let (history, warning) = History::open(&db, &room, &dir.join("history.jsonl"))?;
            let known = crate::store::senders(&db, &room)?;
            Ok::<_, StoreError>((history, warning, known))
        })
        .await
        .map_err(|e| HostError::History(StoreError::Sqlite(e.to_string())))?
        .map_err(HostError::History)?;
        let listeners = bind(config.bind, config.port).map_err(HostError::Listen)?;
        let port = listeners[0].local_addr().map_err(HostError::Listen)?.port();

        let known = Arc::new(std::sync::Mutex::new(known));
        let cancel = CancellationToken::new();
        let tasks = TaskTracker::new();
        let (count_tx, count_rx) = watch::channel(0);
        let (room_tx, room_rx) = mpsc::channel(ROOM_QUEUE);
        let gates = Arc::new(Gates {
            handshakes: Handshakes::new(config.limits.handshakes),
            handshakes_per_address: PerAddress::new(config.limits.handshakes_per_address),
            connections_per_address: PerAddress::new(config.limits.connections_per_address),
            guesses: Guesses::new(config.limits.password_wait, config.limits.password_wait_max),
        });
        let shared = Arc::new(Shared {
            known: known.clone(),
            identity: config.identity.clone(),
            password: config.password.clone(),
            timeouts: config.timeouts,
            limits: config.limits,
            services: config.services.clone(),
            gates,
        });
        let room = Room::new(config, history, known, count_tx);
        if let Some(warning) = warning {
            room.problem(format!("{}: {warning}", room.config.room_name));
        }
        tasks.spawn(room.run(room_rx));
        for listener in listeners {
            let accept = Accept {
                shared: shared.clone(),
                room: room_tx.clone(),
                cancel: cancel.clone(),
                tasks: tasks.clone(),
            };
            tasks.spawn(accept.run(listener));
        }
        tracing::info!("room listening on port {port}");
        Ok(RoomHost {
            port,
            members: count_rx,
            room: room_tx,
            cancel,
            tasks,
        })
    }

    /// Watches the member count.
    pub fn member_count(&self) -> watch::Receiver<u32> {
        self.members.clone()
    }

    /// What the room holds for its members now, against their budgets (see [`Usage`]).
    pub async fn usage(&self) -> Usage {
        let (reply, usage) = oneshot::channel();
        if self.room.send(RoomCmd::Usage { reply }).await.is_err() {
            return Usage::default();
        }
        usage.await.unwrap_or_default()
    }

    /// Changes the host's display name as the room shows it. Never waits: with the room's
    /// queue full (a flood), the name is handed over by a task as soon as there is room.
    pub fn rename_host(&self, name: String) {
        if let Err(mpsc::error::TrySendError::Full(cmd)) =
            self.room.try_send(RoomCmd::RenameHost { name })
        {
            let room = self.room.clone();
            tokio::spawn(async move { room.send(cmd).await });
        }
    }

    /// Tells every member the room is closing and why, stores the history and stops, within
    /// `limit`.
    pub async fn close(self, code: CloseCode, limit: Duration) {
        let _ = self.room.send(RoomCmd::Close { code }).await;
        self.tasks.close();
        // The room task ends each session once it has written the goodbye; the token cuts
        // off whatever has not finished by the limit.
        if tokio::time::timeout(limit, self.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("room tasks did not finish within {limit:?}; cutting them off");
            self.cancel.cancel();
            self.tasks.wait().await;
        }
    }
}
