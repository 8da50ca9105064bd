//! The runtime's file transfers: each upload or download runs as a task of its own that
//! reports progress a few times a second, retries (resuming) when a connection breaks, and
//! can be cancelled. Received images get a thumbnail. Nothing here touches the window.

use crate::bridge::{Event, EventSender, Thumbnail, Transfer, TransferId, TransferState};
use crate::net::transfer::{self, Peer, TransferError};
use crate::protocol::{FileHash, FileRef, RoomId};
use crate::store::PieceHashes;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// How often a running transfer reports.
const REPORT_EVERY: Duration = Duration::from_millis(250);
/// Tries after a broken connection before a transfer gives up.
const ATTEMPTS: u32 = 6;
/// Images larger than this get no thumbnail (decoding would take too long).
const MAX_THUMBNAIL_SOURCE: u64 = 64 << 20;
/// The longest side of a thumbnail, in pixels.
const THUMBNAIL_SIDE: u32 = 320;

/// One running transfer, as the runtime keeps it.
struct Running {
    /// Cancels it as the user asked (a download's partial file is removed).
    cancel: CancellationToken,
    /// Stops it at shutdown, leaving partial files for a resume.
    task: tokio::task::JoinHandle<()>,
    /// For downloads: the file, so a second request for it is not a second download.
    hash: Option<FileHash>,
}

/// Every transfer of this app.
pub struct Transfers {
    events: EventSender,
    /// The number the next transfer gets.
    next_id: TransferId,
    running: Arc<std::sync::Mutex<HashMap<TransferId, Running>>>,
    /// Where downloads are saved.
    downloads: PathBuf,
}

impl Transfers {
    pub fn new(events: EventSender, downloads: PathBuf) -> Self {
        Self {
            events,
            next_id: 1,
            running: Arc::default(),
            downloads,
        }
    }

    pub fn downloads(&self) -> &Path {
        &self.downloads
    }

    pub fn set_downloads(&mut self, dir: PathBuf) {
        self.downloads = dir;
    }

    fn start(
        &mut self,
        hash: Option<FileHash>,
        job: impl FnOnce(TransferId, CancellationToken) -> Job,
    ) -> TransferId {
        let id = self.next_id;
        self.next_id += 1;
        let cancel = CancellationToken::new();
        let job = job(id, cancel.clone());
        let running = self.running.clone();
        let task = tokio::spawn(async move {
            job.run().await;
            running.lock().expect("transfers lock").remove(&id);
        });
        self.running
            .lock()
            .expect("transfers lock")
            .insert(id, Running { cancel, task, hash });
        id
    }

    /// Sends a file to a room.
    pub fn upload(&mut self, peer: Peer, path: PathBuf) {
        let events = self.events.clone();
        self.start(None, |id, cancel| Job {
            id,
            peer,
            events,
            cancel,
            kind: Kind::Upload { path },
        });
    }

    /// Fetches a file shared in a room, unless it is already on its way.
    pub fn download(&mut self, peer: Peer, file: FileRef) {
        let already = self
            .running
            .lock()
            .expect("transfers lock")
            .values()
            .any(|r| r.hash.as_ref() == Some(&file.hash));
        if already {
            return;
        }
        let events = self.events.clone();
        let dir = self.downloads.clone();
        let hash = Some(file.hash.clone());
        self.start(hash, |id, cancel| Job {
            id,
            peer,
            events,
            cancel,
            kind: Kind::Download { file, dir },
        });
    }

    pub fn cancel(&mut self, id: TransferId) {
        if let Some(running) = self.running.lock().expect("transfers lock").get(&id) {
            running.cancel.cancel();
        }
    }

    /// Stops every transfer without cancelling it: partial files stay for the next run.
    pub fn shutdown(&mut self) {
        for (_, running) in self.running.lock().expect("transfers lock").drain() {
            running.task.abort();
        }
    }
}

/// What a transfer does.
enum Kind {
    Upload { path: PathBuf },
    Download { file: FileRef, dir: PathBuf },
}

/// One transfer's task.
struct Job {
    id: TransferId,
    peer: Peer,
    events: EventSender,
    cancel: CancellationToken,
    kind: Kind,
}

/// What a transfer reports, kept between reports.
struct Report {
    transfer: Transfer,
    /// The last measure of progress, for the rate.
    last: (Instant, u64),
}

impl Report {
    fn new(
        id: TransferId,
        room: RoomId,
        upload: bool,
        name: String,
        size: u64,
        hash: Option<FileHash>,
    ) -> Self {
        let state = if upload {
            TransferState::Preparing
        } else {
            TransferState::Running
        };
        let transfer = Transfer {
            id,
            room,
            upload,
            name,
            size,
            done: 0,
            rate: 0.0,
            hash,
            state,
        };
        Self {
            transfer,
            last: (Instant::now(), 0),
        }
    }

    fn send(&self, events: &EventSender) {
        events.send(Event::Transfer(self.transfer.clone()));
    }

    /// Updates progress and the rate (smoothed, so the time left does not jump about).
    fn progress(&mut self, done: u64) {
        let now = Instant::now();
        let (then, before) = self.last;
        let secs = now.duration_since(then).as_secs_f64();
        if secs > 0.0 && done >= before {
            let rate = (done - before) as f64 / secs;
            self.transfer.rate = if self.transfer.rate == 0.0 {
                rate
            } else {
                0.7 * self.transfer.rate + 0.3 * rate
            };
        }
        self.last = (now, done);
        self.transfer.done = done;
    }
}

impl Job {
    async fn run(self) {
        let (upload, name, size, hash) = match &self.kind {
            Kind::Upload { path } => {
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let size = tokio::fs::metadata(path)
                    .await
                    .map(|m| m.len())
                    .unwrap_or(0);
                (true, name, size, None)
            }
            Kind::Download { file, .. } => {
                (false, file.name.clone(), file.size, Some(file.hash.clone()))
            }
        };
        let mut report = Report::new(self.id, self.peer.room.clone(), upload, name, size, hash);
        report.send(&self.events);
        let hashes = match self.hash_upload().await {
            Ok(hashes) => hashes,
            Err(e) => {
                report.transfer.state = match e {
                    TransferError::Cancelled => TransferState::Cancelled,
                    e => TransferState::Failed(format!("cannot read the file: {e}")),
                };
                return report.send(&self.events);
            }
        };
        if let Some(hashes) = &hashes {
            report.transfer.hash = Some(FileHash::from_bytes(&hashes.root()));
            report.transfer.state = TransferState::Running;
            report.send(&self.events);
        }
        let (progress, mut seen) = watch::channel(0u64);
        let work = self.work(hashes, progress);
        tokio::pin!(work);
        let mut tick = tokio::time::interval(REPORT_EVERY);
        let outcome = loop {
            tokio::select! {
                outcome = &mut work => break outcome,
                _ = tick.tick() => {
                    if seen.has_changed().unwrap_or(false) {
                        let done = *seen.borrow_and_update();
                        report.progress(done);
                        report.transfer.state = TransferState::Running;
                        report.send(&self.events);
                    }
                }
            }
        };
        report.transfer.rate = 0.0;
        report.transfer.state = match outcome {
            Ok(done) => {
                report.transfer.done = report.transfer.size;
                if let TransferState::Done {
                    path: Some(path), ..
                } = &done
                    && let Some(hash) = &report.transfer.hash
                {
                    spawn_thumbnail(
                        self.events.clone(),
                        hash.clone(),
                        path.clone(),
                        report.transfer.size,
                    );
                }
                done
            }
            Err(TransferError::Cancelled) => TransferState::Cancelled,
            Err(e) => TransferState::Failed(e.to_string()),
        };
        report.send(&self.events);
    }

    /// Reads an upload once to hash its pieces; `None` for a download.
    async fn hash_upload(&self) -> Result<Option<PieceHashes>, TransferError> {
        let Kind::Upload { path } = &self.kind else {
            return Ok(None);
        };
        let path = path.clone();
        let hashing = tokio::task::spawn_blocking(move || {
            let file = std::fs::File::open(&path)?;
            let size = file.metadata()?.len();
            PieceHashes::compute(file, size)
        });
        let hashes = tokio::select! {
            _ = self.cancel.cancelled() => return Err(TransferError::Cancelled),
            hashes = hashing => hashes,
        };
        Ok(Some(
            hashes.map_err(|e| std::io::Error::other(e.to_string()))??,
        ))
    }

    /// Does the transfer, retrying (and so resuming) after a broken connection.
    async fn work(
        &self,
        hashes: Option<PieceHashes>,
        progress: watch::Sender<u64>,
    ) -> Result<TransferState, TransferError> {
        let mut wait = Duration::from_secs(1);
        for attempt in 1..=ATTEMPTS {
            let result = match (&self.kind, &hashes) {
                (Kind::Upload { path }, Some(hashes)) => {
                    transfer::upload(&self.peer, path, hashes, &progress, &self.cancel)
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
            };
            match result {
                Err(e) if retryable(&e) && attempt < ATTEMPTS => {
                    tracing::info!("transfer {}: {e}; trying again", self.id);
                    tokio::select! {
                        _ = self.cancel.cancelled() => return Err(TransferError::Cancelled),
                        _ = tokio::time::sleep(wait) => {}
                    }
                    wait = (wait * 2).min(Duration::from_secs(15));
                }
                other => return other,
            }
        }
        unreachable!("the last attempt returns")
    }
}

/// Errors a new connection may cure: the transfer resumes where it stopped.
fn retryable(e: &TransferError) -> bool {
    matches!(
        e,
        TransferError::Io(_) | TransferError::Ended | TransferError::Protocol(_)
    )
}

/// Makes a thumbnail of a received image, off the async threads.
fn spawn_thumbnail(events: EventSender, hash: FileHash, path: PathBuf, size: u64) {
    let image = matches!(
        path.extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("png" | "jpg" | "jpeg" | "gif" | "webp" | "bmp")
    );
    if !image || size > MAX_THUMBNAIL_SOURCE {
        return;
    }
    tokio::task::spawn_blocking(move || match thumbnail(&path) {
        Ok(image) => events.send(Event::Thumbnail {
            hash,
            image: Arc::new(image),
        }),
        Err(e) => tracing::debug!("no thumbnail for {}: {e}", path.display()),
    });
}

/// Decodes an image file and scales it to fit [`THUMBNAIL_SIDE`].
pub fn thumbnail(path: &Path) -> Result<Thumbnail, image::ImageError> {
    let image = image::ImageReader::open(path)?
        .with_guessed_format()?
        .decode()?;
    let small = image.thumbnail(THUMBNAIL_SIDE, THUMBNAIL_SIDE).into_rgba8();
    Ok(Thumbnail {
        width: small.width(),
        height: small.height(),
        rgba: small.into_raw(),
    })
}

/// Opens a file with the system's default app, without waiting for it.
pub fn open(path: &Path) -> std::io::Result<()> {
    open::that_detached(path)
}

/// Shows a file in the system's file manager (its folder, where the manager cannot select it).
pub fn reveal(path: &Path) -> std::io::Result<()> {
    #[cfg(target_os = "windows")]
    {
        let mut select = std::ffi::OsString::from("/select,");
        select.push(path);
        std::process::Command::new("explorer")
            .arg(select)
            .spawn()
            .map(drop)
    }
    #[cfg(target_os = "macos")]
    {
        std::process::Command::new("open")
            .arg("-R")
            .arg(path)
            .spawn()
            .map(drop)
    }
    #[cfg(not(any(target_os = "windows", target_os = "macos")))]
    {
        open::that_detached(path.parent().unwrap_or(path))
    }
}
