//! Which received files save themselves: decided here, once, as each message arrives from a
//! room's session, so every front end only shows the downloads that follow. Messages a front
//! end fell behind on and reads back are the same messages: decided already.

use super::Runtime;
use crate::protocol::{ChatMessage, RoomId};

/// Which files shared in the rooms we are in are downloaded without anyone asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoSave {
    /// As the settings say (the window): files others share while we are in the room, up to
    /// [`Settings::auto_save`](crate::store::Settings::auto_save), except in the rooms of
    /// [`Settings::no_auto_save`](crate::store::Settings::no_auto_save).
    AsSet,
    /// None (headless commands, unless told otherwise).
    Off,
    /// Every file shared in the room, its history's and our own included, whatever its size
    /// (`lanchat join --downloads`).
    Every,
}

impl Runtime {
    /// A message reported by a room's session: its file is downloaded if it saves itself
    /// (see [`AutoSave`]). `live`: said while we are in the room, not history. A room left
    /// meanwhile (its session's last words on their way) saves nothing.
    pub(super) fn auto_save(&mut self, room: &RoomId, message: &ChatMessage, live: bool) {
        let Some(file) = &message.file else {
            return;
        };
        if !self.sessions.contains_key(room) {
            return;
        }
        let saves = match self.auto_save {
            AutoSave::Off => false,
            AutoSave::Every => true,
            AutoSave::AsSet => {
                let settings = self.prefs.settings();
                live && message.device != self.me
                    && file.size <= settings.auto_save
                    && !settings.no_auto_save.contains(room)
            }
        };
        if saves {
            self.download(room.clone(), file.clone());
        }
    }
}
