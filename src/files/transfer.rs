//! File transfers, each on a connection of its own (see [`crate::protocol`]'s file frames):
//! the host keeping an upload and serving downloads, and a member uploading or downloading.
//!
//! Data arrives in order; each piece is checked against its hash before it is written, so a
//! partial file only ever holds verified pieces and a broken transfer resumes after the last
//! one. Hashing and disk writes run on blocking threads, one piece behind the network, so the
//! two overlap.

use crate::bridge::human_size;
use crate::files::disk::{
    free_space, open_partial, partial_len, partial_path, prepare_partial_dir, tidy_partial_dir,
};
use crate::files::{FileStore, PieceHashes, clean_file_name, create_unique};
use crate::net::identity::{Identity, PublicKey};
use crate::net::limits::{AddressPlace, Limits, PerAddress};
use crate::net::link::{self, Expect, LinkError, LinkReader, LinkWriter, Timeouts};
use crate::protocol::{
    DATA_LEN, FileHash, FileOffer, FileRef, Frame, ProtocolError, RefuseCode, RoomId, Upload,
};
use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Bytes read from disk at a time when sending.
const READ_BLOCK: usize = 1 << 20;

/// Why a transfer stopped, in words for the user.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Protocol(#[from] ProtocolError),
    #[error("the host refused: {0}")]
    Refused(String),
    #[error("the host cannot take it now: {0}")]
    Later(String),
    #[error("the other side sent too slowly")]
    TooSlow,
    #[error("not enough disk space: {need} needed, {free} free")]
    NoSpace { need: String, free: String },
    #[error("the disk filled up; the partial file was removed")]
    DiskFull,
    #[error("cannot save in {dir}: {error}")]
    Folder { dir: String, error: std::io::Error },
    #[error("piece {0} does not match the file's hash")]
    Mismatch(u64),
    #[error("the other side sent more than the file's announced size")]
    Overrun,
    #[error("the other side stopped the transfer: {0}")]
    Stopped(String),
    #[error("cancelled")]
    Cancelled,
    #[error("unexpected {0} frame")]
    Unexpected(&'static str),
    #[error("the connection ended before the transfer did")]
    Ended,
    #[error("{0}")]
    Link(LinkError),
}

/// A host's refusal: one for non-members may pass once our session has (re)joined, and a
/// busy host has room again shortly.
fn refused(code: RefuseCode, reason: String) -> TransferError {
    match code {
        RefuseCode::NotMember | RefuseCode::Busy => TransferError::Later(reason),
        _ => TransferError::Refused(reason),
    }
}

impl From<LinkError> for TransferError {
    fn from(e: LinkError) -> Self {
        match e {
            LinkError::Io(e) => TransferError::Io(e),
            LinkError::Protocol(e) => TransferError::Protocol(e),
            LinkError::Ended => TransferError::Ended,
            other => TransferError::Link(other),
        }
    }
}

async fn send(sink: &mut LinkWriter, frame: Frame) -> Result<(), TransferError> {
    Ok(sink.send(frame).await?)
}

/// The next frame within the idle deadline, or why there is none.
async fn next(frames: &mut LinkReader) -> Result<Frame, TransferError> {
    Ok(frames.next().await?)
}

/// Piece hashes from an offer, tied to its announced hash.
fn hashes_of(offer: &FileOffer) -> Result<PieceHashes, String> {
    let cvs = offer
        .cvs
        .chunks_exact(32)
        .map(|c| c.try_into().expect("32 bytes"))
        .collect();
    PieceHashes::from_offer(offer.size, offer.piece_len, cvs, offer.hash.bytes())
        .map_err(|e| e.to_string())
}

/// How often the host tells an uploader how far it has got.
const ACK_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// The least an uploader must send in each period, so a trickle cannot hold a transfer place.
#[derive(Debug, Clone, Copy)]
struct Pace {
    min: u64,
    every: std::time::Duration,
}

/// Receives a file's bytes in order, checks each piece, and appends the verified pieces to a
/// file, one piece behind on a blocking thread.
struct PieceSink {
    /// What each piece must hash to.
    hashes: Arc<PieceHashes>,
    /// The next byte expected.
    next: u64,
    /// The piece being gathered.
    piece: Vec<u8>,
    /// The file, or the blocking task that has it while it checks and writes a piece.
    file: Slot,
    /// Told the count of bytes verified and written.
    progress: watch::Sender<u64>,
}

enum Slot {
    Idle(std::fs::File),
    Busy(tokio::task::JoinHandle<Result<std::fs::File, TransferError>>),
    Gone,
}

impl PieceSink {
    /// Appends to `file`, which holds the verified pieces before `offset`.
    fn new(
        hashes: Arc<PieceHashes>,
        file: std::fs::File,
        offset: u64,
        progress: watch::Sender<u64>,
    ) -> Self {
        progress.send_replace(offset);
        let piece = Vec::with_capacity(hashes.piece_len() as usize);
        Self {
            hashes,
            next: offset,
            piece,
            file: Slot::Idle(file),
            progress,
        }
    }

    fn done(&self) -> bool {
        self.next == self.hashes.size()
    }

    /// Takes data at `offset`; more than the file's size is an overrun (the excess is dropped).
    async fn push(&mut self, offset: u64, mut bytes: &[u8]) -> Result<(), TransferError> {
        if offset != self.next {
            return Err(TransferError::Unexpected("out-of-order data"));
        }
        let room = self.hashes.size() - self.next;
        let overrun = bytes.len() as u64 > room;
        if overrun {
            bytes = &bytes[..room as usize];
        }
        while !bytes.is_empty() {
            let index = self.next / self.hashes.piece_len();
            let piece_end = self.hashes.piece_range(index).end;
            let take = ((piece_end - self.next) as usize).min(bytes.len());
            self.piece.extend_from_slice(&bytes[..take]);
            self.next += take as u64;
            bytes = &bytes[take..];
            if self.next == piece_end {
                self.write_piece(index).await?;
            }
        }
        if overrun {
            Err(TransferError::Overrun)
        } else {
            Ok(())
        }
    }

    /// Hands the gathered piece to a blocking thread to check and write, after the previous
    /// one is written.
    async fn write_piece(&mut self, index: u64) -> Result<(), TransferError> {
        let mut file = self.take_file().await?;
        let data = std::mem::replace(
            &mut self.piece,
            Vec::with_capacity(self.hashes.piece_len() as usize),
        );
        let hashes = self.hashes.clone();
        let progress = self.progress.clone();
        let end = self.next;
        self.file = Slot::Busy(tokio::task::spawn_blocking(move || {
            if !hashes.verify_piece(index, &data) {
                return Err(TransferError::Mismatch(index));
            }
            file.write_all(&data).map_err(disk_error)?;
            progress.send_replace(end);
            Ok(file)
        }));
        Ok(())
    }

    async fn take_file(&mut self) -> Result<std::fs::File, TransferError> {
        match std::mem::replace(&mut self.file, Slot::Gone) {
            Slot::Idle(file) => Ok(file),
            Slot::Busy(task) => task
                .await
                .map_err(|e| std::io::Error::other(e.to_string()))?,
            Slot::Gone => Err(TransferError::Ended),
        }
    }

    /// Receives `Data` frames until the file is whole. On the host (`pace` given), more than
    /// the announced size is taken as the end, and a sender slower than the pace is dropped;
    /// a downloader refuses an overrun. On any failure it waits for the piece being written,
    /// so the partial file is settled for whoever resumes it.
    async fn receive(
        &mut self,
        frames: &mut LinkReader,
        mut uploader: Option<(&mut LinkWriter, Pace)>,
    ) -> Result<(), TransferError> {
        let pace = uploader.as_ref().map(|(_, pace)| *pace);
        let result = async {
            let (mut since, mut moved) = (tokio::time::Instant::now(), 0u64);
            let mut told = tokio::time::Instant::now();
            while !self.done() {
                match next(frames).await? {
                    Frame::Data { offset, bytes } => {
                        // The uploader hears how far we are, so it knows we are working
                        // through what it sent, however much is still on its way.
                        if let Some((sink, _)) = &mut uploader
                            && told.elapsed() >= ACK_EVERY
                        {
                            told = tokio::time::Instant::now();
                            let offset = *self.progress.borrow();
                            // A sender that hung up may still have said why (a cancel):
                            // read on, and let the reading tell how it ended.
                            let _ = send(sink, Frame::Received { offset }).await;
                        }
                        if let Some(pace) = pace {
                            moved += bytes.len() as u64;
                            if since.elapsed() >= pace.every {
                                if moved < pace.min {
                                    return Err(TransferError::TooSlow);
                                }
                                (since, moved) = (tokio::time::Instant::now(), 0);
                            }
                        }
                        match self.push(offset, &bytes).await {
                            // The announced size is all that is taken; the rest is not read.
                            Err(TransferError::Overrun) if pace.is_some() => break,
                            other => other?,
                        }
                    }
                    Frame::Cancel { reason } => return Err(TransferError::Stopped(reason)),
                    other => return Err(TransferError::Unexpected(other.kind())),
                }
            }
            Ok(())
        }
        .await;
        if result.is_err()
            && let Slot::Busy(task) = std::mem::replace(&mut self.file, Slot::Gone)
        {
            let _ = task.await;
        }
        result
    }

    /// Waits for the last piece and makes the file durable.
    async fn finish(mut self) -> Result<std::fs::File, TransferError> {
        let file = self.take_file().await?;
        tokio::task::spawn_blocking(move || file.sync_all().map(|()| file).map_err(disk_error))
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))?
    }
}

/// Whether `path` names the file `file` has open (on Unix: same device and inode).
fn same_file(file: &std::fs::File, path: &Path) -> std::io::Result<bool> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let (held, named) = (file.metadata()?, std::fs::symlink_metadata(path)?);
        Ok(held.dev() == named.dev() && held.ino() == named.ino())
    }
    #[cfg(not(unix))]
    {
        let _ = (file, path);
        Ok(true)
    }
}

fn disk_error(e: std::io::Error) -> TransferError {
    if e.kind() == std::io::ErrorKind::StorageFull {
        TransferError::DiskFull
    } else {
        TransferError::Io(e)
    }
}

/// Where a download that started before its file was whole is: it may only send what the
/// upload has verified, and stops if the upload stops for good.
struct Follow {
    verified: watch::Receiver<u64>,
    state: watch::Receiver<Arriving>,
}

/// What `send_data` reads from.
struct Source {
    /// The file's path, opened on the first read unless `file` is already open.
    path: PathBuf,
    file: Option<std::fs::File>,
    /// Set for a file still arriving.
    follow: Option<Follow>,
}

/// Reads `want` bytes at `at` (opening the file for the first read), on a blocking thread.
fn read_block(
    file: Option<std::fs::File>,
    path: PathBuf,
    at: u64,
    want: usize,
) -> tokio::task::JoinHandle<std::io::Result<(std::fs::File, Vec<u8>)>> {
    tokio::task::spawn_blocking(move || {
        let mut file = match file {
            Some(file) => file,
            None => std::fs::File::open(&path)?,
        };
        file.seek(SeekFrom::Start(at))?;
        // Read into spare capacity: zeroing a megabyte first would be wasted work.
        let mut block = Vec::with_capacity(want);
        (&mut file).take(want as u64).read_to_end(&mut block)?;
        if block.len() < want {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the file got shorter while sending",
            ));
        }
        Ok((file, block))
    })
}

/// Sends `size - offset` bytes of a file as `Data` frames, reading the next block while one
/// is sent. With `follow`, only what the upload has verified so far, waiting for more.
async fn send_data(
    sink: &mut LinkWriter,
    source: Source,
    offset: u64,
    size: u64,
    progress: &watch::Sender<u64>,
    cancel: &CancellationToken,
) -> Result<(), TransferError> {
    let Source {
        path,
        mut file,
        mut follow,
    } = source;
    let path = path.as_path();
    let available =
        |follow: &Option<Follow>| follow.as_ref().map_or(size, |f| *f.verified.borrow());
    let mut at = offset;
    let mut next = offset; // where the next read starts;
    let mut ahead = None;
    progress.send_replace(at);
    while at < size {
        if ahead.is_none() {
            let ready = available(&follow);
            if next < ready {
                let want = READ_BLOCK.min((ready - next) as usize);
                ahead = Some(read_block(file.take(), path.to_path_buf(), next, want));
                next += want as u64;
            } else if let Some(f) = &mut follow {
                // Caught up with the upload: only a live one is waited for.
                let state = f.state.borrow_and_update().clone();
                match state {
                    Arriving::Failed(why) => {
                        let _ = send(
                            sink,
                            Frame::Cancel {
                                reason: why.clone(),
                            },
                        )
                        .await;
                        return Err(TransferError::Stopped(why));
                    }
                    // The downloader hears the end of the connection and comes back later.
                    Arriving::Broken => return Err(TransferError::Ended),
                    Arriving::Coming | Arriving::Kept => {}
                }
                // Wait for more, or for the upload to change state. Its end is told before
                // it lets go of the channels, so a closed one was read just above.
                let open = tokio::select! {
                    changed = f.verified.changed() => changed.is_ok(),
                    changed = f.state.changed() => changed.is_ok(),
                };
                // The upload let go of its channels, maybe right after its last word: a
                // failure is told on the next pass; otherwise what is missing will not come.
                if !open
                    && !matches!(*f.state.borrow(), Arriving::Failed(_))
                    && *f.verified.borrow() < size
                {
                    return Err(TransferError::Ended);
                }
                continue;
            }
        }
        let Some(task) = ahead.take() else { break };
        let (handle, block) = task
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))??;
        file = Some(handle);
        // Start reading the next block before sending this one.
        let ready = available(&follow);
        if next < ready {
            let want = READ_BLOCK.min((ready - next) as usize);
            ahead = Some(read_block(file.take(), path.to_path_buf(), next, want));
            next += want as u64;
        }
        let block = bytes::Bytes::from(block);
        for start in (0..block.len()).step_by(DATA_LEN) {
            if cancel.is_cancelled() {
                return Err(TransferError::Cancelled);
            }
            let chunk = block.slice(start..block.len().min(start + DATA_LEN));
            let len = chunk.len() as u64;
            sink.feed(Frame::Data {
                offset: at,
                bytes: chunk,
            })
            .await?;
            at += len;
        }
        sink.flush().await?;
        progress.send_replace(at);
    }
    Ok(())
}

// ---- the host's side ----

/// What the host needs to take and give files for one room.
#[derive(Debug)]
pub struct HostFiles {
    /// Uploads and downloads must name this room.
    pub room: RoomId,
    /// Where the room's files are kept.
    pub store: FileStore,
    /// One lock per file being uploaded: two uploads of one file (two senders, or a retry
    /// while the broken try is still winding down) take turns on its partial file.
    uploading: Arc<std::sync::Mutex<HashMap<FileHash, Arc<tokio::sync::Mutex<()>>>>>,
    /// Held while an upload makes room and opens its partial file: the uploads seen as
    /// under way then are the ones whose partials stay.
    preparing: Arc<std::sync::Mutex<()>>,
    /// Places for transfers running at once: each holds up to two pieces in memory.
    slots: Arc<tokio::sync::Semaphore>,
    /// The same places, counted per address: one machine cannot take them all.
    per_address: Arc<PerAddress>,
    /// Bytes an upload must bring in each idle period, or it is dropped.
    min_per_idle: u64,
    /// Uploads under way, for downloads that start before a file is whole.
    live: std::sync::Mutex<HashMap<FileHash, Live>>,
}

/// A transfer's place on the host, given back when dropped.
pub struct TransferPlace {
    _all: tokio::sync::OwnedSemaphorePermit,
    _address: AddressPlace,
}

impl HostFiles {
    /// The files of `room`, kept in `store`, served within `limits`.
    pub fn new(room: RoomId, store: FileStore, limits: &Limits) -> Self {
        Self {
            room,
            store,
            uploading: Default::default(),
            preparing: Default::default(),
            slots: Arc::new(tokio::sync::Semaphore::new(limits.transfers)),
            per_address: PerAddress::new(limits.transfers_per_address),
            min_per_idle: limits.min_upload_per_idle,
            live: Default::default(),
        }
    }

    /// A place for one more transfer from `ip`, if there is one.
    pub fn take_place(&self, ip: std::net::IpAddr) -> Option<TransferPlace> {
        let address = self.per_address.take(ip)?;
        let all = self.slots.clone().try_acquire_owned().ok()?;
        Some(TransferPlace {
            _all: all,
            _address: address,
        })
    }

    /// Waits for this file's turn to be written.
    async fn lock(&self, hash: &FileHash) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self.uploading.lock().expect("upload locks");
            locks.retain(|_, lock| Arc::strong_count(lock) > 1);
            locks.entry(hash.clone()).or_default().clone()
        };
        lock.lock_owned().await
    }
}

/// How long an upload waits for another upload of the same file to finish.
const TURN_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// A kept upload.
pub struct Kept {
    /// The file, as the room posts it.
    pub file: FileRef,
    /// Names of older files removed to keep within the room's limit, to tell the room.
    pub removed: Vec<String>,
}

/// An upload the host has agreed to take: the room can post it at once, and downloads may
/// start while it arrives.
pub struct Receiving {
    offer: FileOffer,
    pieces: PieceSink,
    /// Holds this file's turn to be written.
    _turn: tokio::sync::OwnedMutexGuard<()>,
}

/// How an upload starts.
pub enum Accepted {
    /// The host has this file already: nothing to send.
    Kept(FileRef),
    /// The data is coming.
    Receiving(Receiving),
}

/// An upload under way, as downloads that start before it is whole follow it.
#[derive(Debug)]
struct Live {
    offer: FileOffer,
    /// Bytes verified and written to the partial file.
    verified: watch::Sender<u64>,
    /// Where the upload is; the entry (and what is verified) outlives a broken connection,
    /// for the sender's resume.
    state: watch::Sender<Arriving>,
}

/// Where an upload that downloads follow is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Arriving {
    /// Data is coming (the host's read of it has its own deadlines).
    Coming,
    /// The sender's connection broke; it may come back and resume. Followers let go and
    /// try again later, resuming from what they have.
    Broken,
    /// The file is kept whole.
    Kept,
    /// The upload stopped for good, and why.
    Failed(String),
}

/// Takes an upload's offer: checks it, answers where to start, and registers it so downloads
/// can follow it. Any refusal has already been told to the uploader.
pub async fn accept_upload(
    sink: &mut LinkWriter,
    upload: Upload,
    files: &HostFiles,
) -> Result<Accepted, TransferError> {
    let refuse = |code, reason: String| Frame::Refused { code, reason };
    if upload.room != files.room {
        send(
            sink,
            refuse(
                RefuseCode::WrongRoom,
                "this host does not run that room".into(),
            ),
        )
        .await?;
        return Err(TransferError::Refused("wrong room".into()));
    }
    let offer = upload.offer;
    let hashes = match hashes_of(&offer) {
        Ok(hashes) => Arc::new(hashes),
        Err(e) => {
            send(sink, refuse(RefuseCode::BadOffer, e.clone())).await?;
            return Err(TransferError::Refused(e));
        }
    };
    if offer.size > files.store.limit() {
        let reason = format!(
            "the room keeps files of at most {}",
            human_size(files.store.limit())
        );
        send(sink, refuse(RefuseCode::NoSpace, reason.clone())).await?;
        return Err(TransferError::Refused(reason));
    }
    // One upload of a file at a time; a broken try's task ends as soon as it sees the cut.
    // Another sender's upload of the same file may take longer: this sender is told to try
    // again shortly, and then finds the file kept (nothing more to send).
    let Ok(turn) = tokio::time::timeout(TURN_WAIT, files.lock(&offer.hash)).await else {
        let reason = "the host is receiving this file from someone else right now".to_owned();
        send(sink, refuse(RefuseCode::Busy, reason.clone())).await?;
        return Err(TransferError::Later(reason));
    };
    let store = files.store.clone();
    let hash = offer.hash.clone();
    let piece_len = offer.piece_len;
    let size = offer.size;
    let (uploading, preparing) = (files.uploading.clone(), files.preparing.clone());
    let prepared = tokio::task::spawn_blocking(move || -> std::io::Result<_> {
        store.prepare()?;
        if let Some((_, kept)) = store.get(&hash) {
            return Ok(Err(kept));
        }
        let _preparing = preparing.lock().expect("preparing uploads");
        // The files being received now (an upload holds, or waits for, their turn): their
        // partials are not broken off, whatever their age.
        let receiving: std::collections::HashSet<FileHash> = {
            let locks = uploading.lock().expect("upload locks");
            let busy = locks.iter().filter(|(_, lock)| Arc::strong_count(lock) > 1);
            busy.map(|(hash, _)| hash.clone()).collect()
        };
        store.make_room(&hash, size, &receiving)?;
        let (file, offset) = open_partial(&store.partial(&hash), piece_len, size, size)?;
        let free = free_space(store.dir())?;
        Ok(Ok((file, offset, free)))
    })
    .await
    .map_err(|e| std::io::Error::other(e.to_string()))??;
    let (file, offset, free) = match prepared {
        Ok(fresh) => fresh,
        // Already kept (sent before, or by someone else): nothing to send, if it is the same.
        Err(kept) if kept.size == offer.size => {
            send(sink, Frame::UploadFrom { offset: size }).await?;
            return Ok(Accepted::Kept(offer.file_ref()));
        }
        Err(_) => {
            let reason = "this file's hash belongs to another file".to_owned();
            send(sink, refuse(RefuseCode::BadOffer, reason.clone())).await?;
            return Err(TransferError::Refused(reason));
        }
    };
    if free < size - offset {
        let reason = format!(
            "the host has {} free and the file needs {}",
            human_size(free),
            human_size(size - offset)
        );
        send(sink, refuse(RefuseCode::NoSpace, reason.clone())).await?;
        return Err(TransferError::Refused(reason));
    }
    send(sink, Frame::UploadFrom { offset }).await?;
    // A resumed upload carries on the live entry its broken try left, for the downloads
    // that wait on it.
    let verified = {
        let mut live = files.live.lock().expect("live uploads");
        let entry = live.entry(offer.hash.clone()).or_insert_with(|| Live {
            offer: offer.clone(),
            verified: watch::channel(offset).0,
            state: watch::channel(Arriving::Coming).0,
        });
        entry.verified.send_replace(offset);
        entry.state.send_replace(Arriving::Coming);
        entry.verified.clone()
    };
    let pieces = PieceSink::new(hashes, file, offset, verified);
    Ok(Accepted::Receiving(Receiving {
        offer,
        pieces,
        _turn: turn,
    }))
}

impl Receiving {
    /// The file, as the room posts it.
    pub fn file(&self) -> FileRef {
        self.offer.file_ref()
    }

    /// Receives the data, checks it, and keeps the file. Any error has already been told to
    /// the uploader, and to the downloads following it when the upload stopped for good.
    pub async fn finish(
        mut self,
        frames: &mut LinkReader,
        sink: &mut LinkWriter,
        files: &HostFiles,
    ) -> Result<Kept, TransferError> {
        let offer = self.offer.clone();
        let received = async {
            let pace = Pace {
                min: files.min_per_idle,
                every: frames.idle(),
            };
            self.pieces
                .receive(frames, Some((&mut *sink, pace)))
                .await?;
            self.pieces.finish().await?;
            let (store, kept) = (files.store.clone(), offer.clone());
            let removed = tokio::task::spawn_blocking(move || store.keep(&kept))
                .await
                .map_err(|e| std::io::Error::other(e.to_string()))??;
            Ok(Kept {
                file: offer.file_ref(),
                removed,
            })
        };
        let result = received.await;
        let state = match &result {
            Ok(_) => Arriving::Kept,
            // The sender's link broke: it may come back and resume.
            Err(
                TransferError::Ended
                | TransferError::Io(_)
                | TransferError::Protocol(_)
                | TransferError::Link(_),
            ) => Arriving::Broken,
            Err(TransferError::Stopped(_)) => {
                Arriving::Failed("the sender stopped sending it".to_owned())
            }
            Err(e) => Arriving::Failed(e.to_string()),
        };
        {
            let mut live = files.live.lock().expect("live uploads");
            if state == Arriving::Broken {
                // Kept, with what is verified, for the sender's resume.
                if let Some(entry) = live.get(&offer.hash) {
                    entry.state.send_replace(state);
                }
            } else if let Some(entry) = live.remove(&offer.hash) {
                entry.state.send_replace(state);
            }
        }
        let error = match result {
            Ok(kept) => return Ok(kept),
            Err(e) => e,
        };
        if matches!(error, TransferError::DiskFull | TransferError::Stopped(_)) {
            // Given up on: no resume will want it.
            let partial = files.store.partial(&offer.hash);
            let _ = tokio::task::spawn_blocking(move || std::fs::remove_file(partial)).await;
        }
        if !matches!(error, TransferError::Stopped(_) | TransferError::Ended) {
            let reason = match &error {
                TransferError::DiskFull => "the host's disk is full".to_owned(),
                other => other.to_string(),
            };
            let _ = send(sink, Frame::Cancel { reason }).await;
        }
        Err(error)
    }
}

/// Serves a kept file from `offset` (rounded down to a whole piece).
pub async fn serve_download(
    sink: &mut LinkWriter,
    room: RoomId,
    hash: FileHash,
    offset: u64,
    files: &HostFiles,
) -> Result<(), TransferError> {
    if room != files.room {
        return refuse_gone(sink).await;
    }
    // Still arriving: this download follows the upload. The live entry goes only after the
    // file is kept, so with no entry (or its partial already renamed) the kept file is there.
    let live = files
        .live
        .lock()
        .expect("live uploads")
        .get(&hash)
        .map(|live| {
            let follow = Follow {
                verified: live.verified.subscribe(),
                state: live.state.subscribe(),
            };
            (live.offer.clone(), follow)
        });
    let partial = files.store.partial(&hash);
    let store = files.store.clone();
    // Opened now: a partial file is renamed when whole, and this handle keeps reading it.
    let opened = tokio::task::spawn_blocking(move || {
        if let Some((offer, follow)) = live {
            match std::fs::File::open(&partial) {
                Ok(file) => return Ok(Some((partial, file, offer, Some(follow)))),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        match store.get(&hash) {
            Some((path, offer)) => Ok(Some((
                path.clone(),
                std::fs::File::open(path)?,
                offer,
                None,
            ))),
            None => Ok(None),
        }
    })
    .await
    .map_err(|e| std::io::Error::other(e.to_string()))??;
    let Some((path, file, offer, follow)) = opened else {
        return refuse_gone(sink).await;
    };
    let ready = follow.as_ref().map_or(offer.size, |f| *f.verified.borrow());
    let offset = offset.min(ready) / offer.piece_len * offer.piece_len;
    let size = offer.size;
    send(sink, Frame::FileHeader { offer, offset }).await?;
    let (progress, _) = watch::channel(offset);
    let source = Source {
        path,
        file: Some(file),
        follow,
    };
    send_data(
        sink,
        source,
        offset,
        size,
        &progress,
        &CancellationToken::new(),
    )
    .await
}

/// What the room is told when keeping a file made older ones go.
pub fn removed_notice(limit: u64, removed: &[String]) -> Option<String> {
    (!removed.is_empty()).then(|| {
        format!(
            "To stay within this room's {} of files, it no longer keeps: {}",
            human_size(limit),
            removed.join(", ")
        )
    })
}

/// What the room is told when an upload posted to it stopped for good; nothing for a broken
/// connection, which the sender resumes.
pub fn failed_notice(from: &str, name: &str, error: &TransferError) -> Option<String> {
    match error {
        TransferError::Ended
        | TransferError::Io(_)
        | TransferError::Protocol(_)
        | TransferError::Link(_) => None,
        TransferError::Stopped(_) => Some(format!(
            "{from} stopped sending {name}; it is not kept in this room."
        )),
        TransferError::DiskFull => Some(format!(
            "{name} from {from} could not be kept: the host's disk is full."
        )),
        e => Some(format!("{name} from {from} could not be kept: {e}.")),
    }
}

/// Tells a downloader the file is not here, and returns why.
async fn refuse_gone(sink: &mut LinkWriter) -> Result<(), TransferError> {
    let reason = "the host no longer keeps this file".to_owned();
    let code = RefuseCode::Gone;
    send(
        sink,
        Frame::Refused {
            code,
            reason: reason.clone(),
        },
    )
    .await?;
    Err(TransferError::Refused(reason))
}

// ---- a member's side ----

/// Where a member's transfers go, and who they are from.
#[derive(Debug, Clone)]
pub struct Peer {
    /// The room's host, dialled like a chat session.
    pub addrs: Vec<SocketAddr>,
    /// The room the files are for.
    pub room: RoomId,
    /// The host's key, pinned when we joined: files go to and come from that host only.
    pub host: PublicKey,
    /// Who we are: the host posts what we send under this key's name in the room.
    pub identity: Identity,
    /// Deadlines for the connection.
    pub timeouts: Timeouts,
}

impl Peer {
    /// Opens a file connection to the room's host.
    async fn connect(&self) -> Result<(LinkReader, LinkWriter), TransferError> {
        let link = link::dial(
            &self.addrs,
            &self.identity,
            Expect::Key(self.host),
            &self.timeouts,
        )
        .await?;
        Ok((link.reader, link.writer))
    }
}

/// Uploads a file to the room's host; `progress` tells the bytes the host has. Returns the
/// file and the id of the message the host posted it as.
pub async fn upload(
    peer: &Peer,
    path: &Path,
    hashes: &PieceHashes,
    progress: &watch::Sender<u64>,
    cancel: &CancellationToken,
) -> Result<(FileRef, u64), TransferError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    let offer = FileOffer {
        name: clean_file_name(&name),
        size: hashes.size(),
        hash: FileHash::from_bytes(&hashes.root()),
        piece_len: hashes.piece_len(),
        cvs: hashes.cvs().concat(),
    };
    let (mut frames, mut sink) = peer.connect().await?;
    let upload = Upload {
        room: peer.room.clone(),
        offer: offer.clone(),
    };
    send(&mut sink, Frame::Upload(upload)).await?;
    let offset = match next(&mut frames).await? {
        Frame::UploadFrom { offset } if offset <= offer.size => offset,
        Frame::Refused { code, reason } => return Err(refused(code, reason)),
        other => return Err(TransferError::Unexpected(other.kind())),
    };
    let source = Source {
        path: path.to_path_buf(),
        file: None,
        follow: None,
    };
    // Progress is what the host says it has verified; what our socket took is not shown.
    progress.send_replace(offset);
    let (written, _) = watch::channel(offset);
    /// What happened next while sending.
    enum Step {
        Sent(Result<(), TransferError>),
        Heard(Result<Frame, TransferError>),
    }
    let mut sending = Some(Box::pin(send_data(
        &mut sink, source, offset, offer.size, &written, cancel,
    )));
    loop {
        let step = match sending.as_mut() {
            // The host may stop us early (a bad piece, a full disk), or tell how far it got.
            // While we send, it may also say nothing for long: every write has its deadline.
            Some(task) => tokio::select! {
                sent = task => Step::Sent(sent),
                frame = frames.recv() => Step::Heard(match frame {
                    Some(frame) => frame.map_err(TransferError::from),
                    None => Err(TransferError::Ended),
                }),
            },
            // All sent: the host says how far it is at least every idle period.
            None => tokio::select! {
                _ = cancel.cancelled() => return Err(TransferError::Cancelled),
                frame = next(&mut frames) => Step::Heard(frame),
            },
        };
        match step {
            Step::Sent(Ok(())) => sending = None,
            Step::Sent(Err(e)) => {
                drop(sending); // lets go of the sink
                if matches!(e, TransferError::Cancelled) {
                    let reason = "the sender cancelled".to_owned();
                    let _ = send(&mut sink, Frame::Cancel { reason }).await;
                    // Hang up cleanly: closing with the host's last words unread would reset
                    // the connection, and the host could lose the cancel with it.
                    sink.close().await;
                    let drain = async { while let Some(Ok(_)) = frames.recv().await {} };
                    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), drain).await;
                }
                return Err(e);
            }
            Step::Heard(frame) => match frame? {
                Frame::Received { offset } => {
                    progress.send_replace(offset.min(offer.size));
                }
                // Nothing may have been left to send: the host had the file already.
                Frame::Stored { id } => {
                    progress.send_replace(offer.size);
                    return Ok((offer.file_ref(), id));
                }
                Frame::Cancel { reason } => return Err(TransferError::Stopped(reason)),
                other => return Err(TransferError::Unexpected(other.kind())),
            },
        }
    }
}

/// Downloads a file from the room's host into `dir`, resuming a partial file left by an
/// earlier try; `progress` tells the bytes verified. Returns where the file was saved.
pub async fn download(
    peer: &Peer,
    file: &FileRef,
    dir: &Path,
    progress: &watch::Sender<u64>,
    cancel: &CancellationToken,
) -> Result<PathBuf, TransferError> {
    let partial = partial_path(dir, &file.hash);
    let result = tokio::select! {
        _ = cancel.cancelled() => Err(TransferError::Cancelled),
        result = download_inner(peer, file, dir, &partial, progress) => result,
    };
    // A partial file stays for a resume, unless the user gave up on it or the disk is full.
    if matches!(
        result,
        Err(TransferError::Cancelled | TransferError::DiskFull)
    ) {
        let _ = tokio::task::spawn_blocking(move || {
            let _ = std::fs::remove_file(&partial);
            tidy_partial_dir(&partial);
        })
        .await;
    }
    result
}

async fn download_inner(
    peer: &Peer,
    file: &FileRef,
    dir: &Path,
    partial: &Path,
    progress: &watch::Sender<u64>,
) -> Result<PathBuf, TransferError> {
    let probe = partial.to_path_buf();
    let have = tokio::task::spawn_blocking(move || partial_len(&probe))
        .await
        .unwrap_or(0);
    let (mut frames, mut sink) = peer.connect().await?;
    send(
        &mut sink,
        Frame::Download {
            room: peer.room.clone(),
            hash: file.hash.clone(),
            offset: have,
        },
    )
    .await?;
    let (offer, offset) = match next(&mut frames).await? {
        // The host's offer must be the file the message announced, size and all.
        Frame::FileHeader { offer, offset }
            if offer.hash == file.hash && offer.size == file.size && offset <= offer.size =>
        {
            (offer, offset)
        }
        Frame::FileHeader { .. } => {
            return Err(TransferError::Unexpected("mismatched file header"));
        }
        Frame::Refused { code, reason } => return Err(refused(code, reason)),
        other => return Err(TransferError::Unexpected(other.kind())),
    };
    let hashes = Arc::new(
        hashes_of(&offer)
            .map_err(|_| TransferError::Unexpected("a file header that does not add up"))?,
    );
    let (path, piece_len, size) = (partial.to_path_buf(), offer.piece_len, offer.size);
    let dir_owned = dir.to_path_buf();
    let folder = |error| TransferError::Folder {
        dir: dir.display().to_string(),
        error,
    };
    let opened = tokio::task::spawn_blocking(move || -> std::io::Result<_> {
        std::fs::create_dir_all(&dir_owned)?;
        prepare_partial_dir(&path)?;
        let (file, kept) = open_partial(&path, piece_len, size, offset)?;
        Ok((file, kept, free_space(&dir_owned)?))
    })
    .await
    .map_err(|e| std::io::Error::other(e.to_string()))
    .and_then(|opened| opened)
    .map_err(folder)?;
    let (out, kept, free) = opened;
    if kept < offset {
        // Our partial file is shorter than where the host starts; ask again from ours.
        return Err(TransferError::Ended);
    }
    if free < size - offset {
        if kept == 0 {
            // Nothing to resume: leave nothing behind.
            drop(out);
            let partial = partial.to_path_buf();
            let _ = tokio::task::spawn_blocking(move || {
                let _ = std::fs::remove_file(&partial);
                tidy_partial_dir(&partial);
            })
            .await;
        }
        return Err(TransferError::NoSpace {
            need: human_size(size - offset),
            free: human_size(free),
        });
    }
    let mut pieces = PieceSink::new(hashes, out, offset, progress.clone());
    pieces.receive(&mut frames, None).await?;
    let written = pieces.finish().await?;
    // Saved under the name its message shows (the same content may have come with another).
    let (dir, partial, name) = (
        dir.to_path_buf(),
        partial.to_path_buf(),
        clean_file_name(&file.name),
    );
    let saved = tokio::task::spawn_blocking(move || -> std::io::Result<PathBuf> {
        // The empty file create_unique makes holds the name; ours replaces it.
        let (_, path) = create_unique(&dir, &name)?;
        if let Err(e) = std::fs::rename(&partial, &path) {
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
        // What was renamed must be the file we verified, not one swapped in for it meanwhile.
        if !same_file(&written, &path)? {
            let _ = std::fs::remove_file(&path);
            return Err(std::io::Error::other(
                "the downloaded file was replaced before it could be saved",
            ));
        }
        tidy_partial_dir(&partial);
        Ok(path)
    })
    .await
    .map_err(|e| std::io::Error::other(e.to_string()))
    .and_then(|saved| saved)
    .map_err(folder)?;
    Ok(saved)
}
