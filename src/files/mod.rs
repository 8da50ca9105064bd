//! The file feature in one place (what a file looks like on the wire is the protocol's:
//! [`crate::protocol::files`]): a file shared in a room goes from a member's disk to the
//! host's, and from there to every member who wants it.
//!
//! # Layout
//! - [`pieces`]: BLAKE3 piece hashes, so each piece is checked as it arrives and a broken
//!   transfer resumes from the last verified one.
//! - [`transfer`]: what both ends of a transfer share: pieces written as they are verified,
//!   data sent from disk at the link's pace, and how a transfer fails.
//! - [`serve`]: the host's side: a [`serve::FileService`] registered with the room's host
//!   keeps uploads and serves downloads, to members only.
//! - [`fetch`]: a member's side: sending a file to the room, fetching one from it.
//! - [`jobs`]: the runtime's transfers: the retry policy, cancelling, and the record of
//!   files already saved.
//! - [`report`]: how a transfer stands, told to a [`Reporter`] the runtime makes.
//! - [`kept`]: the copies a host keeps for its room, within a size limit.
//! - [`folder`]: a folder sent as its files, each named by its path inside it.
//! - [`names`]: file names (and a folder's files' paths) from the network made safe, and
//!   files and folders created without ever overwriting another.
//! - [`disk`]: where a download is saved: its hidden partial file, opened safely, and the
//!   free space check.

pub mod disk;
pub mod fetch;
pub mod folder;
pub mod jobs;
pub mod kept;
pub mod names;
pub mod pieces;
pub mod report;
pub mod serve;
pub mod transfer;

pub use crate::protocol::files::{
    DATA_LEN, FileHash, FileOffer, FileRef, MAX_FILE_SIZE, MAX_PIECES, Upload,
};
pub use fetch::Peer;
pub use jobs::Transfers;
pub use kept::FileStore;
pub use names::{clean_file_name, create_unique, free_path, shown_path};
pub use pieces::{MIN_PIECE_LEN, PieceError, PieceHashes};
pub use report::{
    Arrival, Reporter, Transfer, TransferEvent, TransferFailure, TransferId, TransferState,
};
pub use serve::FileService;
pub use transfer::TransferError;
