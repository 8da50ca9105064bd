//! A room's history beyond what arrives live: paging back when the user scrolls to the top,
//! and catching up when the window fell behind.

use std::time::Duration;

/// How long an asked-for page of older history may take before a button asks again.
pub(super) const EARLIER_PATIENCE: Duration = Duration::from_secs(15);

/// The room's history before the oldest message shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Older {
    /// There may be more: scrolling to the top asks for it.
    Maybe,
    /// The page before this message id is on its way.
    Asking(u64),
    /// The host could not be asked (it is away): a button asks again.
    Unavailable,
    /// The oldest message shown is the room's first.
    Complete,
}

/// A catch-up under way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CatchingUp {
    /// The id the last request read after.
    pub after: Option<u64>,
    /// The window fell behind again meanwhile: read on to the end once more.
    pub again: bool,
    /// The room's history started over meanwhile: the page on its way is of the old one;
    /// read the new one from its start instead.
    pub restart: bool,
}
