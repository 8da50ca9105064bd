//! Files: sending and downloading them through the room they are posted in, cancelling,
//! opening or revealing the saved ones, and what the transfers tell shown in the front end.

use super::Runtime;
use crate::bridge::{Event, EventSender};
use crate::desktop;
use crate::files::{Peer, Reporter, TransferEvent, TransferFailure};
use crate::net::link::Expect;
use crate::protocol::{FileRef, RoomId};

impl Runtime {
    /// Who we are in a room we are in, and where and who its host is, for a transfer.
    pub(super) fn peer(&self, room: &RoomId) -> Option<Peer> {
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

    /// Uploads files to a room we are in, one transfer each.
    pub(super) fn send_files(&mut self, room: RoomId, paths: Vec<std::path::PathBuf>) {
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
    pub(super) fn spawn_opener(
        &self,
        path: std::path::PathBuf,
        how: fn(&std::path::Path) -> std::io::Result<()>,
    ) {
        let events = self.events.clone();
        tokio::task::spawn_blocking(move || {
            if let Err(e) = how(&path) {
                events.send(Event::NotOpened {
                    path,
                    error: e.to_string(),
                });
            }
        });
    }

    /// Downloads a file posted in a room we are in; in another, the transfer is refused.
    pub(super) fn download(&mut self, room: RoomId, file: FileRef) {
        match self.peer(&room) {
            Some(peer) => self.transfers.download(peer, file),
            None => self
                .transfers
                .refuse(room, file, TransferFailure::NotJoined),
        }
    }
}

/// What the transfers tell, shown in the front end; a file that came or went gets its
/// thumbnail here, if it is an image.
impl From<EventSender> for Reporter {
    fn from(events: EventSender) -> Self {
        Reporter::new(move |told| match told {
            TransferEvent::Transfer(transfer) => events.send(Event::Transfer(transfer)),
            TransferEvent::Saved { hash, path } => events.send(Event::Saved { hash, path }),
            TransferEvent::Finished { hash, path, .. } => {
                desktop::spawn_thumbnail(events.clone(), hash, path)
            }
            TransferEvent::Arriving(arrival) => events.send(Event::Arriving(arrival)),
        })
    }
}
