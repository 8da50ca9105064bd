//! How a transfer stands, as the runtime's transfers ([`super::jobs`]) tell it: a
//! [`Transfer`] a few times a second while it runs, and the files saved or sent. They tell a
//! [`Reporter`], which the runtime makes to show it in its front end (the bridge's
//! events carry these types as they are) and to make an image's thumbnail.

use super::TransferError;
use crate::protocol::{FileHash, FileRef, RoomId};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// Names one transfer for as long as the app runs.
pub type TransferId = u64;

/// One file on its way.
#[derive(Debug, Clone, PartialEq)]
pub struct Transfer {
    /// Names this transfer in later reports and in a cancel.
    pub id: TransferId,
    /// The room the file belongs to.
    pub room: RoomId,
    /// True for a file we send.
    pub upload: bool,
    /// The file's name, as sent.
    pub name: String,
    /// The file's bytes.
    pub size: u64,
    /// Bytes sent, or received and verified.
    pub done: u64,
    /// Bytes per second lately.
    pub rate: f64,
    /// For downloads, and for uploads once hashed: the file's identity.
    pub hash: Option<FileHash>,
    /// Where it is now.
    pub state: TransferState,
    /// While running: the connection broke and it waits to try again (resuming), and why.
    pub retrying: Option<String>,
}

/// Where a transfer is.
#[derive(Debug, Clone, PartialEq)]
pub enum TransferState {
    /// Reading the file to hash it before sending.
    Preparing,
    Running,
    /// Finished: a download's saved path; an upload's message id.
    Done {
        path: Option<PathBuf>,
        message: Option<u64>,
    },
    /// Stopped by a problem; the front end says which in words.
    Failed(TransferFailure),
    Cancelled,
}

/// Why a transfer stopped, as the front end hears it. Its `Display` is the words a front
/// end shows as they are; the error inside is shared so that a report can be copied.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TransferFailure {
    /// A download asked for in a room we are not in.
    #[error("join the room to download it")]
    NotJoined,
    /// The file to send could not be read to hash it.
    #[error("cannot read the file: {0}")]
    Unreadable(Arc<TransferError>),
    /// The transfer itself failed.
    #[error("{0}")]
    Broke(Arc<TransferError>),
}

/// Two failures are the same report if they are the same kind, from the same error.
impl PartialEq for TransferFailure {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::NotJoined, Self::NotJoined) => true,
            (Self::Unreadable(a), Self::Unreadable(b)) | (Self::Broke(a), Self::Broke(b)) => {
                Arc::ptr_eq(a, b)
            }
            _ => false,
        }
    }
}

impl Transfer {
    /// Seconds left at the current rate, if it can be told.
    pub fn eta(&self) -> Option<f64> {
        (self.rate > 1.0 && matches!(self.state, TransferState::Running))
            .then(|| (self.size.saturating_sub(self.done)) as f64 / self.rate)
    }
}

/// What the transfers tell.
#[derive(Debug, Clone)]
pub enum TransferEvent {
    /// How a transfer stands now.
    Transfer(Transfer),
    /// A file saved by an earlier download (told at start, so its message offers Open).
    Saved { hash: FileHash, path: PathBuf },
    /// A transfer finished with its file at `path` (the file sent, or the download saved),
    /// `size` bytes: an image may be shown small.
    Finished {
        hash: FileHash,
        path: PathBuf,
        size: u64,
    },
    /// A file on its way to a room we host, from one of its members.
    Arriving(Arrival),
}

/// How far a file being uploaded to a room we host has come: our own window shows it
/// arriving on its card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arrival {
    pub room: RoomId,
    pub hash: FileHash,
    /// Bytes verified so far.
    pub done: u64,
    pub size: u64,
    /// Not arriving now: kept whole, stopped for good, or broken off until its sender
    /// resumes it (then told again, arriving).
    pub over: bool,
}

/// Where the transfers tell what happens; clones tell the same place. It must not block:
/// it is called on the async threads.
#[derive(Clone)]
pub struct Reporter(Arc<dyn Fn(TransferEvent) + Send + Sync>);

impl std::fmt::Debug for Reporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Reporter(..)")
    }
}

impl Reporter {
    /// Tells `tell` everything the transfers tell.
    pub fn new(tell: impl Fn(TransferEvent) + Send + Sync + 'static) -> Self {
        Self(Arc::new(tell))
    }

    /// Tells one thing.
    pub fn tell(&self, event: TransferEvent) {
        (self.0)(event)
    }
}

/// What a transfer reports, kept between reports.
pub(super) struct Report {
    /// As last sent.
    pub(super) transfer: Transfer,
    /// The last measure of progress, for the rate; `None` until the first since (re)starting.
    pub(super) last: Option<(Instant, u64)>,
}

impl Report {
    pub(super) fn send(&self, reporter: &Reporter) {
        reporter.tell(TransferEvent::Transfer(self.transfer.clone()));
    }

    /// Updates progress and the rate, smoothed so the time left does not jump about. The first
    /// measure after a (re)start only sets the baseline: bytes resumed are not speed.
    pub(super) fn progress(&mut self, done: u64) {
        let now = Instant::now();
        if let Some((then, before)) = self.last {
            let secs = now.duration_since(then).as_secs_f64();
            if secs > 0.0 && done >= before {
                let rate = (done - before) as f64 / secs;
                self.transfer.rate = if self.transfer.rate == 0.0 {
                    rate
                } else {
                    0.7 * self.transfer.rate + 0.3 * rate
                };
            }
        }
        self.last = Some((now, done));
        self.transfer.done = done;
    }
}

/// A transfer's first and last word at once (it did not run), `state` saying why.
pub(super) fn transfer_of(
    id: TransferId,
    room: RoomId,
    upload: bool,
    file: &FileRef,
    state: TransferState,
) -> Transfer {
    Transfer {
        id,
        room,
        upload,
        name: file.name.clone(),
        size: file.size,
        done: if matches!(state, TransferState::Done { .. }) {
            file.size
        } else {
            0
        },
        rate: 0.0,
        hash: Some(file.hash.clone()),
        state,
        retrying: None,
    }
}
