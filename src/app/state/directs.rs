//! Direct messages: the conversation with each other device, and how its key stands with
//! the one pinned for its name.

use crate::store::{Direct, Sent};

/// How a conversation's other device stands with the key pinned for its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerKey {
    /// Not written to or heard from yet, or not compared: sealed for the key the room's host
    /// gave, which only comparing fingerprints shows to be theirs.
    Unverified,
    /// Its fingerprint was compared with its owner's and marked verified.
    Verified,
    /// Its name had another key when last written to: nothing is sent to this one until the
    /// user accepts it. The fingerprint of the key pinned.
    Changed { pinned: String },
}

/// The direct messages with one other device.
#[derive(Debug, Clone, Default)]
pub struct Conversation {
    /// The other user's name, as last heard.
    pub name: String,
    /// Both sides' messages, in the order written or received.
    pub lines: Vec<Direct>,
    /// Theirs that arrived while the conversation was not in front of the user.
    pub unread: usize,
    /// An error to show by the composer (not sent, and why).
    pub error: Option<String>,
}

impl Conversation {
    /// Adds a message, or updates the one it is (relayed again, or ours confirmed); returns
    /// whether it was new.
    pub(super) fn add(&mut self, d: Direct) -> bool {
        if !d.outgoing {
            self.name = d.peer_name.clone();
        }
        let same = |l: &Direct| l.outgoing == d.outgoing && l.seq == d.seq;
        match self.lines.iter_mut().find(|l| same(l)) {
            Some(known) => {
                known.state = d.state;
                false
            }
            None => {
                self.lines.push(d);
                true
            }
        }
    }

    pub(super) fn sent(&mut self, seq: u64, state: Sent) {
        if let Some(line) = self.lines.iter_mut().find(|l| l.outgoing && l.seq == seq) {
            line.state = state;
        }
    }
}
