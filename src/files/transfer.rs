//! File transfers, each on a connection of its own (see [`crate::protocol`]'s file frames):
//! the host keeping an upload and serving downloads, and a member uploading or downloading.
//!
//! Data arrives in order; each piece is checked against its hash before it is written, so a
//! partial file only ever holds verified pieces and a broken transfer resumes after the last
//! one. Hashing and disk writes run on blocking threads, one piece behind the network, so the
//! two overlap.

use crate::bridge::human_size;
use crate::files::disk::{free_space, open_partial, partial_path};
use crate::files::{FileStore, PieceHashes, clean_file_name, create_unique};
use crate::protocol::{
    DATA_LEN, DeviceId, FileHash, FileOffer, FileRef, Frame, FrameCodec, ProtocolError, RefuseCode,
    RoomId, Upload, WRITE_TIMEOUT,
};
use futures::{SinkExt, StreamExt};
use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use tokio_util::codec::{FramedRead, FramedWrite};
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
    #[error("not enough disk space: {need} needed, {free} free")]
    NoSpace { need: String, free: String },
    #[error("the disk filled up; the partial file was removed")]
    DiskFull,
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
}

type Reader<R> = FramedRead<R, FrameCodec>;
type Writer<W> = FramedWrite<W, FrameCodec>;

async fn send<W: AsyncWrite + Unpin>(
    sink: &mut Writer<W>,
    frame: Frame,
) -> Result<(), TransferError> {
    within_deadline(sink.send(frame)).await
}

/// A write to the other side, given up after [`WRITE_TIMEOUT`].
async fn within_deadline(
    write: impl std::future::Future<Output = Result<(), ProtocolError>>,
) -> Result<(), TransferError> {
    match tokio::time::timeout(WRITE_TIMEOUT, write).await {
        Ok(written) => Ok(written?),
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "the other side stopped reading",
        )
        .into()),
    }
}

/// The next frame, or why there is none.
async fn next<R: AsyncRead + Unpin>(frames: &mut Reader<R>) -> Result<Frame, TransferError> {
    match tokio::time::timeout(crate::protocol::IDLE_TIMEOUT, frames.next()).await {
        Ok(Some(frame)) => Ok(frame?),
        Ok(None) => Err(TransferError::Ended),
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "the other side went silent",
        )
        .into()),
    }
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

    /// Receives `Data` frames until the file is whole. More than the announced size is taken
    /// as the end (`cut_off`) or refused. On any failure it waits for the piece being
    /// written, so the partial file is settled for whoever resumes it.
    async fn receive<R: AsyncRead + Unpin>(
        &mut self,
        frames: &mut Reader<R>,
        cut_off: bool,
    ) -> Result<(), TransferError> {
        let result = async {
            while !self.done() {
                match next(frames).await? {
                    Frame::Data { offset, bytes } => match self.push(offset, &bytes).await {
                        // The announced size is all that is taken; the rest is not read.
                        Err(TransferError::Overrun) if cut_off => break,
                        other => other?,
                    },
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
    async fn finish(mut self) -> Result<(), TransferError> {
        let file = self.take_file().await?;
        tokio::task::spawn_blocking(move || file.sync_all().map_err(disk_error))
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))?
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
    end: watch::Receiver<Option<Result<(), String>>>,
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
async fn send_data<W: AsyncWrite + Unpin>(
    sink: &mut Writer<W>,
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
                // Caught up with the upload: wait for more, or for its end.
                let open = tokio::select! {
                    changed = f.verified.changed() => changed.is_ok(),
                    changed = f.end.changed() => changed.is_ok(),
                };
                // The end is told before the upload lets go of its channels: read it first.
                let ended = f.end.borrow().clone();
                match ended {
                    Some(Err(why)) => {
                        let _ = send(
                            sink,
                            Frame::Cancel {
                                reason: why.clone(),
                            },
                        )
                        .await;
                        return Err(TransferError::Stopped(why));
                    }
                    None if !open => return Err(TransferError::Ended),
                    _ => {}
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
        for chunk in block.chunks(DATA_LEN) {
            if cancel.is_cancelled() {
                return Err(TransferError::Cancelled);
            }
            within_deadline(sink.feed(Frame::Data {
                offset: at,
                bytes: chunk.to_vec(),
            }))
            .await?;
            at += chunk.len() as u64;
        }
        within_deadline(sink.flush()).await?;
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
    uploading: std::sync::Mutex<HashMap<FileHash, Arc<tokio::sync::Mutex<()>>>>,
    /// Places for transfers running at once: each holds up to two pieces in memory.
    pub slots: Arc<tokio::sync::Semaphore>,
    /// Uploads under way, for downloads that start before a file is whole.
    live: std::sync::Mutex<HashMap<FileHash, Live>>,
}

/// Transfers a room serves at once; more are asked to try again shortly.
const MAX_TRANSFERS: usize = 16;

impl HostFiles {
    /// The files of `room`, kept in `store`.
    pub fn new(room: RoomId, store: FileStore) -> Self {
        Self {
            room,
            store,
            uploading: Default::default(),
            slots: Arc::new(tokio::sync::Semaphore::new(MAX_TRANSFERS)),
            live: Default::default(),
        }
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
    /// Set when the upload ends: `Ok` once the file is kept, `Err` (why) if it stopped for
    /// good. A broken connection is neither: the sender comes back and resumes.
    end: watch::Sender<Option<Result<(), String>>>,
}

/// Takes an upload's offer: checks it, answers where to start, and registers it so downloads
/// can follow it. Any refusal has already been told to the uploader.
pub async fn accept_upload<R, W>(
    _frames: &mut Reader<R>,
    sink: &mut Writer<W>,
    upload: Upload,
    files: &HostFiles,
) -> Result<Accepted, TransferError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
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
    let Ok(turn) = tokio::time::timeout(TURN_WAIT, files.lock(&offer.hash)).await else {
        let reason = "the host is receiving this file from someone else right now".to_owned();
        send(sink, refuse(RefuseCode::Other, reason.clone())).await?;
        return Err(TransferError::Refused(reason));
    };
    let store = files.store.clone();
    let hash = offer.hash.clone();
    let piece_len = offer.piece_len;
    let size = offer.size;
    let prepared = tokio::task::spawn_blocking(move || -> std::io::Result<_> {
        store.prepare()?;
        if let Some((_, kept)) = store.get(&hash) {
            return Ok(Err(kept));
        }
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
            end: watch::channel(None).0,
        });
        entry.verified.send_replace(offset);
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
    pub async fn finish<R, W>(
        mut self,
        frames: &mut Reader<R>,
        sink: &mut Writer<W>,
        files: &HostFiles,
    ) -> Result<Kept, TransferError>
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let offer = self.offer.clone();
        let received = async {
            self.pieces.receive(frames, true).await?;
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
        let end = match &result {
            Ok(_) => Some(Ok(())),
            // The sender's link broke: it comes back and resumes; followers wait.
            Err(TransferError::Ended | TransferError::Io(_) | TransferError::Protocol(_)) => None,
            Err(TransferError::Stopped(_)) => Some(Err("the sender stopped sending it".to_owned())),
            Err(e) => Some(Err(e.to_string())),
        };
        if let Some(end) = end
            && let Some(live) = files.live.lock().expect("live uploads").remove(&offer.hash)
        {
            live.end.send_replace(Some(end));
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
pub async fn serve_download<W: AsyncWrite + Unpin>(
    sink: &mut Writer<W>,
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
                end: live.end.subscribe(),
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

/// Tells a downloader the file is not here, and returns why.
async fn refuse_gone<W: AsyncWrite + Unpin>(sink: &mut Writer<W>) -> Result<(), TransferError> {
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
    /// Our installation, as in our hello.
    pub device: DeviceId,
    /// Our display name, shown with what we send.
    pub name: String,
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
    let stream = crate::net::session::dial(&peer.addrs)
        .await
        .map_err(std::io::Error::other)?;
    let (read, write) = stream.into_split();
    let mut frames = FramedRead::new(read, FrameCodec::default());
    let mut sink = FramedWrite::new(write, FrameCodec::default());
    let upload = Upload {
        room: peer.room.clone(),
        device: peer.device.clone(),
        from: peer.name.clone(),
        offer: offer.clone(),
    };
    send(&mut sink, Frame::Upload(upload)).await?;
    let offset = match next(&mut frames).await? {
        Frame::UploadFrom { offset } if offset <= offer.size => offset,
        Frame::Refused { reason, .. } => return Err(TransferError::Refused(reason)),
        other => return Err(TransferError::Unexpected(other.kind())),
    };
    let source = Source {
        path: path.to_path_buf(),
        file: None,
        follow: None,
    };
    let sending = send_data(&mut sink, source, offset, offer.size, progress, cancel);
    tokio::select! {
        sent = sending => {
            if let Err(e) = sent {
                if matches!(e, TransferError::Cancelled) {
                    let _ = send(&mut sink, Frame::Cancel { reason: "the sender cancelled".into() }).await;
                }
                return Err(e);
            }
        }
        // The host may stop us early (a bad piece, a full disk). It says nothing while all is
        // well, however long that takes: no idle limit here; every write has its own deadline.
        frame = frames.next() => return Err(match frame {
            // Nothing was left to send: the host had the file already.
            Some(Ok(Frame::Stored { id })) => return Ok((offer.file_ref(), id)),
            Some(Ok(Frame::Cancel { reason })) => TransferError::Stopped(reason),
            Some(Ok(other)) => TransferError::Unexpected(other.kind()),
            Some(Err(e)) => e.into(),
            None => TransferError::Ended,
        }),
    }
    let stored = tokio::select! {
        _ = cancel.cancelled() => return Err(TransferError::Cancelled),
        frame = next(&mut frames) => frame?,
    };
    match stored {
        Frame::Stored { id } => Ok((offer.file_ref(), id)),
        Frame::Cancel { reason } => Err(TransferError::Stopped(reason)),
        other => Err(TransferError::Unexpected(other.kind())),
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
        let _ = tokio::task::spawn_blocking(move || std::fs::remove_file(partial)).await;
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
    let have = tokio::fs::metadata(partial)
        .await
        .map(|m| m.len())
        .unwrap_or(0);
    let stream = crate::net::session::dial(&peer.addrs)
        .await
        .map_err(std::io::Error::other)?;
    let (read, write) = stream.into_split();
    let mut frames = FramedRead::new(read, FrameCodec::default());
    let mut sink = FramedWrite::new(write, FrameCodec::default());
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
        Frame::Refused { reason, .. } => return Err(TransferError::Refused(reason)),
        other => return Err(TransferError::Unexpected(other.kind())),
    };
    let hashes = Arc::new(
        hashes_of(&offer)
            .map_err(|_| TransferError::Unexpected("a file header that does not add up"))?,
    );
    let (path, piece_len, size) = (partial.to_path_buf(), offer.piece_len, offer.size);
    let dir_owned = dir.to_path_buf();
    let opened = tokio::task::spawn_blocking(move || -> std::io::Result<_> {
        std::fs::create_dir_all(&dir_owned)?;
        let (file, kept) = open_partial(&path, piece_len, size, offset)?;
        Ok((file, kept, free_space(&dir_owned)?))
    })
    .await
    .map_err(|e| std::io::Error::other(e.to_string()))??;
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
            let _ = tokio::task::spawn_blocking(move || std::fs::remove_file(partial)).await;
        }
        return Err(TransferError::NoSpace {
            need: human_size(size - offset),
            free: human_size(free),
        });
    }
    let mut pieces = PieceSink::new(hashes, out, offset, progress.clone());
    pieces.receive(&mut frames, false).await?;
    pieces.finish().await?;
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
        Ok(path)
    })
    .await
    .map_err(|e| std::io::Error::other(e.to_string()))??;
    Ok(saved)
}
