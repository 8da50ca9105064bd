//! The tokio side: routes front-end commands to hosts and sessions, discovery results to the
//! front end and to waiting sessions, and shuts everything down in bounded time. Nothing slow
//! runs inside its loop: goodbyes and look-ups are spawned, so one closing room never holds up
//! a message to another.

use crate::bridge::{Backend, Command, Event, EventSender, NetStatus};
use crate::desktop;
use crate::discovery::{Advert, Discovery, DiscoveryConfig, DiscoveryEvent};
use crate::files::{FileStore, Peer, Transfers};
use crate::net::host::{HostConfig, RoomHost};
use crate::net::session::{Session, SessionConfig, ask_who};
use crate::protocol::{RoomId, check_name};
use crate::store::{HostedRoom, Paths, ProblemSink, Settings};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio_util::task::TaskTracker;

/// Longest a room, a session or discovery gets to say goodbye at shutdown.
const GOODBYE_LIMIT: Duration = Duration::from_secs(2);
/// How often the interface list is re-read for the status line.
const INTERFACE_POLL: Duration = Duration::from_secs(5);

/// What the runtime starts from.
pub struct RuntimeOptions {
    /// Where settings and room histories live.
    pub paths: Paths,
    /// As loaded at start; the runtime owns them from then on and saves changes.
    pub settings: Settings,
    /// A display name for this run only (headless `--name`), not saved.
    pub name: Option<String>,
    /// `None` turns discovery off (loopback tests, and `--addr` joins).
    pub discovery: Option<DiscoveryConfig>,
    /// Hosted rooms listen on this address only; `None` means every address. Tests use
    /// loopback.
    pub bind: Option<IpAddr>,
    /// Save received files here for this run (headless `--downloads`), whatever the settings say.
    pub downloads: Option<std::path::PathBuf>,
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
    /// What is advertised, kept to re-advertise when the member count or host name changes.
    advert: Advert,
}

/// What the runtime's own spawned tasks report back to its loop.
enum Internal {
    /// A hosted room's member count changed.
    Members(RoomId, u32),
    /// A room given by address was identified: join it there.
    Found {
        room: RoomId,
        addrs: Vec<SocketAddr>,
    },
    /// The user picked files to send.
    Send {
        room: RoomId,
        paths: Vec<std::path::PathBuf>,
    },
    /// The user picked a downloads folder.
    Downloads(std::path::PathBuf),
}

/// The runtime's state.
struct Runtime {
    /// To the front end.
    events: EventSender,
    /// Where room histories go.
    paths: Paths,
    /// The settings as they are now; every change goes to `saver`.
    settings: Settings,
    /// The newest settings to write; a single task writes them, so saves never interleave.
    saver: watch::Sender<Settings>,
    /// This run's display name, if given on the command line.
    name_override: Option<String>,
    /// `None` when discovery is off or could not start.
    discovery: Option<Discovery>,
    /// Rooms this app hosts.
    hosts: HashMap<RoomId, Hosted>,
    /// Rooms this app is in (hosted ones included).
    sessions: HashMap<RoomId, Session>,
    /// Where each room we are in was last reached, for file transfers.
    room_addrs: HashMap<RoomId, Vec<SocketAddr>>,
    /// Files on their way.
    transfers: Transfers,
    /// Reports from spawned tasks.
    internal: mpsc::UnboundedSender<Internal>,
    /// Sessions report here when their host vanished.
    host_gone: mpsc::UnboundedSender<RoomId>,
    /// Goodbyes still being said (sessions leaving, rooms closing), awaited at shutdown.
    goodbyes: TaskTracker,
    /// Names this app run for the hosts' post de-duplication.
    resume: u64,
    /// Hosted rooms listen here only, if set.
    bind: Option<IpAddr>,
    /// What the status line says now.
    status: NetStatus,
}

/// Runs until [`Command::Shutdown`] or until the front end is gone, then says goodbye
/// everywhere and sends [`Event::Stopped`].
pub async fn run(backend: Backend, options: RuntimeOptions) {
    let Backend {
        mut commands,
        events,
    } = backend;
    let (internal, mut internal_rx) = mpsc::unbounded_channel();
    let (host_gone, mut host_gone_rx) = mpsc::unbounded_channel();
    let (saver, saver_task) = start_saver(
        options.paths.settings_file(),
        options.settings.clone(),
        events.clone(),
    );
    let downloads = options
        .downloads
        .clone()
        .or_else(|| options.settings.downloads.clone())
        .unwrap_or_else(|| options.paths.downloads.clone());
    events.send(Event::Downloads(downloads.clone()));
    let transfers = Transfers::new(
        events.clone(),
        downloads,
        options.paths.data.join("saved.json"),
    )
    .await;
    let mut rt = Runtime {
        events,
        paths: options.paths,
        settings: options.settings,
        saver,
        name_override: options.name,
        discovery: None,
        hosts: HashMap::new(),
        sessions: HashMap::new(),
        room_addrs: HashMap::new(),
        transfers,
        internal,
        host_gone,
        goodbyes: TaskTracker::new(),
        resume: rand::random(),
        bind: options.bind,
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
            Some(report) = internal_rx.recv() => rt.internal(report),
            Some(room) = host_gone_rx.recv() => {
                // Its advert may outlive the host by minutes: have discovery check it.
                if let Some(discovery) = &rt.discovery && !rt.hosts.contains_key(&room) {
                    discovery.verify(&room);
                }
            }
            _ = poll.tick() => rt.refresh_status(),
        }
    }
    rt.shutdown().await;
    let _ = tokio::time::timeout(GOODBYE_LIMIT, saver_task).await;
}

/// Starts the task that writes settings, newest first; failures reach the user as alerts.
fn start_saver(
    path: std::path::PathBuf,
    initial: Settings,
    events: EventSender,
) -> (watch::Sender<Settings>, tokio::task::JoinHandle<()>) {
    let (tx, mut rx) = watch::channel(initial);
    let task = tokio::spawn(async move {
        while rx.changed().await.is_ok() {
            let settings = rx.borrow_and_update().clone();
            let path = path.clone();
            match tokio::task::spawn_blocking(move || settings.save(&path)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => events.send(Event::Alert(format!("Settings were not saved: {e}"))),
                Err(e) => events.send(Event::Alert(format!("Settings were not saved: {e}"))),
            }
        }
    });
    (tx, task)
}

impl Runtime {
    /// The display name in use.
    fn name(&self) -> String {
        self.name_override
            .clone()
            .unwrap_or_else(|| self.settings.display_name())
    }

    fn save_settings(&self) {
        self.saver.send_replace(self.settings.clone());
    }

    async fn handle(&mut self, cmd: Command) {
        match cmd {
            Command::SetName(name) => self.rename(name).await,
            Command::Host { name, id } => self.host(name, id).await,
            Command::StopHosting(room) => self.stop_hosting(&room),
            Command::Join { room, addrs } => self.join(room, addrs),
            Command::JoinAddress { addr, expect } => self.join_address(addr, expect),
            Command::SendFiles { room, paths } => self.send_files(room, paths),
            Command::PickFiles { room } => {
                let internal = self.internal.clone();
                tokio::spawn(async move {
                    let picked = rfd::AsyncFileDialog::new()
                        .set_title("Send files to the room")
                        .pick_files()
                        .await;
                    if let Some(files) = picked {
                        let paths = files.iter().map(|f| f.path().to_path_buf()).collect();
                        let _ = internal.send(Internal::Send { room, paths });
                    }
                });
            }
            Command::PickDownloads => {
                let internal = self.internal.clone();
                let start = self.transfers.downloads().to_path_buf();
                tokio::spawn(async move {
                    let picked = rfd::AsyncFileDialog::new()
                        .set_title("Save received files in")
                        .set_directory(start)
                        .pick_folder()
                        .await;
                    if let Some(dir) = picked {
                        let _ = internal.send(Internal::Downloads(dir.path().to_path_buf()));
                    }
                });
            }
            Command::Download { room, file } => match self.peer(&room) {
                Some(peer) => self.transfers.download(peer, file),
                None => self
                    .transfers
                    .refuse(room, file, "join the room to download it"),
            },
            Command::CancelTransfer(id) => self.transfers.cancel(id),
            Command::Open(path) => self.spawn_opener(path, desktop::open),
            Command::Reveal(path) => self.spawn_opener(path, desktop::reveal),
            Command::SetFilesLimit(limit) => {
                self.settings.files_limit = limit;
                self.save_settings();
                for hosted in self.hosts.values() {
                    hosted.host.set_files_limit(limit);
                }
            }
            Command::Leave(room) => {
                self.room_addrs.remove(&room);
                self.transfers.cancel_room(&room);
                if let Some(session) = self.sessions.remove(&room) {
                    self.goodbyes.spawn(session.leave(GOODBYE_LIMIT));
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

    async fn rename(&mut self, name: String) {
        if check_name("name", &name).is_err() {
            return;
        }
        self.settings.name = Some(name.clone());
        self.save_settings();
        if self.name_override.is_some() {
            return;
        }
        for session in self.sessions.values() {
            session.rename(name.clone());
        }
        for hosted in self.hosts.values_mut() {
            hosted.host.rename_host(name.clone()).await;
            hosted.advert.host = name.clone();
            if let Some(discovery) = &mut self.discovery
                && let Err(e) = discovery.advertise(&hosted.advert)
            {
                tracing::warn!("updating the advert of {}: {e}", hosted.advert.id);
            }
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
        let events = self.events.clone();
        let problems: ProblemSink = Arc::new(move |text| events.send(Event::Alert(text)));
        let config = HostConfig {
            room: id.clone(),
            room_name: name.clone(),
            host_name: self.name(),
            host_device: self.settings.device.clone(),
            history: self.paths.room_dir(&id).join("history.jsonl"),
            port: remembered_port,
            bind: self.bind,
            problems: Some(problems),
            files: FileStore::new(
                self.paths.room_dir(&id).join("files"),
                self.settings.files_limit,
            ),
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
        let internal = self.internal.clone();
        let room = id.clone();
        tokio::spawn(async move {
            while count.changed().await.is_ok() {
                let n = *count.borrow_and_update();
                if internal.send(Internal::Members(room.clone(), n)).is_err() {
                    break;
                }
            }
        });

        let advert = Advert {
            id: id.clone(),
            name: name.clone(),
            host: self.name(),
            port,
            members: 0,
            locked: false,
        };
        if let Some(discovery) = &mut self.discovery
            && let Err(e) = discovery.advertise(&advert)
        {
            self.events.send(Event::Alert(format!(
                "{e}; others can still join by address (port {port})"
            )));
        }
        self.hosts.insert(id.clone(), Hosted { host, advert });
        self.events.send(Event::Hosting {
            room: id.clone(),
            name,
            port,
        });
        // The host's own user is a member like any other, over loopback.
        let loopback = match self.bind {
            Some(ip) if !ip.is_unspecified() => ip,
            _ => IpAddr::V4(Ipv4Addr::LOCALHOST),
        };
        self.join(id, vec![SocketAddr::new(loopback, port)]);
    }

    /// Closes a hosted room: the advert goes at once, the goodbyes in the background.
    fn stop_hosting(&mut self, room: &RoomId) {
        let Some(hosted) = self.hosts.remove(room) else {
            return;
        };
        self.transfers.cancel_room(room);
        let session = self.sessions.remove(room);
        let withdrawn = self.discovery.as_mut().map(|d| d.withdraw(room));
        let reason = format!("{} closed the room", self.name());
        let events = self.events.clone();
        let room = room.clone();
        self.goodbyes.spawn(async move {
            if let Some(session) = session {
                session.leave(GOODBYE_LIMIT).await;
            }
            futures::join!(hosted.host.close(reason, GOODBYE_LIMIT), async {
                if let Some(withdrawn) = withdrawn {
                    withdrawn.await;
                }
            });
            events.send(Event::HostingStopped { room });
        });
    }

    /// Who we are in a room we are in, and where its host is, for a transfer.
    fn peer(&self, room: &RoomId) -> Option<Peer> {
        let addrs = self.room_addrs.get(room)?.clone();
        Some(Peer {
            addrs,
            room: room.clone(),
            device: self.settings.device.clone(),
            name: self.name(),
        })
    }

    fn send_files(&mut self, room: RoomId, paths: Vec<std::path::PathBuf>) {
        let Some(peer) = self.peer(&room) else {
            return self.events.send(Event::Alert(
                "Join the room before sending files to it.".into(),
            ));
        };
        for path in paths {
            self.transfers.upload(peer.clone(), path);
        }
    }

    /// Opens or reveals a file off the async threads; a failure is said to the user.
    fn spawn_opener(
        &self,
        path: std::path::PathBuf,
        how: fn(&std::path::Path) -> std::io::Result<()>,
    ) {
        let events = self.events.clone();
        tokio::task::spawn_blocking(move || {
            if let Err(e) = how(&path) {
                events.send(Event::Alert(format!(
                    "Could not open {}: {e}",
                    path.display()
                )));
            }
        });
    }

    fn join(&mut self, room: RoomId, addrs: Vec<SocketAddr>) {
        if !addrs.is_empty() {
            self.room_addrs.insert(room.clone(), addrs.clone());
        }
        if let Some(session) = self.sessions.get(&room) {
            if !addrs.is_empty() {
                session.redial(addrs);
            }
            return;
        }
        let config = SessionConfig {
            room: room.clone(),
            addrs,
            name: self.name(),
            device: self.settings.device.clone(),
            resume: self.resume,
            host_gone: Some(self.host_gone.clone()),
        };
        self.sessions
            .insert(room, Session::spawn(config, self.events.clone()));
    }

    /// Finds out which room runs at an address typed by a person, then joins it.
    fn join_address(&mut self, addr: String, expect: Option<String>) {
        let events = self.events.clone();
        let internal = self.internal.clone();
        tokio::spawn(async move {
            let found = async {
                let addrs: Vec<SocketAddr> = tokio::net::lookup_host(&addr)
                    .await
                    .map_err(|e| format!("cannot resolve {addr}: {e}"))?
                    .collect();
                let about = ask_who(&addrs)
                    .await
                    .map_err(|e| format!("no room at {addr}: {e}"))?;
                if let Some(expect) = expect
                    && about.room.as_str() != expect
                    && about.room_name != expect
                {
                    return Err(format!(
                        "{addr} runs the room {:?} ({}), not {expect:?}",
                        about.room_name, about.room
                    ));
                }
                Ok(Internal::Found {
                    room: about.room,
                    addrs,
                })
            };
            match found.await {
                Ok(found) => {
                    let _ = internal.send(found);
                }
                Err(error) => events.send(Event::JoinFailed { error }),
            }
        });
    }

    fn internal(&mut self, report: Internal) {
        match report {
            Internal::Members(room, members) => self.members_changed(room, members),
            Internal::Found { room, addrs } => self.join(room, addrs),
            Internal::Send { room, paths } => self.send_files(room, paths),
            Internal::Downloads(dir) => {
                self.settings.downloads = Some(dir.clone());
                self.save_settings();
                self.transfers.set_downloads(dir.clone());
                self.events.send(Event::Downloads(dir));
            }
        }
    }

    fn discovered(&mut self, event: DiscoveryEvent) {
        match event {
            DiscoveryEvent::Found(ad) => {
                // Our own rooms are reached over loopback; others are redialled where seen.
                if let Some(session) = self.sessions.get(&ad.id)
                    && !self.hosts.contains_key(&ad.id)
                {
                    session.redial(ad.addrs.clone());
                    self.room_addrs.insert(ad.id.clone(), ad.addrs.clone());
                }
                self.events.send(Event::RoomFound(ad));
            }
            DiscoveryEvent::Lost(id) => self.events.send(Event::RoomLost(id)),
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
        const NO_NETWORK: &str = "No network connection found: connect to Wi-Fi or a cable (or pick an interface with --interface).";
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
            status.problem = Some(NO_NETWORK.into());
        } else if status.problem.as_deref() == Some(NO_NETWORK) {
            status.problem = None;
        }
        if status != self.status {
            self.status = status;
            self.events.send(Event::Network(self.status.clone()));
        }
    }

    /// Leaves every room, closes every hosted room and withdraws every advert, all at once
    /// and within a bounded time.
    async fn shutdown(mut self) {
        let reason = format!("{}'s lanchat closed", self.name());
        let leaving = self.sessions.drain().map(|(_, s)| s.leave(GOODBYE_LIMIT));
        let closing = self
            .hosts
            .drain()
            .map(|(_, h)| h.host.close(reason.clone(), GOODBYE_LIMIT));
        let withdrawing = async {
            if let Some(discovery) = self.discovery.take() {
                discovery.shutdown().await;
            }
        };
        self.transfers.shutdown();
        self.goodbyes.close();
        futures::join!(
            futures::future::join_all(leaving),
            futures::future::join_all(closing),
            withdrawing,
            self.goodbyes.wait()
        );
        self.events.send(Event::Stopped);
    }
}
