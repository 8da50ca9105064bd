//! Pages of history a member asks for, read from memory or, off the room task, from the
//! disk; and posts held back while their senders are over their allowance, released as it
//! comes back.

use super::*;

impl Room {
    /// When the next member holding posts or a page back can be served, if any is.
    pub(super) fn next_release(&mut self) -> Option<Instant> {
        let waiting: Vec<(DeviceId, IpAddr, f64)> = self
            .holding
            .iter()
            .filter_map(|id| {
                let slot = self.members.get(id)?;
                let bytes = match slot.held.front() {
                    Some((_, text)) => text.len() as f64,
                    // A page waits for a read under way: it is served when that ends.
                    None if slot.asked_page.is_some() && !slot.reading => 0.0,
                    None => return None,
                };
                Some((slot.member.device.clone(), slot.machine, bytes))
            })
            .collect();
        let now = Instant::now();
        waiting
            .into_iter()
            .map(|(key, machine, bytes)| now + self.allowances.wait(&key, machine, 1.0, bytes))
            .min()
    }

    /// Sends a member scrolling back the page before message `before`, read from disk off
    /// this task (scrolling back is rare; the newest pages are in memory for joins).
    pub(super) fn earlier_page(&mut self, member: MemberId, before: u64) {
        // One read at a time, each costing a post of the member's allowance: asking without
        // end is a flood like any other, and is answered with nothing.
        let reading = self.members.get(&member).is_none_or(|s| s.reading);
        if reading || !self.spend(member, 1.0, 0.0) {
            let none = Frame::Earlier {
                before,
                count: 0,
                more: true,
            };
            return self.send_to(member, &none);
        }
        let Some(slot) = self.members.get_mut(&member) else {
            return;
        };
        slot.reading = true;
        let conn = slot.conn;
        self.read_history(move |db, room| Internal::EarlierPage {
            member,
            conn,
            before,
            page: read_page_before(db, room, before),
        });
    }

    /// Reads the room's history off this task, when one of the room's few reading places is
    /// free; what was read comes back as `Internal`.
    pub(super) fn read_history(
        &self,
        read: impl FnOnce(&Database, &RoomId) -> Internal + Send + 'static,
    ) {
        let (db, room) = (self.history.database().clone(), self.config.room.clone());
        let (internal, readers) = (self.internal.clone(), self.readers.clone());
        tokio::spawn(async move {
            let Ok(_place) = readers.acquire_owned().await else {
                return;
            };
            let read = tokio::task::spawn_blocking(move || read(&db, &room)).await;
            if let Ok(read) = read {
                let _ = internal.send(read);
            }
        });
    }

    /// A member catching up asks for the page after `after`. Each page costs a post of its
    /// allowance, and one is read for it at a time: a page asked for meanwhile waits.
    pub(super) fn history_page(&mut self, member: MemberId, after: Option<u64>) {
        let Some(slot) = self.members.get_mut(&member) else {
            return;
        };
        slot.asked_page = Some(after);
        self.holding.insert(member);
        self.release_held();
    }

    /// Sends a member the page after `after`: from memory at once, or from disk once read
    /// (off this task).
    pub(super) fn serve_page(&mut self, member: MemberId, after: Option<u64>) {
        let Some(slot) = self.members.get_mut(&member) else {
            return;
        };
        if let Some((page, more)) = self.history.page_after(after) {
            return self.send_page(member, page, more);
        }
        slot.reading = true;
        let conn = slot.conn;
        self.read_history(move |db, room| Internal::DiskPage {
            member,
            conn,
            page: read_page(db, room, after),
        });
    }

    pub(super) fn send_page(&mut self, member: MemberId, page: Vec<ChatMessage>, more: bool) {
        let header = Frame::Page {
            count: page.len() as u32,
            more,
        };
        self.send_messages(member, header, page);
    }

    /// Sends a page's header, then its messages, one after the other in the member's queue.
    pub(super) fn send_messages(
        &mut self,
        member: MemberId,
        header: Frame,
        page: Vec<ChatMessage>,
    ) {
        for frame in std::iter::once(header).chain(page.into_iter().map(Frame::Message)) {
            self.send_to(member, &frame);
        }
    }

    /// Stores the posts members had held back, and serves the pages they asked for, as far
    /// as their allowances now go.
    pub(super) fn release_held(&mut self) {
        let ids: Vec<MemberId> = std::mem::take(&mut self.holding).into_iter().collect();
        for member in ids {
            while let Some(slot) = self.members.get(&member) {
                let Some((_, text)) = slot.held.front() else {
                    break;
                };
                if !self.spend(member, 1.0, text.len() as f64) {
                    break;
                }
                let slot = self.members.get_mut(&member).expect("a member just seen");
                let (seq, text) = slot.held.pop_front().expect("a held post");
                slot.held_bytes -= text.len();
                self.store_post(member, seq, text);
            }
            let page = self
                .members
                .get(&member)
                .filter(|s| !s.reading)
                .and_then(|s| s.asked_page);
            if let Some(after) = page
                && self.spend(member, 1.0, 0.0)
            {
                if let Some(slot) = self.members.get_mut(&member) {
                    slot.asked_page = None;
                }
                self.serve_page(member, after);
            }
            if self
                .members
                .get(&member)
                .is_some_and(|s| !s.held.is_empty() || s.asked_page.is_some())
            {
                self.holding.insert(member);
            }
        }
    }

    /// An earlier page, read from disk for a member scrolling back, goes to it (if it is
    /// still on the connection that asked).
    pub(super) fn earlier_read(
        &mut self,
        member: MemberId,
        conn: u64,
        before: u64,
        page: Result<(Vec<ChatMessage>, bool), StoreError>,
    ) {
        match self.members.get_mut(&member) {
            Some(slot) if slot.conn == conn => slot.reading = false,
            _ => return,
        }
        match page {
            Ok((page, more)) => {
                let header = Frame::Earlier {
                    before,
                    count: page.len() as u32,
                    more,
                };
                self.send_messages(member, header, page);
            }
            Err(e) => {
                tracing::warn!("reading the history of {}: {e}", self.config.room);
                // Nothing older is sent: the member may ask again.
                let header = Frame::Earlier {
                    before,
                    count: 0,
                    more: true,
                };
                self.send_to(member, &header);
            }
        }
    }

    /// A page read from disk for a member catching up goes to it; past the disk's pages, the
    /// ones in memory follow.
    pub(super) fn disk_read(
        &mut self,
        member: MemberId,
        conn: u64,
        page: Result<Vec<ChatMessage>, StoreError>,
    ) {
        match self.members.get_mut(&member) {
            Some(slot) if slot.conn == conn => slot.reading = false,
            // Gone, or back on another connection that asks for itself.
            _ => return,
        }
        match page {
            // Older than the memory's pages: more always follow.
            Ok(page) if !page.is_empty() => self.send_page(member, page, true),
            Ok(_) => {
                let oldest = self.history.recent().next().map(|m| m.id);
                self.serve_page(member, oldest.and_then(|id| id.checked_sub(1)));
            }
            Err(e) => {
                tracing::warn!("reading the history of {}: {e}", self.config.room);
                self.leave(member); // it rejoins and asks again
            }
        }
    }
}
