//! The tokio side: routes front-end commands to hosts and sessions, discovery results to the
//! front end and to waiting sessions, and shuts everything down in bounded time. Nothing slow
//! runs inside its loop: goodbyes and look-ups are spawned, so one closing room never holds up
//! a message to another.

use crate::bridge::{Backend, Command, Event, EventSender, NetStatus};
use crate::desktop;
use crate::discovery::{Advert, Discovery, DiscoveryConfig, DiscoveryEvent};
use crate::files::{FileStore, Peer, Transfers};
use crate::net::host::{HostConfig, RoomHost};
use crate::net::identity::{Identity, PublicKey};
use crate::net::limits::Limits;
use crate::net::link::{Expect, Timeouts};
use crate::net::password::RoomSecret;
use crate::net::session::{Session, SessionConfig, WhoError, ask_who};
use crate::net::trust::{KnownHosts, KnownPeople};
use crate::protocol::{RoomId, check_name};

use crate::store::{
    Database, DirectStore, HostedRoom, MemberStore, Paths, ProblemSink, Settings, joined_rooms,
    stored_after,
};
use backon::BackoffBuilder;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio_util::task::TaskTracker;

/// Stretches a typed password into a room's secret on a blocking thread (it takes a
/// memory-hard moment).
async fn secret(room: &RoomId, password: String) -> RoomSecret {
    let room = room.clone();
    tokio::task::spawn_blocking(move || RoomSecret::derive(&room, &password))
        .await
        .expect("stretching a password does not panic")
}

/// Longest a room, a session or discovery gets to say goodbye at shutdown.
const GOODBYE_LIMIT: Duration = Duration::from_secs(2);
/// The waits before asking an address given by hand again when nobody answered there:
/// 0.5 s doubling to 8 s, each with a random part, six times (about half a minute in all).
const ASK_AGAIN: backon::ExponentialBuilder = backon::ExponentialBuilder::new()
    .with_jitter()
    .with_min_delay(Duration::from_millis(500))
    .with_max_delay(Duration::from_secs(8))
    .with_max_times(6);
/// How often a hosted room's member count is published at most: each new count is an
/// announcement that every device on the network hears.
const ADVERTISE_EVERY: Duration = Duration::from_secs(2);
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
    /// This device's key: every link proves it.
    pub identity: Identity,
    /// Deadlines for every connection (tests shorten them).
    pub timeouts: Timeouts,
    /// What rooms this app hosts let one address or member take.
    pub limits: Limits,
    /// Go back into the rooms this profile was in when it last ran (the window does; a
    /// headless command joins only the room it is given).
    pub restore: bool,
    /// Only pass through the rooms joined (`lanchat send`): their hosts do not show this
    /// app as a member joining and leaving.
    pub passing: bool,
}

impl RuntimeOptions {
    /// A profile's runtime with its own key (made at first start), no discovery, listening
    /// everywhere, with the default deadlines and limits: tests change what they need.
    pub fn profile(paths: Paths, settings: Settings) -> anyhow::Result<Self> {
        let (identity, _) = Identity::load_or_create(&paths.identity_file())?;
        Ok(Self {
            paths,
            settings,
            name: None,
            discovery: None,
            bind: None,
            downloads: None,
            identity,
            timeouts: Timeouts::default(),
            limits: Limits::default(),
            restore: false,
            passing: false,
        })
    }
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
    /// Told when the advert changed otherwise than by its count (the host renamed): it is
    /// announced with the next count, at most every [`ADVERTISE_EVERY`].
    changed: tokio::sync::watch::Sender<()>,
}

/// What the runtime's own spawned tasks report back to its loop.
enum Internal {
    /// A hosted room's member count (or its host's name) changed: advertise it anew.
    Members(RoomId, u32),
    /// A room given by address was identified: join it there.
    Found {
        room: RoomId,
        addrs: Vec<SocketAddr>,
        password: Option<RoomSecret>,
    },

    /// A room's password to join with is stretched: join it, unless it was left meanwhile.
    Stretched {
        room: RoomId,
        addrs: Vec<SocketAddr>,
        password: RoomSecret,
    },
    /// A room's new host key is pinned: its session may try again.
    Trusted(RoomId),
    /// The password typed for a room, stretched: its session tries it.
    Unlocked(RoomId, RoomSecret),
    /// A room we host has started listening, or could not: `error` is for the user.
    Started {
        room: RoomId,
        name: String,
        started: Result<(RoomHost, Option<RoomSecret>), String>,
    },
}

/// The runtime's state.
struct Runtime {
    /// To the front end.
    events: EventSender,
    /// Where room histories go.
    paths: Paths,
    /// The profile's database (hosted rooms' histories, the member's records), or why it
    /// could not be opened: said at start, and again by each attempt to host.
    db: Result<Database, String>,
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
    /// Rooms being opened (their history read, their port bound) off the command loop; a
    /// second Host for one of them is refused.
    starting: std::collections::HashSet<RoomId>,
    /// The tasks opening them, waited for (briefly) at shutdown so none is left half open.
    launches: TaskTracker,
    /// Rooms this app is in (hosted ones included).
    sessions: HashMap<RoomId, Session>,
    /// Rooms whose password is being stretched before they are joined: one left meanwhile
    /// is not joined when it is done.
    stretching: std::collections::HashSet<RoomId>,
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
    /// See [`RuntimeOptions::passing`].
    passing: bool,
    /// Whether the user is away from the keyboard, for sessions that start meanwhile.
    away: bool,
    /// Hosted rooms listen here only, if set.
    bind: Option<IpAddr>,
    /// What the status line says now.
    status: NetStatus,
    /// The interfaces discovery is to use (empty: every suitable one); `None` when it is off.
    interfaces: Option<Vec<String>>,
    /// This device's key.
    identity: Identity,
    /// The host key pinned for each room we joined.
    trust: Arc<KnownHosts>,
    /// The key pinned for each person we exchanged direct messages with.
    people: Arc<KnownPeople>,
    /// Deadlines for every connection.
    timeouts: Timeouts,
    /// Limits of the rooms we host.
    limits: Limits,
    /// Counts the searches asked for: one still waiting to run when a newer one comes is
    /// not run (someone typing asks once per key).
    searches: Arc<std::sync::atomic::AtomicU64>,
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
    let known = options.paths.data.join("known_hosts.json");
    let (trust, warning) = tokio::task::spawn_blocking(move || KnownHosts::load(known))
        .await
        .expect("loading known hosts does not panic");
    if let Some(warning) = warning {
        events.send(Event::Alert(warning));
    }
    events.send(Event::KnownHosts(trust.fingerprints()));
    let known = options.paths.data.join("known_people.json");
    let (people, warning) = tokio::task::spawn_blocking(move || KnownPeople::load(known))
        .await
        .expect("loading known people does not panic");
    if let Some(warning) = warning {
        events.send(Event::Alert(warning));
    }
    events.send(Event::People(people.all()));
    let db_file = options.paths.database_file();
    let opened = tokio::task::spawn_blocking(move || Database::open(&db_file))
        .await
        .expect("opening the database does not panic");
    let db = match opened {
        Ok((db, warnings)) => {
            for warning in warnings {
                events.send(Event::Alert(warning));
            }
            Ok(db)
        }
        Err(e) => {
            // Missed messages could not be read back: none may be left out of the queue.
            events.unbounded();
            let e = format!("lanchat's database cannot be opened: {e}");
            events.send(Event::Alert(format!(
                "{e}. Rooms you host cannot keep their history."
            )));
            Err(e)
        }
    };
    let mut rt = Runtime {
        events,
        db,
        paths: options.paths,
        settings: options.settings,
        saver,
        name_override: options.name,
        discovery: None,
        hosts: HashMap::new(),
        starting: Default::default(),
        launches: TaskTracker::new(),
        sessions: HashMap::new(),
        stretching: Default::default(),
        room_addrs: HashMap::new(),
        transfers,
        internal,
        host_gone,
        goodbyes: TaskTracker::new(),
        resume: rand::random(),
        passing: options.passing,
        away: false,
        bind: options.bind,
        status: NetStatus::default(),
        interfaces: None,
        identity: options.identity,
        trust,
        people,
        timeouts: options.timeouts,
        limits: options.limits,
        searches: Arc::default(),
    };
    // `--interface` decides for this run; else the choice made in the window.
    let discovery = options.discovery.map(|mut config| {
        if config.interfaces.is_empty() {
            config.interfaces = rt.settings.interfaces.clone();
        }
        config
    });
    rt.interfaces = discovery.as_ref().map(|c| c.interfaces.clone());
    let mut found = match discovery {
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
    if options.restore {
        rt.restore().await;
    }
    rt.refresh_status();
    let mut poll = tokio::time::interval(INTERFACE_POLL);
    poll.tick().await;

    loop {
        tokio::select! {
            cmd = commands.recv() => match cmd {
                Some(Command::Shutdown) | None => break,
                Some(cmd) => rt.handle(cmd),
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
    rt.shutdown(&mut internal_rx).await;
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

    /// Acts on one command without waiting for anything: what takes time (a disk, the
    /// network, a room starting) runs in a task that reports back through `internal`.
    fn handle(&mut self, cmd: Command) {
        match cmd {
            Command::SetName(name) => self.rename(name),
            Command::Host { name, id, password } => self.host(name, id, password),
            Command::StopHosting(room) => self.stop_hosting(&room),
            Command::Join {
                room,
                addrs,
                password: None,
            } => self.join(room, addrs, None),
            // The password is stretched off the loop first (see `RoomSecret::derive`).
            Command::Join {
                room,
                addrs,
                password: Some(password),
            } => {
                let internal = self.internal.clone();
                self.stretching.insert(room.clone());
                tokio::spawn(async move {
                    let password = secret(&room, password).await;
                    let _ = internal.send(Internal::Stretched {
                        room,
                        addrs,
                        password,
                    });
                });
            }
            Command::JoinAddress {
                addr,
                expect,
                password,
                trust_new_key,
            } => self.join_address(addr, expect, password, trust_new_key),
            Command::Probe { addr } => self.probe(addr),
            Command::Unlock { room, password } => {
                let internal = self.internal.clone();
                tokio::spawn(async move {
                    let secret = secret(&room, password).await;
                    let _ = internal.send(Internal::Unlocked(room, secret));
                });
            }
            Command::TrustHostKey { room, key } => self.trust_key(room, key),
            Command::SendFiles { room, paths } => self.send_files(room, paths),
            Command::SetDownloads(dir) => {
                self.settings.downloads = Some(dir.clone());
                self.save_settings();
                self.transfers.set_downloads(dir.clone());
                self.events.send(Event::Downloads(dir));
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
            Command::SetTheme(theme) => {
                self.settings.theme = theme;
                self.save_settings();
            }
            Command::SetZoom(zoom) => {
                self.settings.zoom = zoom;
                self.save_settings();
            }
            Command::SetReopenRooms(on) => {
                self.settings.reopen_rooms = on;
                self.save_settings();
            }
            Command::SetAutoSave(limit) => {
                self.settings.auto_save = limit;
                self.save_settings();
            }
            Command::ChooseInterfaces(names) => {
                self.settings.interfaces = names.clone();
                self.save_settings();
                if let Some(discovery) = &self.discovery {
                    discovery.choose(names.clone());
                }
                if self.interfaces.is_some() {
                    self.interfaces = Some(names);
                }
                self.refresh_status();
            }
            Command::SetRoomAutoSave { room, on } => {
                if on {
                    self.settings.no_auto_save.remove(&room);
                } else {
                    self.settings.no_auto_save.insert(room);
                }
                self.save_settings();
            }
            Command::SetAlerts { room, alerts } => {
                match alerts {
                    crate::store::Alerts::All => self.settings.alerts.remove(&room),
                    other => self.settings.alerts.insert(room, other),
                };
                self.save_settings();
            }
            Command::Leave(room) => {
                self.stretching.remove(&room);
                let alerts = self.settings.alerts.remove(&room).is_some();
                if self.settings.no_auto_save.remove(&room) || alerts {
                    self.save_settings();
                }
                self.events.caught_up(&room);
                self.room_addrs.remove(&room);
                self.transfers.cancel_room(&room);
                let store = self.member_store(&room);
                if let Some(session) = self.sessions.remove(&room) {
                    self.goodbyes.spawn(async move {
                        session.leave(GOODBYE_LIMIT).await;
                        // Once the session has stopped writing: we are no longer in the room.
                        if let Some(store) = store {
                            store.forget();
                        }
                    });
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
            Command::CatchUp { room, after } => self.catch_up(room, after),
            Command::Presence { away } => {
                self.away = away;
                for session in self.sessions.values() {
                    session.presence(away);
                }
            }
            Command::SendDirect {
                room,
                to,
                seq,
                text,
            } => match self.sessions.get(&room) {
                Some(session) => session.direct(to, seq, text),
                None => self.events.send(Event::DirectFailed {
                    peer: to.device,
                    seq,
                    reason: "not in that room".into(),
                }),
            },
            Command::AcceptPerson {
                name,
                key,
                verified,
            } => {
                let (people, events) = (self.people.clone(), self.events.clone());
                tokio::task::spawn_blocking(move || {
                    if let Err(e) = people.accept(&name, key, verified) {
                        events.send(Event::Alert(format!("could not save {name}'s key: {e}")));
                    }
                    events.send(Event::People(people.all()));
                });
            }
            Command::Typing { room } => {
                if let Some(session) = self.sessions.get(&room) {
                    session.typing();
                }
            }
            Command::Earlier { room, before } => match self.sessions.get(&room) {
                Some(session) => session.before(before),
                None => self.events.send(Event::Earlier {
                    room,
                    before,
                    messages: Vec::new(),
                    more: true,
                }),
            },
            Command::Search { query } => self.search(query),
            Command::LoadFrom { room, from, until } => self.load_from(room, from, until),
            Command::Shutdown => unreachable!("handled by the loop"),
        }
    }

    fn rename(&mut self, name: String) {
        if check_name("name", &name).is_err() {
            return;
        }
        match &mut self.name_override {
            // A name given for this run (headless `--name`) is changed for this run only.
            Some(for_this_run) => *for_this_run = name.clone(),
            None => {
                self.settings.name = Some(name.clone());
                self.save_settings();
            }
        }
        for session in self.sessions.values() {
            session.rename(name.clone());
        }
        for hosted in self.hosts.values_mut() {
            hosted.host.rename_host(name.clone());
            hosted.advert.host = name.clone();
            hosted.changed.send_replace(());
        }
    }

    /// Opens a room: checks what can be checked at once, then starts it in a task (its
    /// history is read and its port bound off the command loop); [`Runtime::started`] does
    /// the rest.
    fn host(&mut self, name: String, id: Option<RoomId>, password: Option<String>) {
        let name = name.trim().to_owned();
        if let Err(e) = check_name("The room name", &name) {
            return self.events.send(Event::HostFailed { name, error: e });
        }
        let id = id.unwrap_or_else(RoomId::random);
        if self.hosts.contains_key(&id) || self.starting.contains(&id) {
            return self.events.send(Event::HostFailed {
                name,
                error: "this room is already open".into(),
            });
        }
        let db = match &self.db {
            Ok(db) => db.clone(),
            Err(error) => {
                let error = error.clone();
                return self.events.send(Event::HostFailed { name, error });
            }
        };
        let remembered_port = self
            .settings
            .hosted
            .iter()
            .find(|r| r.id == id)
            .map_or(0, |r| r.port);
        // The room's password, kept owner-only in its folder; and its own key pinned, so the
        // room we host is a known room to us too.
        let secret_file = self.paths.room_dir(&id).join("password");
        // `Some("")` opens the room again; `None` keeps what it had.
        let (trust, key) = (self.trust.clone(), self.identity.public());
        let events = self.events.clone();
        let problems: ProblemSink = Arc::new(move |text| events.send(Event::Alert(text)));
        let mut config = HostConfig {
            room: id.clone(),
            room_name: name.clone(),
            host_name: self.name(),
            identity: self.identity.clone(),
            dir: self.paths.room_dir(&id),
            db: Some(db),
            port: remembered_port,
            bind: self.bind,
            problems: Some(problems),
            files: FileStore::new(self.paths.room_files(&id), self.settings.files_limit),
            password: None,
            limits: self.limits,
            timeouts: self.timeouts,
        };
        self.starting.insert(id.clone());
        let internal = self.internal.clone();
        self.launches.spawn(async move {
            let (room, room_name) = (id.clone(), name.clone());
            let prepared = tokio::task::spawn_blocking(move || -> std::io::Result<_> {
                trust.trust(&room, key, &room_name)?;
                match password {
                    Some(password) => {
                        let secret =
                            (!password.is_empty()).then(|| RoomSecret::derive(&room, &password));
                        RoomSecret::store(secret.as_ref(), &secret_file)?;
                        Ok(secret)
                    }
                    None => RoomSecret::load(&secret_file, &room),
                }
            })
            .await
            .map_err(std::io::Error::other)
            .and_then(|r| r);
            let started = match prepared {
                Ok(secret) => {
                    config.password = secret.clone();
                    RoomHost::start(config)
                        .await
                        .map(|host| (host, secret))
                        .map_err(|e| e.to_string())
                }
                Err(e) => Err(format!("cannot keep the room's password: {e}")),
            };
            let report = Internal::Started {
                room: id,
                name,
                started,
            };
            // The runtime stopped meanwhile: nobody will close the room but this task.
            if let Err(mpsc::error::SendError(Internal::Started {
                started: Ok((host, _)),
                ..
            })) = internal.send(report)
            {
                host.close("lanchat closed".into(), GOODBYE_LIMIT).await;
            }
        });
    }

    /// A room has started (or failed to): advertise it, and join it as its first member.
    fn started(
        &mut self,
        id: RoomId,
        name: String,
        started: Result<(RoomHost, Option<RoomSecret>), String>,
    ) {
        self.starting.remove(&id);
        let (host, secret) = match started {
            Ok(started) => started,
            Err(error) => return self.events.send(Event::HostFailed { name, error }),
        };
        let port = host.port;
        self.settings.remember_room(HostedRoom {
            id: id.clone(),
            name: name.clone(),
            port,
            open: true,
        });
        self.save_settings();

        let mut count = host.member_count();
        let (changed, mut advert_changed) = tokio::sync::watch::channel(());
        let internal = self.internal.clone();
        let room = id.clone();
        tokio::spawn(async move {
            loop {
                let more = tokio::select! {
                    more = count.changed() => more.is_ok(),
                    more = advert_changed.changed() => more.is_ok(),
                };
                if !more {
                    break;
                }
                advert_changed.borrow_and_update();
                let n = *count.borrow_and_update();
                if internal.send(Internal::Members(room.clone(), n)).is_err() {
                    break;
                }
                // Each new count is an announcement to every device on the network: changes
                // meanwhile are told together, as the count after them.
                tokio::time::sleep(ADVERTISE_EVERY).await;
            }
        });

        let advert = Advert {
            id: id.clone(),
            name: name.clone(),
            host: self.name(),
            port,
            members: 0,
            locked: secret.is_some(),
            fingerprint: self.identity.fingerprint(),
        };
        if let Some(discovery) = &mut self.discovery
            && let Err(e) = discovery.advertise(&advert)
        {
            self.events.send(Event::Alert(format!(
                "{e}; others can still join by address (port {port})"
            )));
        }
        let hosted = Hosted {
            host,
            advert,
            changed,
        };
        self.hosts.insert(id.clone(), hosted);
        self.events.send(Event::Hosting {
            room: id.clone(),
            name,
            port,
            locked: secret.is_some(),
        });
        // The host's own user is a member like any other, over loopback.
        let loopback = match self.bind {
            Some(ip) if !ip.is_unspecified() => ip,
            _ => IpAddr::V4(Ipv4Addr::LOCALHOST),
        };
        self.join(id, vec![SocketAddr::new(loopback, port)], secret);
    }

    /// Closes a hosted room: the advert goes at once, the goodbyes in the background.
    fn stop_hosting(&mut self, room: &RoomId) {
        let Some(hosted) = self.hosts.remove(room) else {
            return;
        };
        // Closed by the user: it stays closed at the next start. (Rooms still open at
        // shutdown keep `open`, and come back.)
        if let Some(remembered) = self.settings.hosted.iter_mut().find(|r| r.id == *room) {
            remembered.open = false;
            self.save_settings();
        }
        self.events.caught_up(room);
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

    /// Sends the front end a page of a room's messages from the database, after the last it
    /// has; the room's messages are queued to it again from now on.
    fn catch_up(&self, room: RoomId, after: Option<u64>) {
        // Every message not queued was written to the database before it was dropped; the
        // read below is queued behind those writes, so it finds them all.
        self.events.caught_up(&room);
        let Ok(db) = &self.db else {
            let messages = Vec::new();
            return self.events.send(Event::CaughtUp {
                room,
                messages,
                more: false,
            });
        };
        let hosted = self.hosts.contains_key(&room);
        let (id, events) = (room.clone(), self.events.clone());
        db.submit(
            move |c| stored_after(c, &id, hosted, after),
            move |read| {
                let (messages, more) = read.unwrap_or_else(|e| {
                    events.send(Event::Alert(format!(
                        "Messages of a room could not be read back: {e}"
                    )));
                    (Vec::new(), false)
                });
                events.send(Event::CaughtUp {
                    room,
                    messages,
                    more,
                });
            },
        );
    }

    /// Searches the histories off the command loop; only the newest search waiting is run.
    fn search(&self, query: String) {
        use std::sync::atomic::Ordering;
        let asked = self.searches.fetch_add(1, Ordering::AcqRel) + 1;
        let db = match &self.db {
            Ok(db) => db.clone(),
            Err(e) => {
                let found = Err(format!("Messages cannot be searched: {e}"));
                return self.events.send(Event::SearchResults { query, found });
            }
        };
        let (latest, events) = (self.searches.clone(), self.events.clone());
        tokio::task::spawn_blocking(move || {
            if latest.load(Ordering::Acquire) != asked {
                return; // the window wants a newer one
            }
            let found = crate::store::search(&db, &query, crate::store::MOST_HITS)
                .map_err(|e| format!("The search failed: {e}"));
            events.send(Event::SearchResults { query, found });
        });
    }

    /// Reads a room's messages from the database for the window (to show a search result in
    /// place), off the command loop: from our history of a room we host, else from what we
    /// saw of it.
    fn load_from(&self, room: RoomId, from: u64, until: Option<u64>) {
        let Ok(db) = self.db.clone() else {
            let messages = Vec::new();
            return self.events.send(Event::Loaded {
                room,
                from,
                messages,
            });
        };
        let hosted = self.hosts.contains_key(&room);
        let events = self.events.clone();
        tokio::task::spawn_blocking(move || {
            let messages = crate::store::stored_from(&db, &room, hosted, from, until)
                .unwrap_or_else(|e| {
                    events.send(Event::Alert(format!(
                        "Messages of a room could not be read back: {e}"
                    )));
                    Vec::new()
                });
            events.send(Event::Loaded {
                room,
                from,
                messages,
            });
        });
    }

    /// Who we are in a room we are in, and where and who its host is, for a transfer.
    fn peer(&self, room: &RoomId) -> Option<Peer> {
        let addrs = self.room_addrs.get(room)?.clone();
        let Expect::Key(host) = self.trust.expect(room) else {
            return None; // not in yet: the key is pinned on joining
        };
        Some(Peer {
            addrs,
            room: room.clone(),
            host,
            identity: self.identity.clone(),
            timeouts: self.timeouts,
        })
    }

    /// Pins the new key a room's host presented, then lets its session try again.
    fn trust_key(&mut self, room: RoomId, key: PublicKey) {
        let (trust, internal) = (self.trust.clone(), self.internal.clone());
        let events = self.events.clone();
        tokio::spawn(async move {
            let name = trust.pin(&room).map(|p| p.room_name).unwrap_or_default();
            let (pinning, id) = (trust.clone(), room.clone());
            let saved = tokio::task::spawn_blocking(move || pinning.trust(&id, key, &name)).await;
            if let Ok(Err(e)) = saved {
                events.send(Event::Alert(format!(
                    "The room's new key is trusted for now but could not be saved: {e}"
                )));
            }
            let _ = internal.send(Internal::Trusted(room));
        });
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

    fn join(&mut self, room: RoomId, addrs: Vec<SocketAddr>, password: Option<RoomSecret>) {
        if !addrs.is_empty() {
            self.room_addrs.insert(room.clone(), addrs.clone());
        }
        if let Some(session) = self.sessions.get(&room) {
            if let Some(secret) = password {
                session.password(secret);
            }
            if !addrs.is_empty() {
                session.redial(addrs);
            }
            return;
        }
        // A room joined afresh starts with its messages queued, whatever was left of an
        // earlier stay.
        self.events.caught_up(&room);
        let config = SessionConfig {
            room: room.clone(),
            addrs,
            name: self.name(),
            identity: self.identity.clone(),
            trust: self.trust.clone(),
            people: self.people.clone(),
            password,
            resume: self.resume,
            passing: self.passing,
            host_gone: Some(self.host_gone.clone()),
            timeouts: self.timeouts,
            store: self.member_store(&room),
            directs: self.db.as_ref().ok().cloned().map(DirectStore::new),
        };
        let session = Session::spawn(config, self.events.clone());
        if self.away {
            session.presence(true);
        }
        self.sessions.insert(room, session);
    }

    /// The member's record of a room we are in; none for the rooms we host (their history is
    /// the host's) or without a database.
    fn member_store(&self, room: &RoomId) -> Option<MemberStore> {
        let db = self.db.as_ref().ok()?;
        (!self.hosts.contains_key(room)).then(|| MemberStore::new(db.clone(), room.clone()))
    }

    /// Goes back into the rooms this profile was in when it last ran, at the addresses they
    /// were last reached at (discovery redials them where it sees them now).
    async fn restore(&mut self) {
        if self.settings.reopen_rooms {
            let open: Vec<HostedRoom> = self
                .settings
                .hosted
                .iter()
                .filter(|r| r.open)
                .cloned()
                .collect();
            // Oldest first, so the most recent ends up the room on screen.
            for room in open.into_iter().rev() {
                self.host(room.name, Some(room.id), None);
            }
        }
        let Ok(db) = self.db.clone() else {
            return;
        };
        // The conversations of earlier runs, before anything new comes.
        match DirectStore::new(db.clone()).all().await {
            Ok(directs) => self.events.send(Event::DirectsKept(directs)),
            Err(e) => tracing::warn!("the direct messages kept cannot be read: {e}"),
        }
        let rooms = tokio::task::spawn_blocking(move || joined_rooms(&db))
            .await
            .unwrap_or_else(|e| Err(crate::store::StoreError::Sqlite(e.to_string())));
        let rooms = match rooms {
            Ok(rooms) => rooms,
            Err(e) => return tracing::warn!("the rooms we were in cannot be read: {e}"),
        };
        for joined in rooms {
            self.events.send(Event::Restored {
                room: joined.room.clone(),
                room_name: joined.name,
                host_name: joined.host,
            });
            self.join(joined.room, joined.addrs, None);
        }
    }

    /// Asks an address typed by a person which room it runs (once: the person is waiting),
    /// and tells the front end, which shows it and may join.
    fn probe(&mut self, addr: String) {
        let events = self.events.clone();
        let (identity, timeouts) = (self.identity.clone(), self.timeouts);
        tokio::spawn(async move {
            let found = async {
                let addrs = resolve(&addr).await?;
                let about = ask_who(&addrs, &identity, Expect::Anyone, &timeouts)
                    .await
                    .map_err(|e| format!("no room at {addr}: {e}"))?;
                Ok(crate::discovery::RoomAd {
                    id: about.room,
                    name: about.room_name,
                    host: about.host_name,
                    members: about.members,
                    locked: about.locked,
                    protocol: crate::protocol::PROTOCOL_VERSION,
                    addrs,
                    fingerprint: Some(about.key.fingerprint()),
                })
            };
            let found = found.await;
            events.send(Event::Probed { addr, found });
        });
    }

    /// Finds out which room runs at an address typed by a person, then joins it.
    fn join_address(
        &mut self,
        addr: String,
        expect: Option<String>,
        password: Option<String>,
        trust_new_key: bool,
    ) {
        let events = self.events.clone();
        let internal = self.internal.clone();
        let (identity, timeouts) = (self.identity.clone(), self.timeouts);
        // The room meant, if it was joined before: only its host's key is asked.
        let meant = expect
            .as_deref()
            .filter(|_| !trust_new_key)
            .and_then(|wanted| self.trust.meant(wanted));
        let key = meant
            .as_ref()
            .map_or(Expect::Anyone, |(_, pin)| Expect::Key(pin.key));
        tokio::spawn(async move {
            let found = async {
                let addrs = resolve(&addr).await?;
                // A host that does not answer may be restarting: asked again, a little
                // later each time (for about half a minute); an answer is final.
                let mut waits = ASK_AGAIN.build();
                let about = loop {
                    match ask_who(&addrs, &identity, key, &timeouts).await {
                        Ok(about) => break about,
                        Err(WhoError::Unreachable(e)) => match waits.next() {
                            Some(wait) => {
                                tracing::info!(
                                    "no answer at {addr} ({e}); asking again in {wait:?}"
                                );
                                tokio::time::sleep(wait).await;
                            }
                            None => return Err(format!("no room at {addr}: {e}")),
                        },
                        Err(WhoError::Answered(e)) => {
                            return Err(format!("no room at {addr}: {e}"));
                        }
                    }
                };
                if let Some(expect) = expect
                    && about.room.as_str() != expect
                    && about.room_name != expect
                {
                    return Err(format!(
                        "{addr} runs the room {:?} ({}), not {expect:?}",
                        about.room_name, about.room
                    ));
                }
                // Named like a room joined before, but another room: as a key change, it is
                // not joined on a name alone.
                if let Some((id, _)) = &meant
                    && *id != about.room
                {
                    return Err(format!(
                        "{addr} runs a room called {:?}, but not the {:?} you joined before (that was {id}; this is {}): it may be pretending to be it. To join this one all the same, give its id, {}",
                        about.room_name, about.room_name, about.room, about.room
                    ));
                }
                let password = match password {
                    Some(password) => Some(secret(&about.room, password).await),
                    None => None,
                };
                Ok(Internal::Found {
                    room: about.room,
                    addrs,
                    password,
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
            Internal::Found {
                room,
                addrs,
                password,
            } => self.join(room, addrs, password),
            Internal::Stretched {
                room,
                addrs,
                password,
            } => {
                if self.stretching.remove(&room) {
                    self.join(room, addrs, Some(password));
                }
            }
            Internal::Trusted(room) => {
                if let Some(session) = self.sessions.get(&room) {
                    session.retry();
                }
            }
            Internal::Unlocked(room, secret) => {
                if let Some(session) = self.sessions.get(&room) {
                    session.password(secret);
                }
            }
            Internal::Started {
                room,
                name,
                started,
            } => self.started(room, name, started),
        }
    }

    fn discovered(&mut self, event: DiscoveryEvent) {
        match event {
            DiscoveryEvent::Found(ad) => {
                // Our own rooms are reached over loopback; others are redialled where seen,
                // unless the advert names another key than the one pinned (an impostor, or
                // a new host the user has not trusted): the session is not sent there.
                let pinned = self.trust.pin(&ad.id).map(|p| p.key.fingerprint());
                let same_host = pinned.is_none() || pinned == ad.fingerprint;
                if let Some(session) = self.sessions.get(&ad.id)
                    && !self.hosts.contains_key(&ad.id)
                    && same_host
                {
                    session.redial(ad.addrs.clone());
                    self.room_addrs.insert(ad.id.clone(), ad.addrs.clone());
                }
                self.events.send(Event::RoomFound(ad));
            }
            DiscoveryEvent::Lost(key) => self.events.send(Event::RoomLost(key)),
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
        let report = match (&self.discovery, &self.interfaces) {
            (Some(discovery), _) => discovery.report(),
            (None, Some(chosen)) => crate::discovery::Report::survey(chosen, None),
            (None, None) => Default::default(),
        };
        let mut status = NetStatus {
            interfaces: report.status_line(),
            discovery: self.discovery.is_some(),
            problem: self.status.problem.clone(),
            report,
        };
        // The problem of having no interface to look on comes and goes with the interfaces;
        // another (mDNS not starting) stays.
        let trouble = status.report.trouble().filter(|_| status.discovery);
        if trouble.is_some() {
            status.problem = trouble;
        } else if status.problem.is_some()
            && status.problem
                == self
                    .status
                    .report
                    .trouble()
                    .filter(|_| self.status.discovery)
        {
            status.problem = None;
        }
        if status != self.status {
            self.status = status;
            self.events.send(Event::Network(self.status.clone()));
        }
    }

    /// Leaves every room, closes every hosted room and withdraws every advert, all at once
    /// and within a bounded time.
    async fn shutdown(mut self, internal: &mut mpsc::UnboundedReceiver<Internal>) {
        // A room still starting is given the goodbye time to start, then closed with the rest.
        self.launches.close();
        if !self.starting.is_empty() {
            let _ = tokio::time::timeout(GOODBYE_LIMIT, self.launches.wait()).await;
        }
        let mut late = Vec::new();
        while let Ok(report) = internal.try_recv() {
            if let Internal::Started {
                started: Ok((host, _)),
                ..
            } = report
            {
                late.push(host);
            }
        }
        let reason = format!("{}'s lanchat closed", self.name());
        let leaving = self.sessions.drain().map(|(_, s)| s.leave(GOODBYE_LIMIT));
        let closing = self
            .hosts
            .drain()
            .map(|(_, h)| h.host)
            .chain(late)
            .map(|host| host.close(reason.clone(), GOODBYE_LIMIT));
        let withdrawing = async {
            if let Some(discovery) = self.discovery.take() {
                discovery.shutdown().await;
            }
        };
        let recorded = self.transfers.shutdown();
        self.goodbyes.close();
        futures::join!(
            futures::future::join_all(leaving),
            futures::future::join_all(closing),
            withdrawing,
            self.goodbyes.wait(),
            async {
                if tokio::time::timeout(GOODBYE_LIMIT, recorded).await.is_err() {
                    tracing::warn!("the record of saved files was still being written");
                }
            },
        );
        // What the sessions and rooms queued last (a post, a room left) is on disk, and the
        // database marked closed cleanly, before the process may end.
        if let Ok(db) = std::mem::replace(&mut self.db, Err(String::new()))
            && tokio::time::timeout(GOODBYE_LIMIT, async {
                let _ = db.flush().await;
                let _ = tokio::task::spawn_blocking(move || db.close()).await;
            })
            .await
            .is_err()
        {
            tracing::warn!("the database was still writing when lanchat stopped");
        }
        self.events.send(Event::Stopped);
    }
}

/// The socket addresses an address typed by a person (`host:port`) stands for.
async fn resolve(addr: &str) -> Result<Vec<SocketAddr>, String> {
    Ok(tokio::net::lookup_host(addr)
        .await
        .map_err(|e| format!("cannot resolve {addr}: {e}"))?
        .collect())
}
