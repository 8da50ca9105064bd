//! Everything lanchat keeps on disk: where it lives, the settings, and room histories.

mod files;
mod history;
mod names;
mod paths;
mod pieces;
mod settings;

pub use files::{FileStore, free_space};
pub use history::{History, HistoryWriter};
pub use names::{clean_file_name, create_unique, free_path};
pub use paths::Paths;
pub use pieces::{MAX_PIECES, MIN_PIECE_LEN, PieceError, PieceHashes};
pub use settings::{HostedRoom, Settings, SettingsError, clamp_name, clamp_text};
