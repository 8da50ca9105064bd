//! Posts on their way: kept until the host answers them, sent a window at a time, and
//! resent after a rejoin.

use super::{Rejection, Run, SessionEvent};
use crate::net::link::{self, LinkError};
use crate::protocol::{Frame, RejectCode, check_text};

/// Most posts sent and not yet answered: the rest wait in the outbox, so a long outbox is
/// paced by the host's answers instead of running into the room's flood limit.
const WINDOW: usize = 32;

impl Run {
    /// Takes up what was kept of the room: the messages seen are shown, and the posts not
    /// yet answered wait in the outbox again (and are shown as pending).
    pub(super) async fn restore(&mut self) {
        let Some(store) = &self.store else {
            return;
        };
        let kept = match store.load().await {
            Ok(kept) => kept,
            Err(e) => {
                return tracing::warn!(
                    "room {}: nothing kept could be read: {e}",
                    self.config.room
                );
            }
        };
        self.epoch = kept.epoch;
        self.last_id = kept.last_id;
        for message in kept.recent {
            let live = false;
            self.tell(SessionEvent::Message { message, live });
        }
        for (seq, text) in kept.outbox {
            let pending = text.clone();
            self.tell(SessionEvent::Pending { seq, text: pending });
            self.outbox.push_back((seq, text));
        }
    }

    pub(super) fn queue(&mut self, seq: u64, text: String) {
        match check_text(&text) {
            Ok(()) => {
                if let Some(store) = &self.store {
                    store.queue(seq, &text);
                }
                self.outbox.push_back((seq, text));
            }
            Err(why) => self.tell(SessionEvent::Rejected {
                seq,
                reason: Rejection::Invalid(why),
            }),
        }
    }

    /// Sends what is due: the next page of history if asked for, and posts from the outbox
    /// up to the window.
    pub(super) async fn top_up(&mut self, writer: &mut link::LinkWriter) -> Result<(), LinkError> {
        let mut fed = false;
        if std::mem::take(&mut self.ask_page) {
            let after = self.last_id;
            writer.feed(Frame::History { after }).await?;
            fed = true;
        }
        while self.in_flight < WINDOW.min(self.outbox.len()) {
            let (seq, text) = self.outbox[self.in_flight].clone();
            writer.feed(Frame::Post { seq, text }).await?;
            self.in_flight += 1;
            fed = true;
        }
        if fed {
            writer.flush().await?;
        }
        Ok(())
    }

    /// A post was answered: it leaves the outbox.
    pub(super) fn answered(&mut self, seq: u64) {
        if let Some(store) = &self.store {
            store.answered(seq);
        }
        if let Some(at) = self.outbox.iter().position(|(s, _)| *s == seq) {
            self.outbox.remove(at);
            if at < self.in_flight {
                self.in_flight -= 1;
            }
        }
    }

    /// The host refused post `seq` (or our direct message `seq`): it leaves the outbox.
    pub(super) fn rejected(&mut self, seq: u64, code: RejectCode) {
        let reason = Rejection::Host(code);
        match self.directs_out.remove(&seq) {
            Some(peer) => self.direct_failed(&peer, seq, reason),
            None => {
                self.answered(seq);
                self.tell(SessionEvent::Rejected { seq, reason });
            }
        }
    }
}
