//! A member's side of a file: sending one to the room's host, and fetching one from it,
//! each on a connection of its own, resuming after the last verified piece.

use super::transfer::*;
use crate::files::disk::{
    free_space, open_partial, partial_len, partial_path, prepare_partial_dir, tidy_partial_dir,
};
use crate::files::names::{clean_path, folder_for, name_of, wire_path};
use crate::files::{PieceHashes, create_unique};
use crate::net::identity::{Identity, PublicKey};
use crate::net::link::{self, Expect, LinkReader, LinkWriter, Timeouts};
use crate::protocol::{CancelCode, FileHash, FileOffer, FileRef, Frame, RoomId, Upload};
use crate::units::human_size;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

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

/// Uploads a file to the room's host as a sharing of its own; `progress` tells the bytes
/// the host has. Returns the file and the id of the message the host posted it as.
pub async fn upload(
    peer: &Peer,
    path: &Path,
    hashes: &PieceHashes,
    progress: &watch::Sender<u64>,
    cancel: &CancellationToken,
) -> Result<(FileRef, u64), TransferError> {
    let name = name_of(path);
    upload_shared(
        peer,
        (path, &name, rand::random()),
        hashes,
        progress,
        cancel,
    )
    .await
}

/// Uploads a file as `name` (for a folder's file, its path inside the folder sent), as the
/// sharing numbered `share`: each try of one sharing carries the same number (see
/// [`Upload::share`]).
pub async fn upload_shared(
    peer: &Peer,
    (path, name, share): (&Path, &str, u64),
    hashes: &PieceHashes,
    progress: &watch::Sender<u64>,
    cancel: &CancellationToken,
) -> Result<(FileRef, u64), TransferError> {
    let offer = offer_of(name, hashes);
    let (mut frames, mut sink) = peer.connect().await?;
    let upload = Upload {
        room: peer.room.clone(),
        offer: offer.clone(),
        share: Some(share),
    };
    send(&mut sink, Frame::Upload(upload)).await?;
    let offset = match next(&mut frames).await? {
        Frame::UploadFrom { offset } if offset <= offer.size => offset,
        Frame::Refused(refusal) => return Err(refused(refusal)),
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
                    say_cancelled(&mut frames, sink).await;
                }
                return Err(e);
            }
            Step::Heard(frame) => {
                if let Some(id) = heard(frame?, &offer, progress)? {
                    return Ok((offer.file_ref(), id));
                }
            }
        }
    }
}

/// What a file to send is offered as: its cleaned name (or path), size and hashes.
fn offer_of(name: &str, hashes: &PieceHashes) -> FileOffer {
    FileOffer {
        name: wire_path(name),
        size: hashes.size(),
        hash: FileHash::from_bytes(&hashes.root()),
        piece_len: hashes.piece_len(),
        cvs: hashes.cvs().concat(),
    }
}

/// Takes what the host said during an upload: how far it is, or the id of the message it
/// posted the file as once it is kept.
fn heard(
    frame: Frame,
    offer: &FileOffer,
    progress: &watch::Sender<u64>,
) -> Result<Option<u64>, TransferError> {
    match frame {
        Frame::Received { offset } => {
            progress.send_replace(offset.min(offer.size));
            Ok(None)
        }
        // Nothing may have been left to send: the host had the file already.
        Frame::Stored { id } => {
            progress.send_replace(offer.size);
            Ok(Some(id))
        }
        Frame::Cancel { code } => Err(TransferError::Stopped(code)),
        other => Err(TransferError::Unexpected(other.kind())),
    }
}

/// Tells the host the upload is cancelled, and hangs up cleanly: closing with the host's
/// last words unread would reset the connection, and the host could lose the cancel with it.
async fn say_cancelled(frames: &mut LinkReader, mut sink: LinkWriter) {
    let code = CancelCode::Cancelled;
    let _ = send(&mut sink, Frame::Cancel { code }).await;
    sink.close().await;
    let drain = async { while let Some(Ok(_)) = frames.recv().await {} };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), drain).await;
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
        discard(partial.clone()).await;
    }
    result
}

/// Removes a partial file, and its hidden folder if that is left empty.
async fn discard(partial: PathBuf) {
    let _ = tokio::task::spawn_blocking(move || {
        let _ = std::fs::remove_file(&partial);
        tidy_partial_dir(&partial);
    })
    .await;
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
    let (mut frames, _sink, offer, offset) = ask(peer, file, have).await?;
    let hashes = Arc::new(
        hashes_of(&offer)
            .map_err(|_| TransferError::Unexpected("a file header that does not add up"))?,
    );
    let folder = |error| TransferError::Folder {
        dir: dir.display().to_string(),
        error,
    };
    let size = offer.size;
    let (out, kept, free) = open_target(dir, partial, &offer, offset)
        .await
        .map_err(folder)?;
    if kept < offset {
        // Our partial file is shorter than where the host starts; ask again from ours.
        return Err(TransferError::Ended);
    }
    if free < size - offset {
        if kept == 0 {
            // Nothing to resume: leave nothing behind.
            drop(out);
            discard(partial.to_path_buf()).await;
        }
        return Err(TransferError::NoSpace {
            need: human_size(size - offset),
            free: human_size(free),
        });
    }
    let mut pieces = PieceSink::new(hashes, out, offset, progress.clone());
    pieces.receive(&mut frames, None).await?;
    let written = pieces.finish().await?;
    save(dir, partial, &file.name, written)
        .await
        .map_err(folder)
}

/// Asks the host for a file from `have` on; returns the connection (the host takes its end
/// as the download's), the file's offer (which must be the file the message announced, size
/// and all) and where the host starts.
async fn ask(
    peer: &Peer,
    file: &FileRef,
    have: u64,
) -> Result<(LinkReader, LinkWriter, FileOffer, u64), TransferError> {
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
    match next(&mut frames).await? {
        Frame::FileHeader { offer, offset }
            if offer.hash == file.hash && offer.size == file.size && offset <= offer.size =>
        {
            Ok((frames, sink, offer, offset))
        }
        Frame::FileHeader { .. } => Err(TransferError::Unexpected("mismatched file header")),
        Frame::Refused(refusal) => Err(refused(refusal)),
        other => Err(TransferError::Unexpected(other.kind())),
    }
}

/// Opens the partial file in `dir` to write from `offset` (off the async threads). Returns
/// it, the verified bytes it keeps, and the folder's free space.
async fn open_target(
    dir: &Path,
    partial: &Path,
    offer: &FileOffer,
    offset: u64,
) -> std::io::Result<(std::fs::File, u64, u64)> {
    let (path, piece_len, size) = (partial.to_path_buf(), offer.piece_len, offer.size);
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || -> std::io::Result<_> {
        std::fs::create_dir_all(&dir)?;
        prepare_partial_dir(&path)?;
        let (file, kept) = open_partial(&path, piece_len, size, offset)?;
        Ok((file, kept, free_space(&dir)?))
    })
    .await
    .map_err(|e| std::io::Error::other(e.to_string()))
    .and_then(|opened| opened)
}

/// Saves a whole, verified partial file in `dir` under the name its message shows (the same
/// content may have come with another), never over another file; a folder's file in the
/// folders its path names, made inside `dir`.
async fn save(
    dir: &Path,
    partial: &Path,
    name: &str,
    written: std::fs::File,
) -> std::io::Result<PathBuf> {
    let (dir, partial, (folders, name)) =
        (dir.to_path_buf(), partial.to_path_buf(), clean_path(name));
    tokio::task::spawn_blocking(move || -> std::io::Result<PathBuf> {
        let dir = folder_for(&dir, &folders)?;
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
}
