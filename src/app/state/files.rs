//! Files: transfers under way, downloads and their pictures, files saved in earlier runs.
//! Which files save themselves the runtime decides (`runtime/auto_save.rs`); they show here
//! as downloads like any other.

use super::AppState;
use crate::app::picker::Pick;
use crate::bridge::{Arrival, Command, Event, Thumbnail, Transfer, TransferId, TransferState};
use crate::protocol::{FileHash, FileRef, RoomId};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

/// The files of this run, as the runtime reports them.
#[derive(Debug, Default)]
pub struct Files {
    /// Every transfer of this run, as last reported.
    pub transfers: BTreeMap<TransferId, Transfer>,
    /// The latest download of each file, to show on its message.
    pub downloads: HashMap<FileHash, TransferId>,
    /// Small pictures of received images.
    pub thumbnails: HashMap<FileHash, Arc<Thumbnail>>,
    /// Where received files are saved.
    pub downloads_dir: Option<PathBuf>,
    /// Files saved by downloads, or sent, in earlier runs.
    pub saved: HashMap<FileHash, PathBuf>,
    /// The saved files whose picture was asked for (once each, when first shown).
    pub pictures_asked: std::collections::HashSet<FileHash>,
    /// Files members are sending to rooms we host, as far as they have come.
    pub arriving: HashMap<FileHash, Arrival>,
}

impl Files {
    /// Takes what the runtime says of files; other events are not this part's.
    pub(super) fn apply(&mut self, event: Event) {
        match event {
            Event::Transfer(transfer) => {
                if let (false, Some(hash)) = (transfer.upload, &transfer.hash) {
                    self.downloads.insert(hash.clone(), transfer.id);
                }
                if transfer.upload && matches!(transfer.state, TransferState::Done { .. }) {
                    self.transfers.remove(&transfer.id);
                } else {
                    self.transfers.insert(transfer.id, transfer);
                }
            }
            Event::Thumbnail { hash, image } => {
                self.thumbnails.insert(hash, image);
            }
            Event::Downloads(dir) => self.downloads_dir = Some(dir),
            Event::Arriving(arrival) if arrival.over => {
                self.arriving.remove(&arrival.hash);
            }
            Event::Arriving(arrival) => {
                self.arriving.insert(arrival.hash.clone(), arrival);
            }
            Event::Saved { hash, path } => {
                self.saved.insert(hash, path);
            }
            _ => {}
        }
    }

    /// The transfer of a file shown with its message, if any.
    pub fn download_of(&self, file: &FileRef) -> Option<&Transfer> {
        self.downloads
            .get(&file.hash)
            .and_then(|id| self.transfers.get(id))
    }

    /// Our upload of a file still on its way, shown with its message.
    pub fn upload_of(&self, file: &FileRef) -> Option<&Transfer> {
        self.transfers.values().find(|t| {
            t.upload
                && t.hash.as_ref() == Some(&file.hash)
                && matches!(t.state, TransferState::Running)
        })
    }

    /// Forgets a failed upload.
    pub fn dismiss(&mut self, id: TransferId) {
        self.transfers.remove(&id);
    }
}

/// What the user does with files; those of the open room go to it.
impl AppState {
    /// A saved file is shown: its thumbnail is asked for, once (made lazily, so a profile
    /// with many pictures does not decode them all at start).
    pub fn want_picture(&mut self, hash: &FileHash, path: &std::path::Path) {
        if !self.files.thumbnails.contains_key(hash)
            && self.files.pictures_asked.insert(hash.clone())
        {
            self.outbox.push(Command::Thumbnail {
                hash: hash.clone(),
                path: path.to_path_buf(),
            });
        }
    }

    /// Sends files to the open room.
    pub fn send_files(&mut self, paths: Vec<PathBuf>) {
        if let Some(room) = self.open.clone()
            && !paths.is_empty()
        {
            self.outbox.push(Command::SendFiles { room, paths });
        }
    }

    /// Asks for files to send to the open room (the window opens the dialog).
    pub fn pick_files(&mut self) {
        if let Some(room) = self.open.clone() {
            self.picking = Some(Pick::Files(room));
        }
    }

    /// Asks for a folder to send to the open room (the window opens the dialog).
    pub fn pick_folder(&mut self) {
        if let Some(room) = self.open.clone() {
            self.picking = Some(Pick::Folder(room));
        }
    }

    /// Asks for the folder received files go to (the window opens the dialog).
    pub fn pick_downloads(&mut self) {
        self.picking = Some(Pick::Downloads(self.files.downloads_dir.clone()));
    }

    /// Downloads a file shared in the open room.
    pub fn download(&mut self, file: &FileRef) {
        if let Some(room) = self.open.clone() {
            self.outbox.push(Command::Download {
                room,
                file: file.clone(),
            });
        }
    }

    /// Our uploads to a room that are not done yet (or failed and not dismissed), and not
    /// yet shown as a message (which then shows their progress).
    pub fn uploads_to(&self, room: &RoomId) -> impl Iterator<Item = &Transfer> {
        let posted = self.chats.rooms.get(room).map(|c| &c.files);
        self.files.transfers.values().filter(move |t| {
            t.upload
                && &t.room == room
                && !matches!(
                    t.state,
                    TransferState::Done { .. } | TransferState::Cancelled
                )
                && !(matches!(t.state, TransferState::Running)
                    && t.hash
                        .as_ref()
                        .is_some_and(|h| posted.is_some_and(|p| p.contains(h))))
        })
    }

    pub fn cancel(&mut self, id: TransferId) {
        self.outbox.push(Command::CancelTransfer(id));
    }

    pub fn open_file(&mut self, path: PathBuf) {
        self.outbox.push(Command::Open(path));
    }

    pub fn reveal_file(&mut self, path: PathBuf) {
        self.outbox.push(Command::Reveal(path));
    }
}
