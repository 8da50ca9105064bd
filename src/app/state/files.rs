//! Files: transfers under way, downloads and their pictures, and whether a shared file is
//! saved without the user asking.

use crate::protocol::{FileRef, RoomId};

/// Whether a file shared in `room` is saved without the user asking: it is no larger than
/// the `limit` they set, and the room is not one whose files all wait (`off`).
pub(super) fn saves_itself(
    limit: u64,
    off: &std::collections::BTreeSet<RoomId>,
    room: &RoomId,
    file: &FileRef,
) -> bool {
    file.size <= limit && !off.contains(room)
}
