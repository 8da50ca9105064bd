//! What both ends of a file transfer share, each transfer on a connection of its own (see
//! [`crate::protocol::files`]): the host keeping an upload and serving downloads
//! ([`super::serve`]), a member uploading or downloading ([`super::fetch`]).
//!
//! Data arrives in order; each piece is checked against its hash before it is written, so a
//! partial file only ever holds verified pieces and a broken transfer resumes after the last
//! one. Hashing and disk writes run on blocking threads, one piece behind the network, so the
//! two overlap.

use crate::files::{PieceError, PieceHashes};
use crate::net::link::{LinkError, LinkReader, LinkWriter};
use crate::protocol::{CancelCode, DATA_LEN, FileOffer, Frame, ProtocolError, Refusal, RefuseCode};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Bytes read from disk at a time when sending.
pub(super) const READ_BLOCK: usize = 1 << 20;

/// Why a transfer stopped; its `Display` is the words for the user (the codes a peer sent
/// are said by their words in [`crate::bridge::words`]).
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Protocol(#[from] ProtocolError),
    #[error("the host refused: {0}")]
    Refused(Refusal),
    #[error("the host cannot take it now: {0}")]
    Later(Refusal),
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
    Stopped(CancelCode),
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
pub(super) fn refused(refusal: Refusal) -> TransferError {
    if refusal.code == RefuseCode::NotMember || refusal.code.is_busy() {
        TransferError::Later(refusal)
    } else {
        TransferError::Refused(refusal)
    }
}

impl TransferError {
    /// What the other side is told when this stops a transfer.
    pub(super) fn cancel_code(&self) -> CancelCode {
        match self {
            TransferError::DiskFull => CancelCode::DiskFull,
            TransferError::Mismatch(_) => CancelCode::Mismatch,
            TransferError::Overrun => CancelCode::Overrun,
            TransferError::TooSlow => CancelCode::TooSlow,
            TransferError::Cancelled => CancelCode::Cancelled,
            TransferError::Stopped(code) => *code,
            _ => CancelCode::Failed,
        }
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

pub(super) async fn send(sink: &mut LinkWriter, frame: Frame) -> Result<(), TransferError> {
    Ok(sink.send(frame).await?)
}

/// The next frame within the idle deadline, or why there is none.
pub(super) async fn next(frames: &mut LinkReader) -> Result<Frame, TransferError> {
    Ok(frames.next().await?)
}

/// Piece hashes from an offer, tied to its announced hash.
pub(super) fn hashes_of(offer: &FileOffer) -> Result<PieceHashes, PieceError> {
    let cvs = offer
        .cvs
        .chunks_exact(32)
        .map(|c| c.try_into().expect("32 bytes"))
        .collect();
    PieceHashes::from_offer(offer.size, offer.piece_len, cvs, offer.hash.bytes())
}

/// How often the host tells an uploader how far it has got.
pub(super) const ACK_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// The least an uploader must send in each period, so a trickle cannot hold a transfer place.
#[derive(Debug, Clone, Copy)]
pub(super) struct Pace {
    pub(super) min: u64,
    pub(super) every: std::time::Duration,
}

/// Receives a file's bytes in order, checks each piece, and appends the verified pieces to a
/// file, one piece behind on a blocking thread.
pub(super) struct PieceSink {
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
    pub(super) fn new(
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

    pub(super) fn done(&self) -> bool {
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
    pub(super) async fn receive(
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
                    Frame::Cancel { code } => return Err(TransferError::Stopped(code)),
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
    pub(super) async fn finish(mut self) -> Result<std::fs::File, TransferError> {
        let file = self.take_file().await?;
        tokio::task::spawn_blocking(move || file.sync_all().map(|()| file).map_err(disk_error))
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))?
    }
}

/// Whether `path` names the file `file` has open (on Unix: same device and inode).
pub(super) fn same_file(file: &std::fs::File, path: &Path) -> std::io::Result<bool> {
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

pub(super) fn disk_error(e: std::io::Error) -> TransferError {
    if e.kind() == std::io::ErrorKind::StorageFull {
        TransferError::DiskFull
    } else {
        TransferError::Io(e)
    }
}

/// Where a download that started before its file was whole is: it may only send what the
/// upload has verified, and stops if the upload stops for good.
pub(super) struct Follow {
    pub(super) verified: watch::Receiver<u64>,
    pub(super) state: watch::Receiver<Arriving>,
}

/// What `send_data` reads from.
pub(super) struct Source {
    /// The file's path, opened on the first read unless `file` is already open.
    pub(super) path: PathBuf,
    pub(super) file: Option<std::fs::File>,
    /// Set for a file still arriving.
    pub(super) follow: Option<Follow>,
}

/// A block being read: the file back, and the bytes.
type Reading = tokio::task::JoinHandle<std::io::Result<(std::fs::File, Vec<u8>)>>;

/// Reads `want` bytes at `at` (opening the file for the first read), on a blocking thread.
pub(super) fn read_block(
    file: Option<std::fs::File>,
    path: PathBuf,
    at: u64,
    want: usize,
) -> Reading {
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
pub(super) async fn send_data(
    sink: &mut LinkWriter,
    source: Source,
    offset: u64,
    size: u64,
    progress: &watch::Sender<u64>,
    cancel: &CancellationToken,
) -> Result<(), TransferError> {
    let mut blocks = ReadAhead {
        source,
        size,
        next: offset,
        ahead: None,
    };
    let mut at = offset;
    progress.send_replace(at);
    while at < size {
        let Some(block) = blocks.next_block(sink).await? else {
            break;
        };
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

/// A file read a block ahead of what is sent, each read on a blocking thread.
struct ReadAhead {
    /// What is read; its `file` is `None` while a read has it.
    source: Source,
    /// The file's size.
    size: u64,
    /// Where the next read starts.
    next: u64,
    /// The read under way.
    ahead: Option<Reading>,
}

impl ReadAhead {
    /// The next block, and the read of the one after it started; `None` when there is no
    /// more to read. A file still arriving is waited for, and its failure told on `sink`.
    async fn next_block(
        &mut self,
        sink: &mut LinkWriter,
    ) -> Result<Option<Vec<u8>>, TransferError> {
        while self.ahead.is_none() && !self.start() {
            let Some(follow) = &mut self.source.follow else {
                return Ok(None);
            };
            follow.wait(sink, self.size).await?;
        }
        let Some(task) = self.ahead.take() else {
            return Ok(None);
        };
        let (handle, block) = task
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))??;
        self.source.file = Some(handle);
        // Start reading the next block before sending this one.
        self.start();
        Ok(Some(block))
    }

    /// Starts reading the next block, if there is one ready to read.
    fn start(&mut self) -> bool {
        let ready = self
            .source
            .follow
            .as_ref()
            .map_or(self.size, |f| *f.verified.borrow());
        if self.next >= ready {
            return false;
        }
        let want = READ_BLOCK.min((ready - self.next) as usize);
        let (file, path) = (self.source.file.take(), self.source.path.clone());
        self.ahead = Some(read_block(file, path, self.next, want));
        self.next += want as u64;
        true
    }
}

impl Follow {
    /// Caught up with the upload: waits for more of it (only a live one is waited for). Its
    /// failure is told to the downloader on `sink`.
    async fn wait(&mut self, sink: &mut LinkWriter, size: u64) -> Result<(), TransferError> {
        let state = self.state.borrow_and_update().clone();
        match state {
            Arriving::Failed(code) => {
                let _ = send(sink, Frame::Cancel { code }).await;
                return Err(TransferError::Stopped(code));
            }
            // The downloader hears the end of the connection and comes back later.
            Arriving::Broken => return Err(TransferError::Ended),
            Arriving::Coming | Arriving::Kept => {}
        }
        // Wait for more, or for the upload to change state. Its end is told before
        // it lets go of the channels, so a closed one was read just above.
        let open = tokio::select! {
            changed = self.verified.changed() => changed.is_ok(),
            changed = self.state.changed() => changed.is_ok(),
        };
        // The upload let go of its channels, maybe right after its last word: a
        // failure is told on the next pass; otherwise what is missing will not come.
        if !open
            && !matches!(*self.state.borrow(), Arriving::Failed(_))
            && *self.verified.borrow() < size
        {
            return Err(TransferError::Ended);
        }
        Ok(())
    }
}

/// Where an upload that downloads follow is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Arriving {
    /// Data is coming (the host's read of it has its own deadlines).
    Coming,
    /// The sender's connection broke; it may come back and resume. Followers let go and
    /// try again later, resuming from what they have.
    Broken,
    /// The file is kept whole.
    Kept,
    /// The upload stopped for good, and why.
    Failed(CancelCode),
}
