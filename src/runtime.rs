//! The tokio side: routes front-end commands to hosts and sessions, discovery results to the
//! front end and to waiting sessions, and shuts everything down in bounded time.

use crate::bridge::{Backend, Command, Event, EventSender, NetStatus};
use crate::discovery::{Advert, Discovery, DiscoveryConfig, DiscoveryEvent, RoomAd};
use crate::net::host::{HostConfig, RoomHost};
use crate::net::session::{Session, SessionConfig};
use crate::protocol::{RoomId, check_name};
use crate::store::{HostedRoom, Paths, Settings};
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;
use tokio::sync::mpsc;

/// Longest a room, a session or discovery gets to say goodbye at shutdown.
const GOODBYE_LIMIT: Duration = Duration::from_secs(2);
/// How often the interface list is re-read for the status line.
const INTERFACE_POLL: Duration = Duration::from_secs(5);

/// What the runtime starts from.
pub struct RuntimeOptions {
    pub paths: Paths,
    /// As loaded at start; the runtime owns them from then on and saves changes.
    pub settings: Settings,
    /// `None` turns discovery off (loopback tests, and `--addr` joins).
    pub discovery: Option<DiscoveryConfig>,
}

/// The runtime on a thread of its own, for the window.
pub struct RuntimeThread {
    thread: std::thread::JoinHandle<()>,
}

impl RuntimeThread {
    /// Starts a tokio runtime on a new thread and runs [`run`] on it.
    pub fn spawn(backend: Backend, options: RuntimeOptions) -> std::io::Result<RuntimeThread> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("lanchat-rt")
            .enable_all()
            .build()?;
        let thread = std::thread::Builder::new()
            .name("lanchat-runtime".into())
            .spawn(move || {
                rt.block_on(run(backend, options));
                rt.shutdown_timeout(Duration::from_secs(1));
            })?;
        Ok(RuntimeThread { thread })
    }

    /// Waits for the runtime to finish (after [`Command::Shutdown`]); bounded by the
    /// runtime's own goodbye limits.
    pub fn join(self) {
        let _ = self.thread.join();
    }
}

/// One room this app hosts.
struct Hosted {
    host: RoomHost,
    /// What is advertised, kept to re-advertise when the member count changes.
    advert: Advert,
}

/// The runtime's state.
struct Runtime {
    events: EventSender,
    paths: Paths,
    settings: Settings,
    discovery: Option<Discovery>,
    hosts: HashMap<RoomId, Hosted>,
    sessions: HashMap<RoomId, Session>,
    /// The newest advert of each room on the network, to redial waiting sessions.
    known: HashMap<RoomId, RoomAd>,
    /// Member counts of hosted rooms, from their watch tasks.
    counts_tx: mpsc::UnboundedSender<(RoomId, u32)>,
    /// Sessions report here when their host vanished.
    gone_tx: mpsc::UnboundedSender<RoomId>,
    /// Names this app run for the hosts' post de-duplication.
    resume: u64,
    status: NetStatus,
}

/// Runs until [`Command::Shutdown`] or until the front end is gone, then says goodbye
/// everywhere and sends [`Event::Stopped`].
pub async fn run(backend: Backend, options: RuntimeOptions) {
    let Backend {
        mut commands,
        events,
    } = backend;
    let (counts_tx, mut counts_rx) = mpsc::unbounded_channel();
    let (gone_tx, mut gone_rx) = mpsc::unbounded_channel();
    let mut rt = Runtime {
        events,
        paths: options.paths,
        settings: options.settings,
        discovery: None,
        hosts: HashMap::new(),
        sessions: HashMap::new(),
        known: HashMap::new(),
        counts_tx,
        gone_tx,
        resume: rand::random(),
        status: NetStatus::default(),
    };
    let mut found = match options.discovery {
        Some(config) => match Discovery::start(config) {
            Ok((discovery, found)) => {
                rt.discovery = Some(discovery);
                Some(found)
            }
            Err(e) => {
                rt.status.problem = Some(format!(
                    "{e}. Rooms on the network cannot be found; you can still join one by address."
                ));
                None
            }
        },
        None => None,
    };
    rt.refresh_status();
    let mut poll = tokio::time::interval(INTERFACE_POLL);
    poll.tick().await;

    loop {
        tokio::select! {
            cmd = commands.recv() => match cmd {
                Some(Command::Shutdown) | None => break,
                Some(cmd) => rt.handle(cmd).await,
            },
            Some(event) = async { found.as_mut()?.recv().await } => rt.discovered(event),
            Some((room, members)) = counts_rx.recv() => rt.members_changed(room, members),
            Some(room) = gone_rx.recv() => {
                // Its advert may outlive the host by minutes: have discovery check it.
                if let Some(discovery) = &rt.discovery && !rt.hosts.contains_key(&room) {
                    discovery.verify(&room);
                }
            }
            _ = poll.tick() => rt.refresh_status(),
        }
    }
    rt.shutdown().await;
}

impl Runtime {
    async fn handle(&mut self, cmd: Command) {
        match cmd {
            Command::SetName(name) => {
                if check_name("name", &name).is_ok() {
                    self.settings.name = Some(name);
                    self.save_settings();
                }
            }
            Command::Host { name, id } => self.host(name, id).await,
            Command::StopHosting(room) => self.stop_hosting(&room).await,
            Command::Join { room, addrs } => self.join(room, addrs),
            Command::Leave(room) => {
                if let Some(session) = self.sessions.remove(&room) {
                    session.leave(GOODBYE_LIMIT).await;
                }
            }
            Command::Send { room, seq, text } => match self.sessions.get(&room) {
                Some(session) => session.post(seq, text),
                None => self.events.send(Event::Rejected {
                    room,
                    seq,
                    reason: "you are not in this room".into(),
                }),
            },
            Command::Shutdown => unreachable!("handled by the loop"),
        }
    }

    async fn host(&mut self, name: String, id: Option<RoomId>) {
        let name = name.trim().to_owned();
        if let Err(e) = check_name("The room name", &name) {
            return self.events.send(Event::HostFailed { name, error: e });
        }
        let id = id.unwrap_or_else(RoomId::random);
        if self.hosts.contains_key(&id) {
            return self.events.send(Event::HostFailed {
                name,
                error: "this room is already open".into(),
            });
        }
        let remembered_port = self
            .settings
            .hosted
            .iter()
            .find(|r| r.id == id)
            .map_or(0, |r| r.port);
        let host_name = self.settings.display_name();
        let config = HostConfig {
            room: id.clone(),
            room_name: name.clone(),
            host_name: host_name.clone(),
            host_device: self.settings.device.clone(),
            history: self.paths.room_dir(&id).join("history.jsonl"),
            port: remembered_port,
        };
        let host = match RoomHost::start(config).await {
            Ok(host) => host,
            Err(e) => {
                return self.events.send(Event::HostFailed {
                    name,
                    error: e.to_string(),
                });
            }
        };
        let port = host.port;
        self.settings.remember_room(HostedRoom {
            id: id.clone(),
            name: name.clone(),
            port,
        });
        self.save_settings();

        let mut count = host.member_count();
        let counts = self.counts_tx.clone();
        let room = id.clone();
        tokio::spawn(async move {
            while count.changed().await.is_ok() {
                let n = *count.borrow_and_update();
                if counts.send((room.clone(), n)).is_err() {
                    break;
                }
            }
        });

        let advert = Advert {
            id: id.clone(),
            name: name.clone(),
            host: host_name,
            port,
            members: 0,
            locked: false,
        };
        if let Some(discovery) = &mut self.discovery
            && let Err(e) = discovery.advertise(&advert)
        {
            self.status.problem = Some(format!("{e}; others can join by address (port {port})"));
            self.events.send(Event::Network(self.status.clone()));
        }
        self.hosts.insert(id.clone(), Hosted { host, advert });
        self.events.send(Event::Hosting {
            room: id.clone(),
            name,
            port,
        });
        // The host's own user is a member like any other, over loopback.
        self.join(id, vec![SocketAddr::from((Ipv4Addr::LOCALHOST, port))]);
    }

    async fn stop_hosting(&mut self, room: &RoomId) {
        let Some(hosted) = self.hosts.remove(room) else {
            return;
        };
        if let Some(session) = self.sessions.remove(room) {
            session.leave(GOODBYE_LIMIT).await;
        }
        if let Some(discovery) = &mut self.discovery {
            discovery.withdraw(room).await;
        }
        let reason = format!("{} closed the room", self.settings.display_name());
        hosted.host.close(reason, GOODBYE_LIMIT).await;
        self.events
            .send(Event::HostingStopped { room: room.clone() });
    }

    fn join(&mut self, room: RoomId, addrs: Vec<SocketAddr>) {
        if let Some(session) = self.sessions.get(&room) {
            if !addrs.is_empty() {
                session.redial(addrs);
            }
            return;
        }
        let config = SessionConfig {
            room: room.clone(),
            addrs,
            name: self.settings.display_name(),
            device: self.settings.device.clone(),
            resume: self.resume,
            host_gone: Some(self.gone_tx.clone()),
        };
        self.sessions
            .insert(room, Session::spawn(config, self.events.clone()));
    }

    fn discovered(&mut self, event: DiscoveryEvent) {
        match event {
            DiscoveryEvent::Found(ad) => {
                // Our own rooms are reached over loopback; others are redialled where seen.
                if let Some(session) = self.sessions.get(&ad.id)
                    && !self.hosts.contains_key(&ad.id)
                {
                    session.redial(ad.addrs.clone());
                }
                self.known.insert(ad.id.clone(), ad.clone());
                self.events.send(Event::RoomFound(ad));
            }
            DiscoveryEvent::Lost(id) => {
                self.known.remove(&id);
                self.events.send(Event::RoomLost(id));
            }
        }
    }

    fn members_changed(&mut self, room: RoomId, members: u32) {
        let Some(hosted) = self.hosts.get_mut(&room) else {
            return;
        };
        hosted.advert.members = members;
        if let Some(discovery) = &mut self.discovery
            && let Err(e) = discovery.advertise(&hosted.advert)
        {
            tracing::warn!("updating the advert of {room}: {e}");
        }
    }

    fn refresh_status(&mut self) {
        let mut status = NetStatus {
            interfaces: self
                .discovery
                .as_ref()
                .map(Discovery::interfaces)
                .unwrap_or_default(),
            discovery: self.discovery.is_some(),
            problem: self.status.problem.clone(),
        };
        if status.discovery && status.interfaces.is_empty() {
            status.problem = Some(
                "No network connection found: connect to Wi-Fi or a cable (or pick an interface with --interface)."
                    .into(),
            );
        } else if status
            .problem
            .as_deref()
            .is_some_and(|p| p.starts_with("No network connection"))
        {
            status.problem = None;
        }
        if status != self.status {
            self.status = status;
            self.events.send(Event::Network(self.status.clone()));
        }
    }

    /// Saves the settings off the async threads; a failure is shown in the status line.
    fn save_settings(&self) {
        let settings = self.settings.clone();
        let path = self.paths.settings_file();
        let events = self.events.clone();
        let status = self.status.clone();
        tokio::task::spawn_blocking(move || {
            if let Err(e) = settings.save(&path) {
                tracing::error!("{e}");
                events.send(Event::Network(NetStatus {
                    problem: Some(format!("Settings were not saved: {e}")),
                    ..status
                }));
            }
        });
    }

    /// Leaves every room, closes every hosted room and withdraws every advert, all within
    /// a bounded time.
    async fn shutdown(mut self) {
        // All at once: adverts go (browsers drop the rooms), members hear the room close,
        // and our own sessions say goodbye.
        let leaving = self.sessions.drain().map(|(_, s)| s.leave(GOODBYE_LIMIT));
        let reason = format!("{}'s lanchat closed", self.settings.display_name());
        let closing = self
            .hosts
            .drain()
            .map(|(_, h)| h.host.close(reason.clone(), GOODBYE_LIMIT));
        let withdrawing = async {
            if let Some(discovery) = self.discovery.take() {
                discovery.shutdown().await;
            }
        };
        futures::join!(
            futures::future::join_all(leaving),
            futures::future::join_all(closing),
            withdrawing
        );
        self.events.send(Event::Stopped);
    }
}
