//! A member's side of a file: sending one to the room's host, and fetching one from it,
//! each on a connection of its own, resuming after the last verified piece.

use super::transfer::*;
use crate::files::disk::{
    free_space, open_partial, partial_len, partial_path, prepare_partial_dir, tidy_partial_dir,
};
use crate::files::{PieceHashes, clean_file_name, create_unique};
use crate::net::identity::{Identity, PublicKey};
use crate::net::link::{self, Expect, LinkReader, LinkWriter, Timeouts};
use crate::protocol::{FileHash, FileOffer, FileRef, Frame, RoomId, Upload};
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
