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
pub use search::{Found, Hit, MOST_HITS, Piece, Record, fts_query, search, stored_from};
pub use settings::{
    Alerts, Change, HostedRoom, Settings, SettingsError, Theme, clamp_name, clamp_text,
};
