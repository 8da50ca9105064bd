//! The host's side of the room's files: it takes uploads from members (checked piece by
//! piece, kept within the room's limit, posted to the room as soon as they start coming) and
//! serves downloads, only to devices in the room. Registered with the room's host as a
//! [`Service`] for connections that open with `Upload` or `Download`; it reaches the room
//! only through the [`RoomHandle`] it is handed.

use super::transfer::*;
use crate::files::disk::{free_space, open_partial};
use crate::files::{Arrival, FileStore, PieceHashes, Reporter, TransferEvent};
use crate::net::host::{HostConfig, Incoming, RoomHandle, Service, Who};
use crate::net::limits::{AddressPlace, Limits, PerAddress};
use crate::net::link::{Link, LinkReader, LinkWriter};
use crate::protocol::{
    CancelCode, FileHash, FileOffer, FileRef, Frame, Refusal, RefuseCode, RoomId, Upload,
};
use crate::units::human_size;
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

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
    /// Where an upload's progress is told (the host's own window), if anywhere.
    arrivals: std::sync::Mutex<Option<Reporter>>,
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
            arrivals: Default::default(),
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

/// Takes an upload's offer: checks it, answers where to start, and registers it so downloads
/// can follow it. Any refusal has already been told to the uploader.
pub async fn accept_upload(
    sink: &mut LinkWriter,
    upload: Upload,
    files: &HostFiles,
) -> Result<Accepted, TransferError> {
    let hashes = check_offer(sink, &upload, files).await?;
    let offer = upload.offer;
    // One upload of a file at a time; a broken try's task ends as soon as it sees the cut.
    // Another sender's upload of the same file may take longer: this sender is told to try
    // again shortly, and then finds the file kept (nothing more to send).
    let Ok(turn) = tokio::time::timeout(TURN_WAIT, files.lock(&offer.hash)).await else {
        return refuse(sink, RefuseCode::Receiving.into()).await;
    };
    let size = offer.size;
    let (file, offset) = match files.prepare(&offer).await? {
        Prepared::Partial { file, offset, free } if free >= size - offset => (file, offset),
        Prepared::Partial { offset, free, .. } => {
            let refusal = Refusal {
                need: Some(size - offset),
                ..Refusal::over(RefuseCode::NoSpace, free)
            };
            return refuse(sink, refusal).await;
        }
        // Already kept (sent before, or by someone else): nothing to send, if it is the same.
        Prepared::Kept(kept) if kept.size == size => {
            send(sink, Frame::UploadFrom { offset: size }).await?;
            return Ok(Accepted::Kept(offer.file_ref()));
        }
        Prepared::Kept(_) => {
            return refuse(sink, RefuseCode::HashTaken.into()).await;
        }
    };
    send(sink, Frame::UploadFrom { offset }).await?;
    let verified = files.go_live(&offer, offset);
    let pieces = PieceSink::new(hashes, file, offset, verified);
    Ok(Accepted::Receiving(Receiving {
        offer,
        pieces,
        _turn: turn,
    }))
}

/// Checks an upload's offer before anything is done for it: the room, its piece hashes and
/// its size. Returns its hashes; a refusal has been told to the uploader.
async fn check_offer(
    sink: &mut LinkWriter,
    upload: &Upload,
    files: &HostFiles,
) -> Result<Arc<PieceHashes>, TransferError> {
    if upload.room != files.room {
        return refuse(sink, RefuseCode::WrongRoom.into()).await;
    }
    let offer = &upload.offer;
    let hashes = match hashes_of(offer) {
        Ok(hashes) => Arc::new(hashes),
        Err(e) => {
            tracing::info!("an upload's piece hashes are not acceptable: {e}");
            return refuse(sink, RefuseCode::BadOffer.into()).await;
        }
    };
    if offer.size > files.store.limit() {
        let refusal = Refusal::over(RefuseCode::TooLarge, files.store.limit());
        return refuse(sink, refusal).await;
    }
    Ok(hashes)
}

/// Where an upload stands once the host has made room for it.
enum Prepared {
    /// Its partial file is open, holding `offset` verified bytes; the disk has `free` more.
    Partial {
        file: std::fs::File,
        offset: u64,
        free: u64,
    },
    /// The host keeps a file with this hash already, as offered then.
    Kept(FileOffer),
}

impl HostFiles {
    /// Makes room for an upload within the room's limit and opens its partial file, unless
    /// the file is kept already (off the async threads).
    async fn prepare(&self, offer: &FileOffer) -> std::io::Result<Prepared> {
        let store = self.store.clone();
        let (hash, piece_len, size) = (offer.hash.clone(), offer.piece_len, offer.size);
        let (uploading, preparing) = (self.uploading.clone(), self.preparing.clone());
        tokio::task::spawn_blocking(move || -> std::io::Result<_> {
            store.prepare()?;
            if let Some((_, kept)) = store.get(&hash) {
                return Ok(Prepared::Kept(kept));
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
            Ok(Prepared::Partial { file, offset, free })
        })
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))?
    }

    /// Registers an upload starting at `offset` for downloads to follow, and returns where
    /// its verified bytes are told. A resumed upload carries on the live entry its broken
    /// try left, for the downloads that wait on it.
    fn go_live(&self, offer: &FileOffer, offset: u64) -> watch::Sender<u64> {
        let mut live = self.live.lock().expect("live uploads");
        let new = !live.contains_key(&offer.hash);
        let entry = live.entry(offer.hash.clone()).or_insert_with(|| Live {
            offer: offer.clone(),
            verified: watch::channel(offset).0,
            state: watch::channel(Arriving::Coming).0,
        });
        entry.verified.send_replace(offset);
        entry.state.send_replace(Arriving::Coming);
        let told = self.arrivals.lock().expect("arrivals").clone();
        if let (true, Some(reporter)) = (new, told) {
            let watched = (entry.verified.subscribe(), entry.state.subscribe());
            tokio::spawn(tell_arrival(
                reporter,
                self.room.clone(),
                offer.clone(),
                watched,
            ));
        }
        entry.verified.clone()
    }
}

/// How often an arriving file's progress is told, at most.
const ARRIVAL_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

/// Tells `reporter` how far an upload has come, a few times a second, until it is over
/// (kept, failed, or its entry gone).
async fn tell_arrival(
    reporter: Reporter,
    room: RoomId,
    offer: FileOffer,
    (mut verified, mut state): (watch::Receiver<u64>, watch::Receiver<Arriving>),
) {
    let tell = |done, over| {
        let (room, hash, size) = (room.clone(), offer.hash.clone(), offer.size);
        reporter.tell(TransferEvent::Arriving(Arrival {
            room,
            hash,
            done,
            size,
            over,
        }));
    };
    loop {
        let done = *verified.borrow_and_update();
        let now = state.borrow_and_update().clone();
        // A broken upload stops arriving until its sender resumes it (told again then).
        tell(done, now != Arriving::Coming);
        if matches!(now, Arriving::Kept | Arriving::Failed(_)) {
            return;
        }
        tokio::time::sleep(ARRIVAL_EVERY).await;
        let gone = tokio::select! {
            changed = verified.changed() => changed.is_err(),
            changed = state.changed() => changed.is_err(),
        };
        if gone {
            return tell(done, true);
        }
    }
}

/// Tells the other side why it is refused, and returns that as the error.
async fn refuse<T>(sink: &mut LinkWriter, refusal: Refusal) -> Result<T, TransferError> {
    send(sink, Frame::Refused(refusal)).await?;
    Err(refused(refusal))
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
            Err(TransferError::Stopped(_)) => Arriving::Failed(CancelCode::SenderStopped),
            Err(e) => Arriving::Failed(e.cancel_code()),
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
            let code = error.cancel_code();
            let _ = send(sink, Frame::Cancel { code }).await;
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
    refuse(sink, RefuseCode::Gone.into()).await
}

/// The room's files as a [`Service`] of its host.
pub struct FileService {
    /// What is kept, and the transfers' places and locks.
    files: HostFiles,
}

impl FileService {
    /// Serves the files of the room `config` starts, kept in `store`, within the config's
    /// limits (set them first), and registers the service with the config.
    pub fn register(config: &mut HostConfig, store: FileStore) -> Arc<Self> {
        let service = Arc::new(Self {
            files: HostFiles::new(config.room.clone(), store, &config.limits),
        });
        config.services.push(service.clone());
        service
    }

    /// Tells `reporter` how the uploads to this room come along (for the host's own window).
    pub fn tell_arrivals(&self, reporter: Reporter) {
        *self.files.arrivals.lock().expect("arrivals") = Some(reporter);
    }

    /// Changes how many bytes of files the room keeps, from the next kept file on.
    pub fn set_limit(&self, limit: u64) {
        self.files.store.set_limit(limit);
    }
}

impl Service for FileService {
    fn takes(&self, first: &Frame) -> bool {
        matches!(first, Frame::Upload(_) | Frame::Download { .. })
    }

    fn serve(self: Arc<Self>, incoming: Incoming) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(async move { self.serve_file(incoming).await })
    }
}

impl FileService {
    /// Runs a file connection for a member of the room: an upload to keep, or a download to
    /// serve. Anyone else is turned away before any file is looked at.
    async fn serve_file(&self, incoming: Incoming) {
        let Incoming {
            link,
            first,
            peer,
            token,
            room,
        } = incoming;
        let Some(who) = room.who_is(link.remote.device()).await else {
            tracing::info!("{peer}: file connection refused: not a member");
            let refused = Frame::Refused(RefuseCode::NotMember.into());
            return link.answer_and_close(refused).await;
        };
        let files = &self.files;
        let Some(_place) = files.take_place(who.machine) else {
            let refused = Frame::Refused(RefuseCode::Busy.into());
            return link.answer_and_close(refused).await;
        };
        let Link {
            mut reader,
            mut writer,
            ..
        } = link;
        match first {
            Frame::Upload(upload) => {
                let upload = Keeping {
                    upload,
                    who,
                    peer,
                    room,
                    token,
                };
                self.keep_upload(&mut reader, &mut writer, upload).await
            }
            Frame::Download { room, hash, offset } => {
                let served = tokio::select! {
                    _ = token.cancelled() => return,
                    served = serve_download(&mut writer, room, hash, offset, files) => served,
                    // A downloader says nothing more but a cancel: anything else, or its end,
                    // means it is gone, and its place is free at once.
                    _ = reader.recv() => Err(TransferError::Ended),
                };
                if let Err(e) = served {
                    tracing::info!("{peer}: download stopped: {e}");
                }
            }
            _ => unreachable!("only file frames are taken (see `takes`)"),
        }
        writer.close().await;
    }

    /// Keeps an upload, posted to the room (under the sender's key and name) as soon as it
    /// starts coming, and tells the uploader its message id once it is whole.
    async fn keep_upload(&self, frames: &mut LinkReader, sink: &mut LinkWriter, keeping: Keeping) {
        let Keeping {
            upload,
            who,
            peer,
            room,
            token,
        } = keeping;
        let files = &self.files;
        let share = upload.share;
        let accepted = tokio::select! {
            _ = token.cancelled() => return,
            accepted = accept_upload(sink, upload, files) => accepted,
        };
        let (file, receiving) = match accepted {
            Ok(Accepted::Kept(file)) => (file, None),
            Ok(Accepted::Receiving(receiving)) => (receiving.file(), Some(receiving)),
            Err(e) => return tracing::info!("{peer}: upload refused: {e}"),
        };
        let name = file.name.clone();
        let Some(posted) = room.post_file(&who, file, share).await else {
            return; // the room is closing
        };
        let id = match posted {
            Ok(id) => id,
            Err(rejected) => {
                tracing::info!("{peer}: file not posted: {rejected}");
                let code = rejected.into();
                let _ = sink.send(Frame::Cancel { code }).await;
                return;
            }
        };
        let kept = match receiving {
            None => Ok(Vec::new()),
            Some(receiving) => tokio::select! {
                _ = token.cancelled() => return,
                kept = receiving.finish(frames, sink, files) => kept.map(|k| k.removed),
            },
        };
        let notice = match kept {
            Ok(removed) => {
                tracing::info!("{peer}: kept {name}");
                let _ = sink.send(Frame::Stored { id }).await;
                removed_notice(files.store.limit(), &removed)
            }
            Err(e) => {
                tracing::info!("{peer}: upload of {name} stopped: {e}");
                failed_notice(&who.name, &name, &e)
            }
        };
        if let Some(text) = notice {
            room.say(text).await;
        }
    }
}

/// An upload being kept: what it is, from whom, and the room it goes to.
struct Keeping {
    upload: Upload,
    /// The member sending it, whose name and allowance its post has.
    who: Who,
    /// For the log.
    peer: SocketAddr,
    /// Where the file is posted, and said to have failed.
    room: RoomHandle,
    /// Cancelled when the room closes.
    token: CancellationToken,
}
