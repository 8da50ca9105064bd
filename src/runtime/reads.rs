//! Reading the database for the window, off the command loop: a room's messages after the
//! last it has, earlier ones, a page around a search result, and searches.

use super::Runtime;
use crate::bridge::{Event, SearchFailure};
use crate::protocol::RoomId;
use crate::store::stored_after;
use std::sync::Arc;

impl Runtime {
    /// Sends the front end a page of a room's messages from the database, after the last it
    /// has; the room's messages are queued to it again from now on.
    pub(super) fn catch_up(&self, room: RoomId, after: Option<u64>) {
        // Every message not queued was written to the database before it was dropped; the
        // read below is queued behind those writes, so it finds them all.
        self.events.caught_up(&room);
        let Ok(db) = &self.db else {
            let messages = Vec::new();
            return self.events.send(Event::CaughtUp {
                room,
                messages,
                more: false,
            });
        };
        let hosted = self.hosts.contains_key(&room);
        let (id, events) = (room.clone(), self.events.clone());
        db.submit(
            move |c| stored_after(c, &id, hosted, after),
            move |read| {
                let (messages, more) = read.unwrap_or_else(|e| {
                    events.send(Event::Alert(format!(
                        "Messages of a room could not be read back: {e}"
                    )));
                    (Vec::new(), false)
                });
                events.send(Event::CaughtUp {
                    room,
                    messages,
                    more,
                });
            },
        );
    }

    /// Searches the histories off the command loop; only the newest search waiting is run.
    pub(super) fn search(&self, query: String) {
        use std::sync::atomic::Ordering;
        let asked = self.searches.fetch_add(1, Ordering::AcqRel) + 1;
        let db = match &self.db {
            Ok(db) => db.clone(),
            Err(e) => {
                let found = Err(SearchFailure::NoDatabase(e.clone()));
                return self.events.send(Event::SearchResults { query, found });
            }
        };
        let (latest, events) = (self.searches.clone(), self.events.clone());
        tokio::task::spawn_blocking(move || {
            if latest.load(Ordering::Acquire) != asked {
                return; // the window wants a newer one
            }
            let found = crate::store::search(&db, &query, crate::store::MOST_HITS)
                .map_err(|e| SearchFailure::Failed(Arc::new(e)));
            events.send(Event::SearchResults { query, found });
        });
    }

    /// Reads a room's messages from the database for the window (to show a search result in
    /// place), off the command loop: from our history of a room we host, else from what we
    /// saw of it.
    pub(super) fn load_from(&self, room: RoomId, from: u64, until: Option<u64>) {
        let Ok(db) = self.db.clone() else {
            let messages = Vec::new();
            return self.events.send(Event::Loaded {
                room,
                from,
                messages,
            });
        };
        let hosted = self.hosts.contains_key(&room);
        let events = self.events.clone();
        tokio::task::spawn_blocking(move || {
            let messages = crate::store::stored_from(&db, &room, hosted, from, until)
                .unwrap_or_else(|e| {
                    events.send(Event::Alert(format!(
                        "Messages of a room could not be read back: {e}"
                    )));
                    Vec::new()
                });
            events.send(Event::Loaded {
                room,
                from,
                messages,
            });
        });
    }

    /// Asks a room's session for the messages before `before`; a room we are not in has
    /// none to give, but may have more once joined.
    pub(super) fn earlier(&self, room: RoomId, before: u64) {
        match self.sessions.get(&room) {
            Some(session) => session.before(before),
            None => self.events.send(Event::Earlier {
                room,
                before,
                messages: Vec::new(),
                more: true,
            }),
        }
    }
}
