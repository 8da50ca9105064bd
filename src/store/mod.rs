//! Everything lanchat keeps on disk: where it lives, the settings, and the database (room
//! histories, what was seen, the outbox, and searching them).

mod database;
mod directs;
mod history;
mod member;
mod paths;
mod search;
mod settings;

pub use database::{Database, StoreError};
pub use directs::{Direct, DirectStore, Sent};
pub use history::{History, PAGE_BYTES, ProblemSink, Stored, read_page, read_page_before, senders};
pub use member::{CATCH_UP_PAGE, JoinedRoom, Kept, MemberStore, joined_rooms, stored_after};
pub use paths::Paths;
pub use search::{Found, Hit, MOST_HITS, Piece, Place, Record, fts_query, search, stored_from};
pub use settings::{
    Alerts, Change, HostedRoom, Settings, SettingsError, Theme, clamp_name, clamp_text,
};

/// A message from Ada with this id and text, for the store's tests.
#[cfg(test)]
pub(crate) fn sample_message(id: u64, text: &str) -> crate::protocol::ChatMessage {
    crate::protocol::ChatMessage {
        id,
        ts: 1_700_000_000_000 + id as i64,
        from: "Ada".into(),
        device: crate::protocol::DeviceId::parse("d1").unwrap(),
        text: text.into(),
        file: None,
    }
}
