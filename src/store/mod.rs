//! Everything lanchat keeps on disk: where it lives, the settings, and room histories.

mod history;
mod paths;
mod settings;

pub use history::{History, HistoryWriter, ProblemSink};
pub use paths::Paths;
pub use settings::{HostedRoom, Settings, SettingsError, clamp_name, clamp_text};
