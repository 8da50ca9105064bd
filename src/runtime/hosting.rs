//! The rooms this app hosts: opening one off the command loop, advertising it (and its
//! member count, at most every [`ADVERTISE_EVERY`]), joining it as its first member, and
//! closing it.

use super::{GOODBYE_LIMIT, Internal, Runtime};
use crate::bridge::{Event, HostFailure};
use crate::discovery::Advert;
use crate::files::{FileService, FileStore};
use crate::net::host::{HostConfig, RoomHost};
use crate::net::identity::PublicKey;
use crate::net::password::RoomSecret;
use crate::net::trust::KnownHosts;
use crate::protocol::{CloseCode, RoomId, check_name};
use crate::store::{Database, HostedRoom, ProblemSink};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// How often a hosted room's member count is published at most: each new count is an
/// announcement that every device on the network hears.
const ADVERTISE_EVERY: Duration = Duration::from_secs(2);

/// A room started: its host, its password's secret (locked rooms), its files.
pub(super) type Launched = (RoomHost, Option<RoomSecret>, Arc<FileService>);

/// One room this app hosts.
pub(super) struct Hosted {
    /// The room's host: its listener, members and history.
    pub(super) host: RoomHost,
    /// The room's kept files, whose limit follows the setting.
    pub(super) files: Arc<FileService>,
    /// What is advertised, kept to re-advertise when the member count or host name changes.
    advert: Advert,
    /// Told when the advert changed otherwise than by its count (the host renamed): it is
    /// announced with the next count, at most every [`ADVERTISE_EVERY`].
    changed: watch::Sender<()>,
}

impl Hosted {
    /// The host's user renamed: the room tells its members, and the advert says so with the
    /// next count.
    pub(super) fn rename(&mut self, name: &str) {
        self.host.rename_host(name.to_owned());
        self.advert.host = name.to_owned();
        self.changed.send_replace(());
    }
}

impl Runtime {
    /// Opens a room: checks what can be checked at once, then starts it in a task (its
    /// history is read and its port bound off the command loop); [`Runtime::started`] does
    /// the rest.
    pub(super) fn host(&mut self, name: String, id: Option<RoomId>, password: Option<String>) {
        let name = name.trim().to_owned();
        if let Err(e) = check_name("The room name", &name) {
            let error = HostFailure::Name(e);
            return self.events.send(Event::HostFailed { name, error });
        }
        let id = id.unwrap_or_else(RoomId::random);
        if self.hosts.contains_key(&id) || self.starting.contains(&id) {
            return self.events.send(Event::HostFailed {
                name,
                error: HostFailure::AlreadyOpen,
            });
        }
        let db = match &self.db {
            Ok(db) => db.clone(),
            Err(error) => {
                let error = error.clone().into();
                return self.events.send(Event::HostFailed { name, error });
            }
        };
        let mut config = self.host_config(&id, &name, db);
        let limit = self.prefs.settings().files_limit;
        let files = FileService::register(
            &mut config,
            FileStore::new(self.paths.room_files(&id), limit),
        );
        // Our window shows the files members send to our room arriving.
        files.tell_arrivals(self.events.clone().into());
        // The room's own key pinned, so the room we host is a known room to us too.
        let (trust, key) = (self.trust.clone(), self.identity.public());
        self.starting.insert(id.clone());
        let internal = self.internal.clone();
        self.launches.spawn(async move {
            let started = launch(config, password, trust, key)
                .await
                .map(|(host, secret)| (host, secret, files));
            let report = Internal::Started {
                room: id,
                name,
                started,
            };
            // The runtime stopped meanwhile: nobody will close the room but this task.
            if let Err(mpsc::error::SendError(Internal::Started {
                started: Ok((host, ..)),
                ..
            })) = internal.send(report)
            {
                host.close(CloseCode::Quit, GOODBYE_LIMIT).await;
            }
        });
    }

    /// How a room is to be hosted: at the port it had before (any, the first time), with
    /// the limits in force, its problems said to the user as alerts.
    fn host_config(&self, id: &RoomId, name: &str, db: Database) -> HostConfig {
        let remembered_port = self
            .prefs
            .settings()
            .hosted
            .iter()
            .find(|r| r.id == *id)
            .map_or(0, |r| r.port);
        let events = self.events.clone();
        let problems: ProblemSink = Arc::new(move |text| events.send(Event::Alert(text)));
        HostConfig {
            room: id.clone(),
            room_name: name.to_owned(),
            host_name: self.prefs.name(),
            identity: self.identity.clone(),
            dir: self.paths.room_dir(id),
            db: Some(db),
            port: remembered_port,
            bind: self.bind,
            problems: Some(problems),
            services: Vec::new(),
            password: None,
            limits: self.limits,
            timeouts: self.timeouts,
        }
    }

    /// A room has started (or failed to): advertise it, and join it as its first member.
    pub(super) fn started(
        &mut self,
        id: RoomId,
        name: String,
        started: Result<Launched, HostFailure>,
    ) {
        self.starting.remove(&id);
        let (host, secret, files) = match started {
            Ok(started) => started,
            Err(error) => return self.events.send(Event::HostFailed { name, error }),
        };
        let port = host.port;
        self.prefs.remember_room(HostedRoom {
            id: id.clone(),
            name: name.clone(),
            port,
            open: true,
        });

        let changed = self.watch_members(id.clone(), host.member_count());
        let advert = Advert {
            id: id.clone(),
            name: name.clone(),
            host: self.prefs.name(),
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
            files,
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
    pub(super) fn stop_hosting(&mut self, room: &RoomId) {
        let Some(hosted) = self.hosts.remove(room) else {
            return;
        };
        self.prefs.room_closed(room);
        self.events.caught_up(room);
        self.transfers.cancel_room(room);
        let session = self.sessions.remove(room);
        let withdrawn = self.discovery.as_mut().map(|d| d.withdraw(room));
        let events = self.events.clone();
        let room = room.clone();
        self.goodbyes.spawn(async move {
            if let Some(session) = session {
                session.leave(GOODBYE_LIMIT).await;
            }
            futures::join!(hosted.host.close(CloseCode::Closed, GOODBYE_LIMIT), async {
                if let Some(withdrawn) = withdrawn {
                    withdrawn.await;
                }
            });
            events.send(Event::HostingStopped { room });
        });
    }

    /// A hosted room's member count changed (or its advert otherwise): advertises it anew.
    pub(super) fn members_changed(&mut self, room: RoomId, members: u32) {
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

    /// Reports a hosted room's member count to the loop whenever it changes, and the count
    /// again when the advert changed otherwise (told through the returned sender), at most
    /// every [`ADVERTISE_EVERY`].
    fn watch_members(&self, room: RoomId, mut count: watch::Receiver<u32>) -> watch::Sender<()> {
        let (changed, mut advert_changed) = watch::channel(());
        let internal = self.internal.clone();
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
        changed
    }
}

/// Pins the room's own key and keeps its password owner-only in its folder (`Some("")` opens
/// the room again; `None` keeps what it had), on a blocking thread; then starts the room.
async fn launch(
    mut config: HostConfig,
    password: Option<String>,
    trust: Arc<KnownHosts>,
    key: PublicKey,
) -> Result<(RoomHost, Option<RoomSecret>), HostFailure> {
    let (room, room_name) = (config.room.clone(), config.room_name.clone());
    let secret_file = config.dir.join("password");
    let prepared = tokio::task::spawn_blocking(move || -> std::io::Result<_> {
        trust.trust(&room, key, &room_name)?;
        match password {
            Some(password) => {
                let secret = (!password.is_empty()).then(|| RoomSecret::derive(&room, &password));
                RoomSecret::store(secret.as_ref(), &secret_file)?;
                Ok(secret)
            }
            None => RoomSecret::load(&secret_file, &room),
        }
    })
    .await
    .map_err(std::io::Error::other)
    .and_then(|r| r);
    match prepared {
        Ok(secret) => {
            config.password = secret.clone();
            RoomHost::start(config)
                .await
                .map(|host| (host, secret))
                .map_err(|e| HostFailure::Start(Arc::new(e)))
        }
        Err(e) => Err(HostFailure::Password(Arc::new(e))),
    }
}
