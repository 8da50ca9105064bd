//! A joined spell: the host's frames in, the user's asks out, pings and the idle
//! deadline, until the user leaves or the link ends.

use super::history::EarlierPage;
use super::{Event, Run, SessionCmd};
use crate::net::link::{Link, LinkError};
use crate::protocol::{Frame, ProtocolError};
use crate::store::Sent;
use std::time::Duration;
use tokio::sync::mpsc;

/// How a connected spell ended.
pub(super) enum Ended {
    /// The user left.
    Left,
    /// The host closed the room, with its reason.
    Closed(String),
    /// The connection broke, or the host misbehaved.
    Lost(String),
}

impl Run {
    /// Runs a joined session until it ends.
    pub(super) async fn connected(
        &mut self,
        link: Link,
        cmds: &mut mpsc::UnboundedReceiver<SessionCmd>,
    ) -> Ended {
        let Link {
            mut reader,
            mut writer,
            ..
        } = link;
        let lost = |e: LinkError| Ended::Lost(e.to_string());
        if self.away
            && let Err(e) = writer.send(Frame::Presence { away: true }).await
        {
            return lost(e);
        }
        if let Err(e) = self.top_up(&mut writer).await {
            return lost(e);
        }
        let timeouts = self.config.timeouts;
        let mut ping =
            tokio::time::interval_at(tokio::time::Instant::now() + timeouts.ping, timeouts.ping);
        let idle = tokio::time::sleep(timeouts.idle);
        tokio::pin!(idle);
        loop {
            tokio::select! {
                frame = reader.recv() => {
                    let frame = match frame {
                        None => return Ended::Lost("the host hung up".into()),
                        Some(Err(e)) => return Ended::Lost(e.to_string()),
                        Some(Ok(frame)) => frame,
                    };
                    idle.as_mut().reset(tokio::time::Instant::now() + timeouts.idle);
                    if let Some(ended) = self.on_frame(frame) {
                        return ended;
                    }
                    if let Err(e) = self.top_up(&mut writer).await {
                        return lost(e);
                    }
                }
                cmd = cmds.recv() => match cmd {
                    Some(SessionCmd::Post { seq, text }) => {
                        self.queue(seq, text);
                        if let Err(e) = self.top_up(&mut writer).await {
                            return lost(e);
                        }
                    }
                    Some(SessionCmd::Rename(name)) => {
                        self.config.name = name.clone();
                        if let Err(e) = writer.send(Frame::Rename { name }).await {
                            return lost(e);
                        }
                    }
                    // In already: the new password, key or addresses are for the next join.
                    // (A host that moved is often seen at its new address before its old
                    // connection is given up for lost.)
                    Some(SessionCmd::Password(secret)) => self.config.password = Some(secret),
                    Some(SessionCmd::Redial(addrs)) => self.config.addrs = addrs,
                    Some(SessionCmd::Retry) => {}
                    Some(SessionCmd::Before(before)) => {
                        if let Err(e) = writer.send(Frame::Before { before }).await {
                            return lost(e);
                        }
                    }
                    Some(SessionCmd::Presence(away)) => {
                        self.away = away;
                        if let Err(e) = writer.send(Frame::Presence { away }).await {
                            return lost(e);
                        }
                    }
                    Some(SessionCmd::Typing) => {
                        if let Err(e) = writer.send(Frame::Typing).await {
                            return lost(e);
                        }
                    }
                    Some(SessionCmd::Direct { to, seq, text }) => {
                        let Some(d) = self.direct_out(&to, seq, text) else {
                            continue;
                        };
                        match self.seal(&to, &d) {
                            Ok(sealed) => {
                                self.directs_out.insert(seq, d.peer.clone());
                                let frame = Frame::Direct { to: to.id, seq, sealed };
                                if let Err(e) = writer.send(frame).await {
                                    return lost(e);
                                }
                            }
                            Err(reason) => self.direct_failed(&d.peer, seq, reason),
                        }
                    }
                    Some(SessionCmd::Leave) | None => {
                        let _ = tokio::time::timeout(Duration::from_secs(1), writer.send(Frame::Bye)).await;
                        writer.close().await;
                        return Ended::Left;
                    }
                },
                _ = ping.tick() => {
                    if let Err(e) = writer.send(Frame::Ping).await {
                        return lost(e);
                    }
                }
                _ = &mut idle => return Ended::Lost("the host stopped answering".into()),
            }
        }
    }

    /// The connection ended: what was on its way on it will not be answered. Our direct
    /// messages not yet confirmed are not delivered (the host keeps none); a page of older
    /// history half received is dropped (the front end asks again).
    pub(super) fn link_ended(&mut self) {
        for (seq, peer) in std::mem::take(&mut self.directs_out) {
            self.direct_failed(&peer, seq, "the connection to the room was lost".into());
        }
        self.earlier = None;
    }

    /// Handles one frame from the host; `Some` when it ends the session.
    fn on_frame(&mut self, frame: Frame) -> Option<Ended> {
        let room = self.config.room.clone();
        let frame = match frame {
            Frame::Message(message) => Frame::Message(self.earlier_message(message)?),
            Frame::Earlier {
                before,
                count,
                more,
            } => {
                self.earlier = Some(EarlierPage {
                    before,
                    left: count,
                    more,
                    messages: Vec::with_capacity(count as usize),
                });
                if count == 0 {
                    self.earlier_done();
                }
                return None;
            }
            other => other,
        };
        // While catching up, a live message is left for the page that will bring it in order.
        let live_too_soon = self.history_left == 0 && self.more_history;
        match frame {
            Frame::Message(_) if live_too_soon => {}
            // Only news: a rejoin asks for history after `last_id`, but be sure.
            Frame::Message(message) if self.last_id.is_none_or(|last| message.id > last) => {
                self.last_id = Some(message.id);
                if let (Some(store), Some(epoch)) = (&self.store, self.epoch) {
                    store.seen(epoch, &message);
                }
                // What was said while we were away counts as live: its files come by themselves.
                let live = self.history_left == 0 || self.history_is_news;
                self.events.send(Event::Message {
                    room: room.clone(),
                    message,
                    live,
                });
                self.history_read(room);
            }
            Frame::Message(_) => self.history_read(room),
            Frame::Page { count, more } if self.history_left == 0 && self.more_history => {
                self.history_left = count;
                self.more_history = more;
                if count == 0 {
                    self.page_read(room);
                }
            }
            Frame::Accepted { seq, id } => {
                self.answered(seq);
                self.events.send(Event::Accepted { room, seq, id });
            }
            Frame::Rejected { seq, reason } => match self.directs_out.remove(&seq) {
                Some(peer) => self.direct_failed(&peer, seq, reason),
                None => {
                    self.answered(seq);
                    self.events.send(Event::Rejected { room, seq, reason });
                }
            },
            Frame::DirectSent { seq } => {
                if let Some(peer) = self.directs_out.remove(&seq) {
                    if let Some(store) = &self.config.directs {
                        store.sent(&peer, seq, Sent::Delivered);
                    }
                    self.events.send(Event::DirectSent { peer, seq });
                }
            }
            Frame::DirectFrom { sealed, .. } => self.direct_in(&sealed),
            Frame::MemberJoined(member) => {
                self.names
                    .insert(member.device.clone(), member.name.clone());
                self.events.send(Event::MemberJoined { room, member })
            }
            // Gone: still named as it was, for a direct message on its way.
            Frame::MemberLeft(member) => self.events.send(Event::MemberLeft { room, member }),
            Frame::MemberRenamed(member) => {
                self.names
                    .insert(member.device.clone(), member.name.clone());
                self.events.send(Event::MemberRenamed { room, member })
            }
            Frame::MemberAway { member, away } => {
                self.events.send(Event::MemberAway { room, member, away })
            }
            Frame::MemberTyping { member } => self.events.send(Event::Typing { room, member }),
            Frame::Pong | Frame::Unknown => {}
            Frame::Closing { reason } => return Some(Ended::Closed(reason)),
            other => {
                let e = ProtocolError::OutOfOrder {
                    kind: other.kind(),
                    context: "from the host",
                };
                return Some(Ended::Lost(e.to_string()));
            }
        }
        None
    }
}
