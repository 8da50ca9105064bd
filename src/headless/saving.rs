//! What `lanchat join` waits for before it ends: the downloads under way (see [`Receiving`]).

use crate::bridge::{Transfer, TransferState};
use crate::protocol::FileHash;
use std::collections::BTreeSet;

/// The downloads of the room still coming. With `--downloads` the runtime saves every file
/// shared in the room ([`AutoSave::Every`](crate::runtime::AutoSave::Every)) and tells each
/// download as it starts, before what follows its message (the end of the history, say); the
/// command ends only once none is under way.
#[derive(Default)]
pub(super) struct Receiving {
    /// Downloads under way, by file, as their transfers tell.
    under_way: BTreeSet<FileHash>,
}

impl Receiving {
    /// A download's progress: one running is waited for, one that ended no longer.
    pub(super) fn transfer(&mut self, t: &Transfer) {
        let Some(hash) = &t.hash else { return };
        if matches!(t.state, TransferState::Preparing | TransferState::Running) {
            self.under_way.insert(hash.clone());
        } else {
            self.under_way.remove(hash);
        }
    }

    /// Whether no download is under way.
    pub(super) fn idle(&self) -> bool {
        self.under_way.is_empty()
    }
}
