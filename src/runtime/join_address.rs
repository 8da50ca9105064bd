//! Joining a room by an address typed by a person: resolving it, asking who runs there
//! (again for about half a minute while nobody answers), checking that it is the room meant,
//! and probing an address without joining.

use super::{Internal, Runtime, rooms::secret};
use crate::bridge::{Event, JoinFailure};
use crate::net::identity::Identity;
use crate::net::link::{Expect, Timeouts};
use crate::net::session::{About, WhoError, ask_who};
use crate::protocol::RoomId;
use backon::BackoffBuilder;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// The waits before asking an address given by hand again when nobody answered there:
/// 0.5 s doubling to 8 s, each with a random part, six times (about half a minute in all).
const ASK_AGAIN: backon::ExponentialBuilder = backon::ExponentialBuilder::new()
    .with_jitter()
    .with_min_delay(Duration::from_millis(500))
    .with_max_delay(Duration::from_secs(8))
    .with_max_times(6);

impl Runtime {
    /// Asks an address typed by a person which room it runs (once: the person is waiting),
    /// and tells the front end, which shows it and may join.
    pub(super) fn probe(&mut self, addr: String) {
        let events = self.events.clone();
        let (identity, timeouts) = (self.identity.clone(), self.timeouts);
        tokio::spawn(async move {
            let found = async {
                let addrs = resolve(&addr).await?;
                let about = ask_who(&addrs, &identity, Expect::Anyone, &timeouts)
                    .await
                    .map_err(|why| JoinFailure::NoRoom {
                        addr: addr.clone(),
                        why,
                    })?;
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
    pub(super) fn join_address(
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
                let about = ask_patiently(&addr, &addrs, &identity, key, &timeouts).await?;
                check_room(&addr, &about, expect, meant.as_ref().map(|(id, _)| id))?;
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
}

/// Asks which room runs at an address typed by a person. A host that does not answer may be
/// restarting: it is asked again, a little later each time (for about half a minute); an
/// answer is final.
async fn ask_patiently(
    addr: &str,
    addrs: &[SocketAddr],
    identity: &Identity,
    key: Expect,
    timeouts: &Timeouts,
) -> Result<About, JoinFailure> {
    let no_room = |why| JoinFailure::NoRoom {
        addr: addr.to_owned(),
        why,
    };
    let mut waits = ASK_AGAIN.build();
    loop {
        match ask_who(addrs, identity, key, timeouts).await {
            Ok(about) => return Ok(about),
            Err(WhoError::Unreachable(e)) => match waits.next() {
                Some(wait) => {
                    tracing::info!("no answer at {addr} ({e}); asking again in {wait:?}");
                    tokio::time::sleep(wait).await;
                }
                None => return Err(no_room(WhoError::Unreachable(e))),
            },
            Err(why) => return Err(no_room(why)),
        }
    }
}

/// Checks that the room at an address is the one the person meant: the room they named (by
/// id or name), and, when that name is a room's joined before, that very room.
fn check_room(
    addr: &str,
    about: &About,
    expect: Option<String>,
    meant: Option<&RoomId>,
) -> Result<(), JoinFailure> {
    if let Some(expected) = expect
        && about.room.as_str() != expected
        && about.room_name != expected
    {
        return Err(JoinFailure::OtherRoom {
            addr: addr.to_owned(),
            name: about.room_name.clone(),
            room: about.room.clone(),
            expected,
        });
    }
    // Named like a room joined before, but another room: as a key change, it is not joined on
    // a name alone.
    if let Some(id) = meant
        && *id != about.room
    {
        return Err(JoinFailure::NotTheOneJoined {
            addr: addr.to_owned(),
            name: about.room_name.clone(),
            room: about.room.clone(),
            before: id.clone(),
        });
    }
    Ok(())
}

/// The socket addresses an address typed by a person (`host:port`) stands for.
async fn resolve(addr: &str) -> Result<Vec<SocketAddr>, JoinFailure> {
    Ok(tokio::net::lookup_host(addr)
        .await
        .map_err(|e| JoinFailure::Unresolvable {
            addr: addr.to_owned(),
            source: Arc::new(e),
        })?
        .collect())
}
