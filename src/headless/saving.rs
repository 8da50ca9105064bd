//! Which files `lanchat join` saves by themselves (see [`AutoSave`]).

use crate::bridge::{Command, Transfer, TransferState};
use crate::protocol::{ChatMessage, FileHash, RoomId};
use std::collections::BTreeSet;

/// The auto-save rule of `lanchat join --downloads`: every file shared in the room is saved,
/// and the command waits for the ones still coming.
pub(super) struct AutoSave {
    /// Whether files shared in the room are downloaded (`--downloads`).
    receives: bool,
    /// Downloads under way: the session keeps the end of stdin from ending the command.
    receiving: BTreeSet<FileHash>,
}

impl AutoSave {
    pub(super) fn new(receives: bool) -> Self {
        AutoSave {
            receives,
            receiving: BTreeSet::new(),
        }
    }

    /// A message of the room was shown: the download of its file, if files are saved.
    pub(super) fn message(&mut self, room: &RoomId, message: &ChatMessage) -> Option<Command> {
        let (true, Some(file)) = (self.receives, &message.file) else {
            return None;
        };
        self.receiving.insert(file.hash.clone());
        Some(Command::Download {
            room: room.clone(),
            file: file.clone(),
        })
    }

    /// A download's progress: one that ended is no longer waited for.
    pub(super) fn transfer(&mut self, t: &Transfer) {
        let finished = !matches!(t.state, TransferState::Preparing | TransferState::Running);
        if let (true, Some(hash)) = (finished, &t.hash) {
            self.receiving.remove(hash);
        }
    }

    /// Whether no download is under way.
    pub(super) fn idle(&self) -> bool {
        self.receiving.is_empty()
    }
}
