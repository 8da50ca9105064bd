//! One member's connection: the password exchange of a locked room, the join, then a reader
//! that hands the member's frames to the room and a writer task that sends what the room
//! queued for it, within a budget in frames and in bytes.
//!
//! Reading and writing a member's socket are separate tasks, so a member that stops reading
//! never stops the host from reading it (and two full send buffers cannot wait on each other),
//! and every write has a deadline.

use super::accept::{Conn, HandshakePlaces};
use super::address_key;
use super::room::{Joining, RoomCmd};
use crate::net::link::{Link, LinkReader, LinkWriter};
use crate::net::password::{HostAnswer, RoomSecret};
use crate::protocol::{Frame, Hello, MemberId, ProtocolError, Refusal, RefuseCode};
use bytes::Bytes;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Frames queued for one member before it counts as too slow and is dropped (besides the
/// bytes, `Limits::member_queue_bytes`).
const MEMBER_QUEUE: usize = 2048;

/// One member's queue of encoded frames, capped in frames and in bytes: a member that stops
/// reading costs the host at most that much before it is dropped.
#[derive(Clone)]
pub(super) struct Outbox {
    /// To the member's writer task; capped at [`MEMBER_QUEUE`] frames.
    pub(super) frames: mpsc::Sender<Bytes>,
    /// Bytes queued and not yet written, for this member and for its machine; the writer
    /// takes off what it wrote.
    pub(super) bytes: Arc<Queued>,
    /// The member's byte budget (`Limits::member_queue_bytes`).
    pub(super) limit: usize,
}

/// What is queued for one member, and for all the members of its machine together.
#[derive(Default)]
pub(super) struct Queued {
    /// Queued for this member.
    pub(super) member: AtomicUsize,
    /// Shared by the members of one machine (set at the join, when the machine is known),
    /// with that machine's limit.
    pub(super) machine: std::sync::OnceLock<(Arc<AtomicUsize>, usize)>,
}

impl Queued {
    /// `len` bytes were written: no longer held.
    pub(super) fn written(&self, len: usize) {
        self.member.fetch_sub(len, Ordering::Relaxed);
        if let Some((machine, _)) = self.machine.get() {
            machine.fetch_sub(len, Ordering::Relaxed);
        }
    }
}

/// Why a frame was not queued.
#[derive(Debug)]
pub(super) enum Unqueued {
    /// Over the member's budget: it is too slow.
    Full,
    /// Its session has ended.
    Closed,
}

impl Outbox {
    pub(super) fn new(limit: usize) -> (Outbox, mpsc::Receiver<Bytes>, Arc<Queued>) {
        let (frames, rx) = mpsc::channel(MEMBER_QUEUE);
        let bytes = Arc::new(Queued::default());
        let outbox = Outbox {
            frames,
            bytes: bytes.clone(),
            limit,
        };
        (outbox, rx, bytes)
    }

    /// Counts this member's queue with the other members of its machine, against `limit`.
    pub(super) fn share_machine(&self, together: Arc<AtomicUsize>, limit: usize) {
        let _ = self.bytes.machine.set((together, limit));
    }

    /// Bytes queued for this member now.
    pub(super) fn queued(&self) -> usize {
        self.bytes.member.load(Ordering::Relaxed)
    }

    pub(super) fn push(&self, frame: Bytes) -> Result<(), Unqueued> {
        let len = frame.len();
        if self.queued() + len > self.limit {
            return Err(Unqueued::Full);
        }
        let machine = self.bytes.machine.get();
        if let Some((machine, limit)) = machine
            && machine.load(Ordering::Relaxed) + len > *limit
        {
            return Err(Unqueued::Full);
        }
        // Counted before it is sent, so the writer never takes off bytes not yet added.
        self.bytes.member.fetch_add(len, Ordering::Relaxed);
        if let Some((machine, _)) = machine {
            machine.fetch_add(len, Ordering::Relaxed);
        }
        let unqueued = match self.frames.try_send(frame) {
            Ok(()) => return Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => Unqueued::Full,
            Err(mpsc::error::TrySendError::Closed(_)) => Unqueued::Closed,
        };
        self.bytes.written(len);
        Err(unqueued)
    }
}

impl Drop for Queued {
    /// The session is over (its outbox and writer are gone): what was still queued for it is
    /// dropped with the channel, and no longer counts against its machine.
    fn drop(&mut self) {
        if let Some((machine, _)) = self.machine.get() {
            machine.fetch_sub(*self.member.get_mut(), Ordering::Relaxed);
        }
    }
}

impl Conn {
    /// A member: the password (in a locked room), the join, then its frames until it ends.
    pub(super) async fn serve_member(
        self,
        mut link: Link,
        hello: Hello,
        places: Option<HandshakePlaces>,
        deadline: Instant,
    ) {
        let peer = self.peer;
        if let Some(secret) = &self.shared.password {
            let checked = tokio::select! {
                _ = self.token.cancelled() => return, // its place was given to another
                checked = self.check_password(&mut link, &hello, secret, deadline) => checked,
            };
            if let Err(refusal) = checked {
                tracing::info!("{peer}: not let in: {refusal:?}");
                return link.answer_and_close(refusal).await;
            }
        }
        // Through its handshake: from here its token only ends its session, and a place
        // taken from it a moment ago ends it before it joins, never after.
        drop(places);
        if self.token.is_cancelled() {
            return;
        }
        let (out, out_rx, queued) = Outbox::new(self.shared.limits.member_queue_bytes);
        let (reply_tx, reply_rx) = oneshot::channel();
        let (name, passing) = (hello.name.clone(), hello.passing);
        let joining = Joining {
            hello,
            key: link.remote,
            address: address_key(peer.ip()),
            conn: self.id,
            out,
            kick: self.token.clone(),
        };
        let join = RoomCmd::Join {
            joining,
            reply: reply_tx,
        };
        if self.room.send(join).await.is_err() {
            return; // the room is closing
        }
        let member = match reply_rx.await {
            Ok(Ok(id)) => id,
            Ok(Err(refusal)) => {
                tracing::info!("{peer}: not let in: {refusal:?}");
                return link.answer_and_close(*refusal).await;
            }
            Err(_) => return,
        };
        let Link {
            mut reader, writer, ..
        } = link;
        let writing = write_queued(writer, out_rx, queued, self.token.clone(), peer);
        self.tasks.spawn(writing);

        let ended = self.read_member(&mut reader, member, passing).await;
        match &ended {
            Ok(()) => tracing::debug!("{peer} ({name}): session ended"),
            Err(e) => tracing::info!("{peer} ({name}): closing session: {e}"),
        }
        self.token.cancel();
        let _ = self
            .room
            .send(RoomCmd::Leave {
                member,
                conn: self.id,
            })
            .await;
    }

    /// Runs the password exchange of a locked room (see [`crate::net::password`]); a wrong
    /// password, or none, is refused with its code. Tries from one address are slowed down.
    async fn check_password(
        &self,
        link: &mut Link,
        hello: &Hello,
        secret: &RoomSecret,
        deadline: Instant,
    ) -> Result<(), Frame> {
        let refuse = |code| Frame::Refused(Refusal::new(code));
        let Some(message) = &hello.password else {
            return Err(refuse(RefuseCode::Password));
        };
        let key = link.remote.device();
        let attempt = self
            .shared
            .gates
            .guesses
            .begin(
                address_key(self.peer.ip()),
                &key,
                self.is_known(&link.remote),
            )
            .map_err(|(wait, code)| Frame::TryLater {
                after_ms: wait.as_millis() as u64,
                code,
            })?;
        let answer = HostAnswer::new(secret, link.handshake_hash, message)
            .map_err(|_| refuse(RefuseCode::WrongPassword))?;
        let spake = Frame::Spake {
            msg: answer.message.clone(),
            proof: answer.proof.clone(),
        };
        // Whatever happens now counts as a try: only the right proof makes it a right one.
        let unfinished = || refuse(RefuseCode::PasswordUnfinished);
        link.writer.send(spake).await.map_err(|_| unfinished())?;
        match tokio::time::timeout_at(deadline, link.reader.recv()).await {
            Ok(Some(Ok(Frame::Proof { proof }))) if answer.admits(&proof) => {
                attempt.right();
                Ok(())
            }
            Ok(Some(Ok(Frame::Proof { .. }))) => Err(refuse(RefuseCode::WrongPassword)),
            _ => Err(unfinished()),
        }
    }

    /// Reads a member's frames and hands them to the room. A session `passing` through only
    /// posts and keeps its link alive while its files go: anything else it asks of the room
    /// (pages, presence, typing, a rename, a direct message) ends it.
    async fn read_member(
        &self,
        frames: &mut LinkReader,
        member: MemberId,
        passing: bool,
    ) -> Result<(), ProtocolError> {
        let idle_limit = self.shared.timeouts.idle;
        let idle = tokio::time::sleep(idle_limit);
        tokio::pin!(idle);
        loop {
            let frame = tokio::select! {
                _ = self.token.cancelled() => return Ok(()),
                _ = &mut idle => {
                    return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "member went silent").into());
                }
                frame = frames.recv() => match frame {
                    None => return Ok(()),
                    Some(frame) => frame?,
                },
            };
            idle.as_mut().reset(Instant::now() + idle_limit);
            if passing
                && !matches!(
                    frame,
                    Frame::Post { .. } | Frame::Ping | Frame::Bye | Frame::Unknown
                )
            {
                return Err(ProtocolError::OutOfOrder {
                    kind: frame.kind(),
                    context: "from a session passing through",
                });
            }
            let cmd = match frame {
                Frame::Post { seq, text } => RoomCmd::Post { member, seq, text },
                Frame::Ping => RoomCmd::Ping { member },
                Frame::History { after } => RoomCmd::History { member, after },
                Frame::Before { before } => RoomCmd::Before { member, before },
                Frame::Presence { away } => RoomCmd::Presence { member, away },
                Frame::Typing => RoomCmd::Typing { member },
                Frame::Direct { to, seq, sealed } => RoomCmd::Direct {
                    member,
                    to,
                    seq,
                    sealed,
                },
                Frame::Rename { name } => RoomCmd::Rename { member, name },
                Frame::Bye => return Ok(()),
                Frame::Unknown => {
                    tracing::debug!("ignoring a frame kind from a newer version");
                    continue;
                }
                other => {
                    return Err(ProtocolError::OutOfOrder {
                        kind: other.kind(),
                        context: "from a member",
                    });
                }
            };
            if self.room.send(cmd).await.is_err() {
                return Ok(()); // the room is closing
            }
        }
    }
}

/// Writes a member's queued frames, a batch at a time (each encrypted for this member), until
/// the room drops the queue, the connection ends, or a write misses its deadline.
pub(super) async fn write_queued(
    mut writer: LinkWriter,
    mut out: mpsc::Receiver<Bytes>,
    queued: Arc<Queued>,
    token: CancellationToken,
    peer: SocketAddr,
) {
    loop {
        let first = tokio::select! {
            biased;
            _ = token.cancelled() => break,
            first = out.recv() => match first {
                Some(first) => first,
                None => break, // dropped by the room: what was queued is written
            },
        };
        let mut batch = vec![first];
        batch.extend(std::iter::from_fn(|| out.try_recv().ok()));
        let bytes: usize = batch.iter().map(Bytes::len).sum();
        let written = tokio::select! {
            _ = token.cancelled() => break,
            written = writer.send_encoded(batch) => written,
        };
        // Written (into the socket's own buffer): no longer the member's to hold.
        queued.written(bytes);
        if let Err(e) = written {
            tracing::info!("{peer}: closing: {e}");
            break;
        }
    }
    token.cancel(); // ends the reader too
    writer.close().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_an_ended_session_had_queued_no_longer_counts_against_its_machine() {
        let machine = Arc::new(AtomicUsize::new(0));
        let (a, a_rx, a_queued) = Outbox::new(1000);
        let (b, b_rx, b_queued) = Outbox::new(1000);
        for queued in [&a_queued, &b_queued] {
            let _ = queued.machine.set((machine.clone(), 150));
        }
        a.push(Bytes::from_static(&[0; 100])).unwrap();
        assert!(
            matches!(b.push(Bytes::from_static(&[0; 100])), Err(Unqueued::Full)),
            "over the machine's budget"
        );
        assert_eq!(
            machine.load(Ordering::Relaxed),
            100,
            "a refused frame is not counted"
        );
        // `a` ends with its frame never written (its writer cancelled).
        drop((a, a_rx, a_queued));
        assert_eq!(machine.load(Ordering::Relaxed), 0);
        b.push(Bytes::from_static(&[0; 100])).unwrap();
        drop(b_rx);
        assert!(matches!(
            b.push(Bytes::from_static(&[0; 10])),
            Err(Unqueued::Closed)
        ));
        assert_eq!(machine.load(Ordering::Relaxed), 100);
    }
}
