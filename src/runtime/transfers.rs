//! Files: sending and downloading them through the room they are posted in, cancelling,
//! opening or revealing the saved ones, and what the transfers tell shown in the front end.

use super::{Internal, Runtime};
use crate::bridge::{Event, EventSender};
use crate::desktop;
use crate::files::{Peer, Reporter, TransferEvent, TransferFailure, folder};
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

    /// Uploads files to a room we are in, one transfer each; a folder, each of its files
    /// under its path inside it. What the paths are is found out off the command loop.
    pub(super) fn send_files(&mut self, room: RoomId, paths: Vec<std::path::PathBuf>) {
        if self.peer(&room).is_none() {
            return self.events.send(Event::Alert(
                "Join the room before sending files to it.".into(),
            ));
        }
        let internal = self.internal.clone();
        tokio::task::spawn_blocking(move || {
            let listed = folder::expand(paths);
            let _ = internal.send(Internal::Listed { room, listed });
        });
    }

    /// The files to send to a room are listed: each is uploaded, and what was left out is
    /// said.
    pub(super) fn listed(&mut self, room: RoomId, listed: folder::Listed) {
        let Some(peer) = self.peer(&room) else {
            return self.events.send(Event::Alert(
                "Join the room before sending files to it.".into(),
            ));
        };
        let folder::Listed {
            files,
            skipped,
            cut,
        } = listed;
        if files.is_empty() {
            return self.events.send(Event::Alert(
                "There is no file in that folder to send.".into(),
            ));
        }
        for (path, name) in files {
            self.transfers.upload_as(peer.clone(), path, name);
        }
        let most = folder::MOST_FILES;
        let left_out = match (cut, skipped) {
            (true, _) => format!("Only the first {most} files are sent: send the folders inside it one by one."),
            (false, 0) => return,
            (false, 1) => "One file or folder in it could not be read, or is a link to a folder, and is not sent.".into(),
            (false, n) => format!("{n} files or folders in it could not be read, or are links to folders, and are not sent."),
        };
        self.events.send(Event::Alert(left_out));
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
