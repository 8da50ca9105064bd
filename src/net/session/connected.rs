//! A joined spell: the host's frames in, the user's asks out, pings and the idle
//! deadline, until the user leaves or the link ends.

use super::{Rejection, Run, SessionCmd, SessionEvent};
use crate::net::link::{Link, LinkError, LinkWriter};
use crate::protocol::{CloseCode, Frame, ProtocolError};
use std::time::Duration;
use tokio::sync::mpsc;

/// How a connected spell ended.
pub(super) enum Ended {
    /// The user left.
    Left,
    /// The host closed the room, with its reason.
    Closed(CloseCode),
    /// The connection broke, or the host misbehaved.
    Lost(String),
}

/// A link that broke while we wrote to it.
fn lost(e: LinkError) -> Ended {
    Ended::Lost(e.to_string())
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
        if let Err(e) = self.greet(&mut writer).await {
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
                cmd = cmds.recv() => match self.online(cmd, &mut writer).await {
                    Ok(true) => {}
                    Ok(false) => {
                        let _ = tokio::time::timeout(Duration::from_secs(1), writer.send(Frame::Bye)).await;
                        writer.close().await;
                        return Ended::Left;
                    }
                    Err(e) => return lost(e),
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

    /// What a new connection first says: that we are away, if we are, and the posts and
    /// page of history due.
    async fn greet(&mut self, writer: &mut LinkWriter) -> Result<(), LinkError> {
        if self.away {
            writer.send(Frame::Presence { away: true }).await?;
        }
        self.top_up(writer).await
    }

    /// Handles a command while connected; `Ok(false)` when the user leaves.
    async fn online(
        &mut self,
        cmd: Option<SessionCmd>,
        writer: &mut LinkWriter,
    ) -> Result<bool, LinkError> {
        match cmd {
            Some(SessionCmd::Post { seq, text }) => {
                self.queue(seq, text);
                self.top_up(writer).await?;
            }
            Some(SessionCmd::Rename(name)) => {
                self.config.name = name.clone();
                writer.send(Frame::Rename { name }).await?;
            }
            // In already: the new password, key or addresses are for the next join.
            // (A host that moved is often seen at its new address before its old
            // connection is given up for lost.)
            Some(SessionCmd::Password(secret)) => self.config.password = Some(secret),
            Some(SessionCmd::Redial(addrs)) => self.config.addrs = addrs,
            Some(SessionCmd::Retry) => {}
            Some(SessionCmd::Distrust(key)) => self.distrusted.push(key),
            Some(SessionCmd::Before(before)) => writer.send(Frame::Before { before }).await?,
            Some(SessionCmd::Presence(away)) => {
                self.away = away;
                writer.send(Frame::Presence { away }).await?;
            }
            Some(SessionCmd::Typing) => writer.send(Frame::Typing).await?,
            Some(SessionCmd::Direct { to, seq, text }) => {
                self.send_direct(&to, seq, text, writer).await?
            }
            Some(SessionCmd::Leave) | None => return Ok(false),
        }
        Ok(true)
    }

    /// The connection ended: what was on its way on it will not be answered. Our direct
    /// messages not yet confirmed are not delivered (the host keeps none); a page of older
    /// history half received is dropped (the front end asks again).
    pub(super) fn link_ended(&mut self) {
        for (seq, peer) in std::mem::take(&mut self.directs_out) {
            self.direct_failed(&peer, seq, Rejection::ConnectionLost);
        }
        self.earlier = None;
    }

    /// Handles one frame from the host; `Some` when it ends the session.
    // A match over the frames a host sends a member: clearest as one list, each arm a call.
    fn on_frame(&mut self, frame: Frame) -> Option<Ended> {
        match frame {
            Frame::Message(message) => self.message_in(message),
            Frame::Earlier {
                before,
                count,
                more,
            } => self.earlier_begins(before, count, more),
            Frame::Page { count, more } if self.history_left == 0 && self.more_history => {
                self.page_begins(count, more)
            }
            Frame::Accepted { seq, id } => {
                self.answered(seq);
                self.tell(SessionEvent::Accepted { seq, id });
            }
            Frame::Rejected { seq, code } => self.rejected(seq, code),
            Frame::DirectSent { seq } => self.direct_sent(seq),
            Frame::DirectFrom { sealed, .. } => self.direct_in(&sealed),
            Frame::MemberJoined(member) => {
                self.name(&member);
                self.tell(SessionEvent::MemberJoined(member))
            }
            // Gone: still named as it was, for a direct message on its way.
            Frame::MemberLeft(member) => self.tell(SessionEvent::MemberLeft(member)),
            Frame::MemberRenamed(member) => {
                self.name(&member);
                self.tell(SessionEvent::MemberRenamed(member))
            }
            Frame::MemberAway { member, away } => {
                self.tell(SessionEvent::MemberAway { member, away })
            }
            Frame::MemberTyping { member } => self.tell(SessionEvent::Typing { member }),
            Frame::Pong | Frame::Unknown => {}
            Frame::Closing { code } => return Some(Ended::Closed(code)),
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
