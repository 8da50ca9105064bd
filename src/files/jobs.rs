//! The runtime's file transfers: each upload or download runs as a task of its own that
//! reports progress a few times a second, retries (resuming) when a connection breaks, and
//! can be cancelled. Files already downloaded are remembered, so asking again opens the saved
//! copy instead of fetching another. Nothing here touches the window.

use crate::files::PieceHashes;
use crate::files::TransferError;
use crate::files::fetch::{self as transfer, Peer};
use crate::files::report::{
    Report, Reporter, Transfer, TransferEvent, TransferFailure, TransferId, TransferState,
    transfer_of,
};
use crate::net::link::LinkError;
use crate::protocol::{FileHash, FileRef, RoomId};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// How often a running transfer reports.
const REPORT_EVERY: Duration = Duration::from_millis(250);
/// Waits between tries after a broken connection: 1 s doubling to 30 s, each with a random
/// part, so the transfers of a restarted host's members do not all come back at once.
const RETRY: backon::ExponentialBuilder = backon::ExponentialBuilder::new()
    .with_min_delay(Duration::from_secs(1))
    .with_max_delay(Duration::from_secs(30))
    .with_jitter()
    .without_max_times();
/// Tries in a row after broken connections, with no progress between them, before a
/// transfer gives up (a minute and a half to three of trying).
const ATTEMPTS: u32 = 8;
/// How long in a row a transfer waits out a host that says "not now" (busy, or receiving
/// the same file from someone else, or our session rejoining) before giving up.
const LATER_LIMIT: Duration = Duration::from_secs(600);

/// One running transfer, as the runtime keeps it.
struct Running {
    /// The room it belongs to, so leaving the room stops it.
    room: RoomId,
    /// Cancels it as the user asked (a download's partial file is removed).
    cancel: CancellationToken,
    /// Stops it at shutdown, leaving partial files for a resume.
    task: tokio::task::JoinHandle<()>,
    /// For downloads: the file, so a second request for it is not a second download.
    hash: Option<FileHash>,
}

/// Every transfer of this app.
pub struct Transfers {
    /// Where every transfer tells how it stands.
    reporter: Reporter,
    /// The number the next transfer gets.
    next_id: TransferId,
    /// Transfers under way; each task removes itself when it ends.
    running: Arc<Mutex<HashMap<TransferId, Running>>>,
    /// Where downloads are saved.
    downloads: PathBuf,
    /// Files saved by earlier downloads, kept in `saved.json` so a restart remembers them.
    saved: Arc<Mutex<Saved>>,
}

/// Downloads that were saved, by file, and where that is recorded.
struct Saved {
    files: HashMap<FileHash, PathBuf>,
    record: PathBuf,
    /// Writes of the record under way, waited for at shutdown so none is cut off.
    writes: tokio_util::task::TaskTracker,
}

impl Saved {
    /// Writes the record off the async threads; a failure only costs the memory of it.
    fn store(&self) {
        let (files, record) = (self.files.clone(), self.record.clone());
        self.writes.spawn_blocking(move || {
            let write = || -> std::io::Result<()> {
                if let Some(dir) = record.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                let tmp = record.with_extension("json.tmp");
                std::fs::write(
                    &tmp,
                    serde_json::to_vec(&files).map_err(std::io::Error::other)?,
                )?;
                std::fs::rename(&tmp, &record)
            };
            if let Err(e) = write() {
                tracing::warn!("could not record saved files in {}: {e}", record.display());
            }
        });
    }
}

impl Transfers {
    /// Starts with the saved files recorded in `record` (read here: call it off the UI thread)
    /// and tells `reporter` about them.
    pub async fn new(reporter: impl Into<Reporter>, downloads: PathBuf, record: PathBuf) -> Self {
        let reporter = reporter.into();
        let path = record.clone();
        let files: HashMap<FileHash, PathBuf> = tokio::task::spawn_blocking(move || {
            std::fs::read(&path)
                .ok()
                .and_then(|bytes| serde_json::from_slice(&bytes).ok())
                .unwrap_or_default()
        })
        .await
        .unwrap_or_default();
        for (hash, path) in &files {
            reporter.tell(TransferEvent::Saved {
                hash: hash.clone(),
                path: path.clone(),
            });
        }
        let saved = Arc::new(Mutex::new(Saved {
            files,
            record,
            writes: tokio_util::task::TaskTracker::new(),
        }));
        Self {
            reporter,
            next_id: 1,
            running: Arc::default(),
            downloads,
            saved,
        }
    }

    /// The folder downloads are saved in.
    pub fn downloads(&self) -> &Path {
        &self.downloads
    }

    /// Saves later downloads in `dir`.
    pub fn set_downloads(&mut self, dir: PathBuf) {
        self.downloads = dir;
    }

    fn next_id(&mut self) -> TransferId {
        self.next_id += 1;
        self.next_id - 1
    }

    fn start(
        &mut self,
        room: RoomId,
        hash: Option<FileHash>,
        job: impl FnOnce(TransferId, CancellationToken) -> Job,
    ) {
        let id = self.next_id();
        let cancel = CancellationToken::new();
        let job = job(id, cancel.clone());
        // A download is told at once, before anything told after it is asked for: a front end
        // waiting for the downloads under way (`lanchat join --downloads`) counts it already.
        let first = job.download_report();
        if let Some(report) = &first {
            report.send(&self.reporter);
        }
        // Held while spawning, so the task cannot remove its entry before it is in.
        let mut running = self.running.lock().expect("transfers lock");
        let all = self.running.clone();
        let task = tokio::spawn(async move {
            job.run(first).await;
            all.lock().expect("transfers lock").remove(&id);
        });
        running.insert(
            id,
            Running {
                room,
                cancel,
                task,
                hash,
            },
        );
    }

    /// Sends a file to a room, under its own name.
    pub fn upload(&mut self, peer: Peer, path: PathBuf) {
        let name = super::names::name_of(&path);
        self.upload_as(peer, path, name);
    }

    /// Sends a file to a room as `name`: for a file of a folder sent, its path inside the
    /// folder ("Photos/2026/a.jpg"), which the members save it at.
    pub fn upload_as(&mut self, peer: Peer, path: PathBuf, name: String) {
        let reporter = self.reporter.clone();
        let room = peer.room.clone();
        let saved = self.saved.clone();
        self.start(room, None, |id, cancel| Job {
            id,
            peer,
            reporter,
            cancel,
            saved,
            kind: Kind::Upload {
                path,
                name,
                share: rand::random(),
            },
        });
    }

    /// Fetches a file shared in a room, unless it is on its way or was saved already (then
    /// the saved copy is reported as done).
    pub fn download(&mut self, peer: Peer, file: FileRef) {
        let on_its_way = self
            .running
            .lock()
            .expect("transfers lock")
            .values()
            .any(|r| r.hash.as_ref() == Some(&file.hash));
        if on_its_way {
            return;
        }
        let saved = self
            .saved
            .lock()
            .expect("saved lock")
            .files
            .get(&file.hash)
            .cloned();
        if let Some(path) =
            saved.filter(|p| std::fs::metadata(p).is_ok_and(|m| m.len() == file.size))
        {
            let id = self.next_id();
            let state = TransferState::Done {
                path: Some(path),
                message: None,
            };
            let transfer = transfer_of(id, peer.room, false, &file, state);
            return self.reporter.tell(TransferEvent::Transfer(transfer));
        }
        let reporter = self.reporter.clone();
        let dir = self.downloads.clone();
        let (room, hash, saved) = (
            peer.room.clone(),
            Some(file.hash.clone()),
            self.saved.clone(),
        );
        self.start(room, hash, |id, cancel| Job {
            id,
            peer,
            reporter,
            cancel,
            saved,
            kind: Kind::Download { file, dir },
        });
    }

    /// Reports a download that cannot start, and why.
    pub fn refuse(&mut self, room: RoomId, file: FileRef, why: TransferFailure) {
        let id = self.next_id();
        let transfer = transfer_of(id, room, false, &file, TransferState::Failed(why));
        self.reporter.tell(TransferEvent::Transfer(transfer));
    }

    /// Stops a transfer as the user asked.
    pub fn cancel(&mut self, id: TransferId) {
        if let Some(running) = self.running.lock().expect("transfers lock").get(&id) {
            running.cancel.cancel();
        }
    }

    /// Stops every transfer of a room we leave.
    pub fn cancel_room(&mut self, room: &RoomId) {
        for running in self
            .running
            .lock()
            .expect("transfers lock")
            .values()
            .filter(|r| &r.room == room)
        {
            running.cancel.cancel();
        }
    }

    /// Stops every transfer without cancelling it: partial files stay for the next run.
    /// Stops every transfer; the returned future ends once the record of saved files is
    /// written.
    pub fn shutdown(&mut self) -> impl std::future::Future<Output = ()> + use<> {
        for (_, running) in self.running.lock().expect("transfers lock").drain() {
            running.task.abort();
        }
        let writes = self.saved.lock().expect("saved lock").writes.clone();
        writes.close();
        async move { writes.wait().await }
    }
}

/// What a transfer does.
enum Kind {
    /// Send the file at this path as `name`, as the sharing numbered `share` (random: see
    /// [`crate::protocol::Upload::share`]).
    Upload {
        path: PathBuf,
        name: String,
        share: u64,
    },
    /// Fetch this file into this folder.
    Download { file: FileRef, dir: PathBuf },
}

/// One transfer's task.
struct Job {
    id: TransferId,
    /// Who we are in the room, and where its host is.
    peer: Peer,
    /// Where it tells how it stands.
    reporter: Reporter,
    /// Set when the user cancels.
    cancel: CancellationToken,
    /// Where a finished download is recorded.
    saved: Arc<Mutex<Saved>>,
    kind: Kind,
}

impl Job {
    /// Does the transfer; `first`: what a download told as it started (an upload tells it
    /// here, once its file is looked at).
    async fn run(self, first: Option<Report>) {
        let mut report = match first {
            Some(report) => report,
            None => {
                let report = self.first_report().await;
                report.send(&self.reporter);
                report
            }
        };
        let hashes = match self.hash_upload().await {
            Ok(hashes) => hashes,
            Err(e) => {
                report.transfer.state = match e {
                    TransferError::Cancelled => TransferState::Cancelled,
                    e => TransferState::Failed(TransferFailure::Unreadable(Arc::new(e))),
                };
                return report.send(&self.reporter);
            }
        };
        if let Some(hashes) = &hashes {
            report.transfer.hash = Some(FileHash::from_bytes(&hashes.root()));
            report.transfer.state = TransferState::Running;
            report.send(&self.reporter);
        }
        let outcome = self.work_reporting(hashes, &mut report).await;
        report.transfer.rate = 0.0;
        report.transfer.retrying = None;
        report.transfer.state = match outcome {
            Ok(done) => {
                report.transfer.done = report.transfer.size;
                self.finished(&report.transfer, &done);
                done
            }
            Err(TransferError::Cancelled) => TransferState::Cancelled,
            Err(e) => TransferState::Failed(TransferFailure::Broke(Arc::new(e))),
        };
        report.send(&self.reporter);
    }

    /// How a download stands as it starts, known at once; `None` for an upload.
    fn download_report(&self) -> Option<Report> {
        let Kind::Download { file, .. } = &self.kind else {
            return None;
        };
        let (room, running) = (self.peer.room.clone(), TransferState::Running);
        Some(Report {
            transfer: transfer_of(self.id, room, false, file, running),
            last: None,
        })
    }

    /// How the transfer stands before it starts: an upload is read (to hash it) first.
    async fn first_report(&self) -> Report {
        let (upload, name, size, hash) = match &self.kind {
            Kind::Upload { path, name, .. } => {
                let size = tokio::fs::metadata(path)
                    .await
                    .map(|m| m.len())
                    .unwrap_or(0);
                (true, name.clone(), size, None)
            }
            Kind::Download { file, .. } => {
                (false, file.name.clone(), file.size, Some(file.hash.clone()))
            }
        };
        let state = if upload {
            TransferState::Preparing
        } else {
            TransferState::Running
        };
        let transfer = Transfer {
            id: self.id,
            room: self.peer.room.clone(),
            upload,
            name,
            size,
            done: 0,
            rate: 0.0,
            hash,
            state,
            retrying: None,
        };
        Report {
            transfer,
            last: None,
        }
    }

    /// Does the transfer (see [`Job::work`]), reporting its progress every
    /// [`REPORT_EVERY`] and each wait to try again.
    async fn work_reporting(
        &self,
        hashes: Option<PieceHashes>,
        report: &mut Report,
    ) -> Result<TransferState, TransferError> {
        let (progress, mut seen) = watch::channel(0u64);
        let (retrying, mut why) = watch::channel(None);
        let work = self.work(hashes, progress, retrying);
        tokio::pin!(work);
        let mut tick = tokio::time::interval(REPORT_EVERY);
        loop {
            tokio::select! {
                outcome = &mut work => return outcome,
                Ok(()) = why.changed() => {
                    report.transfer.retrying = why.borrow_and_update().clone();
                    report.send(&self.reporter);
                }
                _ = tick.tick() => {
                    // Every tick, moving or not: a stalled transfer's speed falls to nothing.
                    let done = *seen.borrow_and_update();
                    if done < report.transfer.done {
                        report.last = None; // restarted below where it was
                    }
                    report.progress(done);
                    report.send(&self.reporter);
                }
            }
        }
    }

    /// A finished transfer: a download is recorded; either way its file is told (an image
    /// gets a thumbnail).
    fn finished(&self, transfer: &Transfer, done: &TransferState) {
        let Some(hash) = &transfer.hash else { return };
        let path = match (&self.kind, done) {
            (
                Kind::Download { .. },
                TransferState::Done {
                    path: Some(path), ..
                },
            ) => {
                let mut saved = self.saved.lock().expect("saved lock");
                saved.files.insert(hash.clone(), path.clone());
                saved.store();
                path.clone()
            }
            // What we sent is remembered too: its card offers Open and its picture after a
            // restart, and fetching it again finds it here.
            (Kind::Upload { path, .. }, _) => {
                let mut saved = self.saved.lock().expect("saved lock");
                saved.files.insert(hash.clone(), path.clone());
                saved.store();
                path.clone()
            }
            _ => return,
        };
        self.reporter.tell(TransferEvent::Finished {
            hash: hash.clone(),
            path,
            size: transfer.size,
        });
    }

    /// Reads an upload once to hash its pieces; `None` for a download.
    async fn hash_upload(&self) -> Result<Option<PieceHashes>, TransferError> {
        let Kind::Upload { path, .. } = &self.kind else {
            return Ok(None);
        };
        let path = path.clone();
        let hashing = tokio::task::spawn_blocking(move || {
            let file = std::fs::File::open(&path)?;
            let meta = file.metadata()?;
            if meta.is_dir() {
                return Err(std::io::Error::other(
                    "it is a folder; send the files in it instead",
                ));
            }
            PieceHashes::compute(file, meta.len())
        });
        let hashes = tokio::select! {
            _ = self.cancel.cancelled() => return Err(TransferError::Cancelled),
            hashes = hashing => hashes,
        };
        Ok(Some(
            hashes.map_err(|e| std::io::Error::other(e.to_string()))??,
        ))
    }

    /// Does the transfer, retrying (and so resuming) after a transient error, saying why in
    /// `retrying` while it waits; a permanent one ends it at once. Cancelling stops it
    /// wherever it is: dialling, waiting for the host, or sending.
    async fn work(
        &self,
        hashes: Option<PieceHashes>,
        progress: watch::Sender<u64>,
        retrying: watch::Sender<Option<String>>,
    ) -> Result<TransferState, TransferError> {
        use backon::BackoffBuilder;
        let mut waits = RETRY.build();
        // Failures in a row: broken connections, and since when the host says "not now".
        let (mut broken, mut later_since) = (0, None::<Instant>);
        loop {
            let before = *progress.borrow();
            let attempt_once = async {
                match (&self.kind, &hashes) {
                    (Kind::Upload { path, name, share }, Some(hashes)) => {
                        let what = (path.as_path(), name.as_str(), *share);
                        transfer::upload_shared(&self.peer, what, hashes, &progress, &self.cancel)
                            .await
                            .map(|(_, id)| TransferState::Done {
                                path: None,
                                message: Some(id),
                            })
                    }
                    (Kind::Download { file, dir }, _) => {
                        transfer::download(&self.peer, file, dir, &progress, &self.cancel)
                            .await
                            .map(|path| TransferState::Done {
                                path: Some(path),
                                message: None,
                            })
                    }
                    (Kind::Upload { .. }, None) => unreachable!("uploads are hashed first"),
                }
            };
            let result = tokio::select! {
                // A download removes its partial file itself when it sees the cancel.
                _ = self.cancel.cancelled(), if matches!(self.kind, Kind::Upload { .. }) => Err(TransferError::Cancelled),
                result = attempt_once => result,
            };
            let e = match result {
                Err(e) if transient(&e) => e,
                other => return other,
            };
            if *progress.borrow() > before {
                // It got somewhere: the count of failures in a row starts again.
                (broken, later_since, waits) = (0, None, RETRY.build());
            }
            // "Not now" from the host is waited out for longer than a broken connection.
            let give_up = match e {
                TransferError::Later(_) => {
                    later_since.get_or_insert_with(Instant::now).elapsed() >= LATER_LIMIT
                }
                _ => {
                    later_since = None;
                    broken += 1;
                    broken >= ATTEMPTS
                }
            };
            if give_up {
                return Err(e);
            }
            let wait = waits.next().unwrap_or(Duration::from_secs(30));
            tracing::info!("transfer {}: {e}; trying again in {wait:?}", self.id);
            retrying.send_replace(Some(e.to_string()));
            tokio::select! {
                _ = self.cancel.cancelled() => return Err(TransferError::Cancelled),
                _ = tokio::time::sleep(wait) => {}
            }
            retrying.send_replace(None);
        }
    }
}

/// Errors that may pass (a broken connection, a host restarting or busy): the transfer tries
/// again, resuming where it stopped. Anything else will not change by trying again — a
/// downloads folder that is read-only or full, a refusal, a file that does not match — and
/// is told at once.
fn transient(e: &TransferError) -> bool {
    match e {
        TransferError::Io(io) | TransferError::Link(LinkError::Io(io)) => transient_io(io.kind()),
        TransferError::Ended | TransferError::Protocol(_) | TransferError::Later(_) => true,
        TransferError::Link(link) => !matches!(
            link,
            LinkError::KeyChanged { .. }
                | LinkError::Version { .. }
                | LinkError::NotLanchat
                | LinkError::OldPeer
        ),
        _ => false,
    }
}

/// I/O errors of a network, not of a disk.
fn transient_io(kind: std::io::ErrorKind) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        kind,
        ConnectionReset
            | ConnectionAborted
            | ConnectionRefused
            | BrokenPipe
            | TimedOut
            | NotConnected
            | HostUnreachable
            | NetworkUnreachable
            | NetworkDown
            | AddrNotAvailable
            | Interrupted
            | WouldBlock
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::RefuseCode;
    use std::io::{Error, ErrorKind};

    #[test]
    fn a_folder_problem_is_told_at_once_and_a_broken_connection_is_tried_again() {
        for kind in [
            ErrorKind::ReadOnlyFilesystem,
            ErrorKind::PermissionDenied,
            ErrorKind::StorageFull,
            ErrorKind::QuotaExceeded,
            ErrorKind::NotFound,
            ErrorKind::IsADirectory,
            ErrorKind::NotADirectory,
            ErrorKind::InvalidFilename,
            ErrorKind::FileTooLarge,
            ErrorKind::UnexpectedEof,
        ] {
            assert!(
                !transient(&TransferError::Io(Error::from(kind))),
                "{kind:?}"
            );
        }
        for kind in [
            ErrorKind::ConnectionReset,
            ErrorKind::ConnectionRefused,
            ErrorKind::BrokenPipe,
            ErrorKind::TimedOut,
            ErrorKind::HostUnreachable,
            ErrorKind::NetworkDown,
        ] {
            assert!(transient(&TransferError::Io(Error::from(kind))), "{kind:?}");
            let link = TransferError::Link(LinkError::Io(Error::from(kind)));
            assert!(transient(&link), "{kind:?} on the link");
        }
        assert!(transient(&TransferError::Ended));
        assert!(transient(&TransferError::Later(RefuseCode::Busy.into())));
        for permanent in [
            TransferError::Refused(RefuseCode::WrongRoom.into()),
            TransferError::DiskFull,
            TransferError::Mismatch(3),
            TransferError::NoSpace {
                need: "2 GB".into(),
                free: "1 GB".into(),
            },
            TransferError::Link(LinkError::NotLanchat),
            TransferError::Folder {
                dir: "/media/usb".into(),
                error: Error::from(ErrorKind::ReadOnlyFilesystem),
            },
        ] {
            assert!(!transient(&permanent), "{permanent}");
        }
    }
}
