//! The parts of the protocol that carry files.
//!
//! A file moves on a connection of its own, opened to the room's port, so chat frames never
//! wait behind file data. The first frame says which way it goes:
//! ```text
//! uploader                               host
//!   Upload{room, offer, share}            ─►     offer: name, size, hash, piece length,
//!                                        ◄─ UploadFrom{offset}   piece hashes
//!   Data{offset, bytes} …                 ─►     (≤ 64 KiB each, in order, up to size)
//!                                        ◄─ Received{offset} …   (about once a second:
//!                                                                 verified so far)
//!                                        ◄─ Stored{id}           verified, kept, and posted
//!                                                                 to the room as message id
//! downloader                             host
//!   Download{room, hash, offset}          ─►
//!                                        ◄─ FileHeader{offer, offset}   (offset rounded down
//!                                        ◄─ Data{offset, bytes} …        to a whole piece)
//! ```
//! Like every connection, a file connection goes through the link (version, Noise handshake,
//! encrypted frames), and the host serves it only to a device that has joined the room.
//! Either side may send `Cancel{code}` and close; a host that will not take or give a file
//! answers `Refused` instead. The file's identity is the BLAKE3 hash of its content; the offer
//! carries the chaining value of each piece (a power-of-two span of the file), which combine
//! to that hash, so each piece is checked as soon as it has arrived and an interrupted
//! transfer resumes from the last whole piece.

use super::{Invalid, RoomId, validate::check_short};
use serde::{Deserialize, Serialize};

/// File bytes per `Data` frame.
pub const DATA_LEN: usize = 64 * 1024;
/// Largest file a room takes (64 GiB): far above a long video, and it bounds a piece (and so
/// the memory a transfer holds) to 32 MiB.
pub const MAX_FILE_SIZE: u64 = 64 << 30;
/// Most pieces a file is cut into; bounds the piece hashes in an offer to 64 KiB, so the
/// offer fits in one frame.
pub const MAX_PIECES: u64 = 2048;

/// A file's identity: the BLAKE3 hash of its content as 64 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FileHash(String);

impl FileHash {
    /// Accepts exactly 64 lowercase hex digits: hashes come from the network and name files.
    pub fn parse(s: &str) -> Option<Self> {
        let ok = s.len() == 64
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        ok.then(|| Self(s.to_owned()))
    }

    /// The hash of these 32 bytes, as text.
    pub fn from_bytes(hash: &[u8; 32]) -> Self {
        Self(hash.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// The 64 hex digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The hash as bytes.
    pub fn bytes(&self) -> [u8; 32] {
        let mut out = [0; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&self.0[2 * i..2 * i + 2], 16).expect("checked hex");
        }
        out
    }
}

impl TryFrom<String> for FileHash {
    type Error = Invalid;
    fn try_from(s: String) -> Result<Self, Invalid> {
        Self::parse(&s).ok_or(Invalid::Malformed {
            what: "a file hash",
        })
    }
}

impl From<FileHash> for String {
    fn from(hash: FileHash) -> String {
        hash.0
    }
}

impl std::fmt::Display for FileHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A file shared in a room, as its chat message carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRef {
    /// What to ask the host for, and what the received bytes must hash to.
    pub hash: FileHash,
    /// The name the sender gave it; cleaned before it names anything on disk.
    pub name: String,
    /// Bytes, shown with the file and checked against what arrives.
    pub size: u64,
}

/// What an uploader announces, and a host repeats to each downloader.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileOffer {
    /// The sender's name for the file.
    pub name: String,
    /// Bytes: fixes the pieces, and where data must end.
    pub size: u64,
    /// The whole file's BLAKE3 hash, which the piece hashes must combine to.
    pub hash: FileHash,
    /// The length of every piece but the last.
    pub piece_len: u64,
    /// The pieces' BLAKE3 chaining values, 32 bytes each (none for a one-piece file).
    #[serde(with = "serde_bytes")]
    pub cvs: Vec<u8>,
}

/// The first frame of an upload. Who sends it is the device the link proved, posting under
/// the name it has in the room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Upload {
    /// The room to post the file to.
    pub room: RoomId,
    /// The file and its piece hashes.
    pub offer: FileOffer,
    /// This sharing's number, the same for each try of it: a try after a lost confirmation
    /// is answered with the post the first made, while sharing the file again posts it
    /// again. Absent from an older lanchat (then every try within minutes is one post).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share: Option<u64>,
}

impl FileRef {
    /// Checks the limits of a file reference from the network.
    pub fn validate(&self) -> Result<(), Invalid> {
        check_file_name(&self.name)?;
        check_size(self.size)
    }
}

impl FileOffer {
    /// Checks the limits of an offer from the network (not yet its hashes: see `PieceHashes`).
    pub fn validate(&self) -> Result<(), Invalid> {
        check_file_name(&self.name)?;
        check_size(self.size)?;
        if !self.piece_len.is_power_of_two() || self.piece_len < 1024 {
            return Err(Invalid::PieceLength);
        }
        if !self.cvs.len().is_multiple_of(32) || self.cvs.len() as u64 > MAX_PIECES * 32 {
            return Err(Invalid::PieceHashes);
        }
        Ok(())
    }

    /// The file as a chat message refers to it.
    pub fn file_ref(&self) -> FileRef {
        FileRef {
            hash: self.hash.clone(),
            name: self.name.clone(),
            size: self.size,
        }
    }
}

fn check_file_name(name: &str) -> Result<(), Invalid> {
    check_short("file name", name)?;
    if name.is_empty() {
        return Err(Invalid::Empty { what: "file name" });
    }
    Ok(())
}

fn check_size(size: u64) -> Result<(), Invalid> {
    if size > MAX_FILE_SIZE {
        return Err(Invalid::FileTooLarge);
    }
    Ok(())
}

/// Checks the limits of an upload from the network.
pub(crate) fn check_upload(upload: &Upload) -> Result<(), Invalid> {
    upload.offer.validate()
}
