//! The tokio side: routes front-end commands to hosts and sessions, discovery results to the
//! front end and to waiting sessions, and shuts everything down in bounded time. Nothing slow
//! runs inside its loop: goodbyes and look-ups are spawned, so one closing room never holds up
//! a message to another.
//!
//! This file holds what the runtime starts from, its loop, the dispatch of commands and of its
//! tasks' reports, and shutdown. Each concern has a file of its own, with the `impl Runtime`
//! methods its commands call:
//! - `hosting.rs`: the rooms this app hosts: starting, advertising (member counts), closing.
//! - `rooms.rs`: the rooms this app is in: joining, going back in at start, leaving, posting.
//! - `join_address.rs`: joining by an address typed by hand: asking again, checking keys.
//! - `reads.rs`: the database read for the window: catching up, earlier messages, search.
//! - `reports.rs`: what the sessions of the rooms we are in tell, turned into events.
//! - `auto_save.rs`: which received files save themselves.
//! - `preferences.rs`: the settings, every change to them, and where they are saved.
//! - `transfers.rs`: files sent, downloaded, opened.
//! - `trust.rs`: host keys and people's keys accepted by the user.
//! - `network.rs`: discovery's rooms found and lost, and the status line.

mod auto_save;
mod hosting;
mod join_address;
mod network;
mod preferences;
mod reads;
mod reports;
mod rooms;
mod transfers;
mod trust;

use crate::bridge::{
    Backend, Command, DatabaseFailure, Event, EventSender, HostFailure, NetStatus,
};
use crate::desktop;
use crate::discovery::{Discovery, DiscoveryConfig};
use crate::files::Transfers;
use crate::net::identity::Identity;
use crate::net::limits::Limits;
use crate::net::link::Timeouts;
use crate::net::password::RoomSecret;
use crate::net::session::{Session, SessionEvent};
use crate::net::trust::{KnownHosts, KnownPeople};
use crate::protocol::{CloseCode, DeviceId, RoomId};
use crate::store::{Database, Paths, Settings, StoreError};
pub use auto_save::AutoSave;
use hosting::Hosted;
use network::INTERFACE_POLL;
use preferences::Preferences;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::task::TaskTracker;

/// Longest a room, a session or discovery gets to say goodbye at shutdown.
const GOODBYE_LIMIT: Duration = Duration::from_secs(2);

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
    /// Which received files save themselves this run: as the settings say (the window), none,
    /// or every one (`lanchat join --downloads`).
    pub auto_save: AutoSave,
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
            auto_save: AutoSave::AsSet,
        })
    }
}

/// The runtime on a thread of its own, for the window.
pub struct RuntimeThread {
    /// The thread the runtime runs on, joined to wait for its end.
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
    /// The files to send to a room are listed (a folder's among them).
    Listed {
        room: RoomId,
        listed: crate::files::folder::Listed,
    },
    /// A room we host has started listening, or could not: `error` is for the user.
    Started {
        room: RoomId,
        name: String,
        started: Result<hosting::Launched, HostFailure>,
    },
}

/// Where the runtime's tasks and sessions report to its loop.
struct Channels {
    /// The runtime's own tasks.
    internal: mpsc::UnboundedSender<Internal>,
    /// Sessions whose host vanished.
    host_gone: mpsc::UnboundedSender<RoomId>,
    /// What happens in the rooms we are in.
    reports: reports::Reports,
}

/// The runtime's state.
struct Runtime {
    /// To the front end.
    events: EventSender,
    /// Where room histories go.
    paths: Paths,
    /// The profile's database (hosted rooms' histories, the member's records), or why it
    /// could not be opened: said at start, and again by each attempt to host.
    db: Result<Database, DatabaseFailure>,
    /// The settings, and the display name in use: changed only through it, so every change
    /// is saved.
    prefs: Preferences,
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
    /// Sessions report what happens in their rooms here, for the loop to pass on.
    reports: reports::Reports,
    /// Which received files save themselves (see [`AutoSave`]).
    auto_save: AutoSave,
    /// This device, whose own files are not saved by themselves: they are here already.
    me: DeviceId,
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
pub async fn run(backend: Backend, mut options: RuntimeOptions) {
    let Backend {
        mut commands,
        events,
    } = backend;
    let (internal, mut internal_rx) = mpsc::unbounded_channel();
    let (host_gone, mut host_gone_rx) = mpsc::unbounded_channel();
    let (reports, mut reports_rx) = mpsc::unbounded_channel();
    let (prefs, saver_task) = Preferences::start(
        options.paths.settings_file(),
        options.settings.clone(),
        options.name.take(),
        events.clone(),
    );
    let (discovery, restore) = (options.discovery.take(), options.restore);
    let channels = Channels {
        internal,
        host_gone,
        reports,
    };
    let mut rt = Runtime::open(options, events, prefs, channels).await;
    let mut found = rt.start_discovery(discovery);
    if restore {
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
            Some((room, report)) = reports_rx.recv() => rt.reported(room, report),
            Some(room) = host_gone_rx.recv() => rt.host_gone(&room),
            _ = poll.tick() => rt.refresh_status(),
        }
    }
    rt.shutdown(&mut internal_rx, &mut reports_rx).await;
    let _ = tokio::time::timeout(GOODBYE_LIMIT, saver_task).await;
}

/// Where received files go this run: `--downloads`, else the folder chosen, else the
/// profile's own.
fn downloads(options: &RuntimeOptions) -> std::path::PathBuf {
    options
        .downloads
        .clone()
        .or_else(|| options.settings.downloads.clone())
        .unwrap_or_else(|| options.paths.downloads.clone())
}

/// Loads the host keys pinned for rooms and the keys of people; what could not be read is
/// said to the user, and both are told to the front end.
async fn load_keys(paths: &Paths, events: &EventSender) -> (Arc<KnownHosts>, Arc<KnownPeople>) {
    let file = paths.data.join("known_hosts.json");
    let trust = load_known(file, KnownHosts::load, events).await;
    events.send(Event::KnownHosts(trust.fingerprints()));
    let file = paths.data.join("known_people.json");
    let people = load_known(file, KnownPeople::load, events).await;
    events.send(Event::People(people.all()));
    (trust, people)
}

/// Reads a file of known keys on a blocking thread; its warning, if any, is an alert.
async fn load_known<T: Send + Sync + 'static>(
    file: std::path::PathBuf,
    load: fn(std::path::PathBuf) -> (Arc<T>, Option<String>),
    events: &EventSender,
) -> Arc<T> {
    let (known, warning) = tokio::task::spawn_blocking(move || load(file))
        .await
        .expect("loading known keys does not panic");
    if let Some(warning) = warning {
        events.send(Event::Alert(warning));
    }
    known
}

/// Opens the profile's database; when it cannot be, the user is told what that costs and
/// every message is queued to the front end (none could be read back later).
async fn open_database(paths: &Paths, events: &EventSender) -> Result<Database, DatabaseFailure> {
    let db_file = paths.database_file();
    let opened = tokio::task::spawn_blocking(move || Database::open(&db_file))
        .await
        .expect("opening the database does not panic");
    match opened {
        Ok((db, warnings)) => {
            for warning in warnings {
                events.send(Event::Alert(warning));
            }
            Ok(db)
        }
        Err(e) => {
            // Missed messages could not be read back: none may be left out of the queue.
            events.unbounded();
            let e = DatabaseFailure(Arc::new(e));
            events.send(Event::Alert(format!(
                "{e}. Rooms you host cannot keep their history."
            )));
            Err(e)
        }
    }
}

impl Runtime {
    /// Loads what the runtime keeps on disk (the transfers' record, the keys known, the
    /// database) and tells the front end where files go; discovery is started after.
    async fn open(
        options: RuntimeOptions,
        events: EventSender,
        prefs: Preferences,
        channels: Channels,
    ) -> Runtime {
        let downloads = downloads(&options);
        events.send(Event::Downloads(downloads.clone()));
        let saved = options.paths.data.join("saved.json");
        let transfers = Transfers::new(events.clone(), downloads, saved).await;
        let (trust, people) = load_keys(&options.paths, &events).await;
        let db = open_database(&options.paths, &events).await;
        Runtime {
            events,
            db,
            paths: options.paths,
            prefs,
            discovery: None,
            hosts: HashMap::new(),
            starting: Default::default(),
            launches: TaskTracker::new(),
            sessions: HashMap::new(),
            stretching: Default::default(),
            room_addrs: HashMap::new(),
            transfers,
            internal: channels.internal,
            host_gone: channels.host_gone,
            reports: channels.reports,
            auto_save: options.auto_save,
            me: options.identity.device(),
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
        }
    }

    /// Acts on one command without waiting for anything: what takes time (a disk, the
    /// network, a room starting) runs in a task that reports back through `internal`. Only
    /// dispatches, one method per command, each in the file of its concern; one `match` over
    /// every command is the clearest form, however long.
    fn handle(&mut self, cmd: Command) {
        match cmd {
            // Hosting (hosting.rs).
            Command::Host { name, id, password } => self.host(name, id, password),
            Command::StopHosting(room) => self.stop_hosting(&room),
            // Rooms joined and what is said in them (rooms.rs).
            Command::Join {
                room,
                addrs,
                password,
            } => self.join_asked(room, addrs, password),
            Command::Unlock { room, password } => self.unlock(room, password),
            Command::Leave(room) => self.leave(room),
            Command::Send { room, seq, text } => self.post(room, seq, text),
            Command::SendDirect {
                room,
                to,
                seq,
                text,
            } => self.send_direct(room, to, seq, text),
            Command::Presence { away } => self.presence(away),
            Command::Typing { room } => self.typing(room),
            // Joining by address (join_address.rs).
            Command::JoinAddress {
                addr,
                expect,
                password,
                trust_new_key,
            } => self.join_address(addr, expect, password, trust_new_key),
            Command::Probe { addr } => self.probe(addr),
            // Keys of hosts and people (trust.rs).
            Command::TrustHostKey { room, key } => self.trust_key(room, key),
            Command::StayOut { room, key } => self.stay_out(room, key),
            Command::AcceptPerson {
                name,
                key,
                verified,
            } => self.accept_person(name, key, verified),
            // Files (transfers.rs).
            Command::SendFiles { room, paths } => self.send_files(room, paths),
            Command::Download { room, file } => self.download(room, file),
            Command::CancelTransfer(id) => self.transfers.cancel(id),
            Command::Open(path) => self.spawn_opener(path, desktop::open),
            Command::Reveal(path) => self.spawn_opener(path, desktop::reveal),
            Command::Thumbnail { hash, path } => {
                desktop::spawn_thumbnail(self.events.clone(), hash, path)
            }
            // Settings (preferences.rs).
            Command::Settings(change) => self.change_settings(change),
            // The network (network.rs).
            Command::Diagnosing(on) => self.diagnosing(on),
            // Reading the database for the window (reads.rs).
            Command::CatchUp { room, after } => self.catch_up(room, after),
            Command::Earlier { room, before } => self.earlier(room, before),
            Command::Search { query } => self.search(query),
            Command::LoadFrom { room, from, until } => self.load_from(room, from, until),
            Command::Shutdown => unreachable!("handled by the loop"),
        }
    }

    /// Acts on what a task of its own reported; like [`Runtime::handle`], only dispatches.
    fn internal(&mut self, report: Internal) {
        match report {
            Internal::Members(room, members) => self.members_changed(room, members),
            Internal::Started {
                room,
                name,
                started,
            } => self.started(room, name, started),
            Internal::Found {
                room,
                addrs,
                password,
            } => self.join(room, addrs, password),
            Internal::Stretched {
                room,
                addrs,
                password,
            } => self.stretched(room, addrs, password),
            Internal::Unlocked(room, secret) => self.unlocked(room, secret),
            Internal::Trusted(room) => self.trusted(room),
            Internal::Listed { room, listed } => self.listed(room, listed),
        }
    }

    /// Leaves every room, closes every hosted room and withdraws every advert, all at once
    /// and within a bounded time.
    async fn shutdown(
        mut self,
        internal: &mut mpsc::UnboundedReceiver<Internal>,
        reports: &mut mpsc::UnboundedReceiver<(RoomId, SessionEvent)>,
    ) {
        // A room still starting is given the goodbye time to start, then closed with the rest.
        self.launches.close();
        if !self.starting.is_empty() {
            let _ = tokio::time::timeout(GOODBYE_LIMIT, self.launches.wait()).await;
        }
        let mut late = Vec::new();
        while let Ok(report) = internal.try_recv() {
            if let Internal::Started {
                started: Ok((host, ..)),
                ..
            } = report
            {
                late.push(host);
            }
        }
        let leaving = self.sessions.drain().map(|(_, s)| s.leave(GOODBYE_LIMIT));
        let closing = self
            .hosts
            .drain()
            .map(|(_, h)| h.host)
            .chain(late)
            .map(|host| host.close(CloseCode::Quit, GOODBYE_LIMIT));
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
        // What the sessions said last (a room left) reaches the front end; nothing saves now.
        while let Ok((room, report)) = reports.try_recv() {
            if let Some(event) = reports::event_of(room, report) {
                self.events.send(event);
            }
        }
        // What the sessions and rooms queued last (a post, a room left) is on disk, and the
        // database marked closed cleanly, before the process may end.
        if let Ok(db) = std::mem::replace(
            &mut self.db,
            Err(DatabaseFailure(Arc::new(StoreError::Closed))),
        ) && tokio::time::timeout(GOODBYE_LIMIT, async {
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
