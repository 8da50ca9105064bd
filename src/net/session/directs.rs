//! Direct messages through the room's host: ours sealed for the recipient's key, theirs
//! opened and named by the key that sealed them.

use super::{Rejection, Run, SessionEvent};
use crate::net::identity::PublicKey;
use crate::net::link::{LinkError, LinkWriter};
use crate::net::sealed;
use crate::net::trust::Known;
use crate::protocol::{DeviceId, DirectBody, Frame, Member};
use crate::store::{Direct, Sent};

impl Run {
    /// Sends a direct message to `to` through the host, sealed for its key; one that cannot
    /// be sealed is told as failed, and the link stays.
    pub(super) async fn send_direct(
        &mut self,
        to: &Member,
        seq: u64,
        text: String,
        writer: &mut LinkWriter,
    ) -> Result<(), LinkError> {
        let Some(d) = self.direct_out(to, seq, text) else {
            return Ok(());
        };
        match self.seal(to, &d) {
            Ok(sealed) => {
                self.directs_out.insert(seq, d.peer.clone());
                let frame = Frame::Direct {
                    to: to.id,
                    seq,
                    sealed,
                };
                writer.send(frame).await?;
            }
            Err(reason) => self.direct_failed(&d.peer, seq, reason),
        }
        Ok(())
    }

    /// The host handed our direct message `seq` to its recipient's connection.
    pub(super) fn direct_sent(&mut self, seq: u64) {
        if let Some(peer) = self.directs_out.remove(&seq) {
            if let Some(store) = &self.config.directs {
                store.sent(&peer, seq, Sent::Delivered);
            }
            self.tell(SessionEvent::DirectSent { peer, seq });
        }
    }

    /// Notes what the host calls a member: what a direct message from its key is named.
    pub(super) fn name(&mut self, member: &Member) {
        self.names
            .insert(member.device.clone(), member.name.clone());
    }

    /// A direct message of ours, written: kept and shown as sending. `None` if it cannot
    /// be sent at all (it was said why).
    pub(super) fn direct_out(&mut self, to: &Member, seq: u64, text: String) -> Option<Direct> {
        let d = Direct {
            peer: to.device.clone(),
            peer_name: to.name.clone(),
            claimed: None,
            outgoing: true,
            seq,
            ts: crate::protocol::now_ms(),
            text,
            room: self.config.room.clone(),
            state: Sent::Sending,
        };
        if let Some(store) = &self.config.directs {
            store.keep(&d);
        }
        self.tell(SessionEvent::Direct(d.clone()));
        Some(d)
    }

    /// Seals a direct message for `to`, whose key must be the one its device id is made of,
    /// and the one its name had when we first wrote to or heard from them.
    fn seal(&self, to: &Member, d: &Direct) -> Result<Vec<u8>, Rejection> {
        let key = to
            .key
            .filter(|key| key.device() == to.device)
            .ok_or(Rejection::KeyUnknown)?;
        match self.meet(&to.name, key) {
            Known::Changed { pinned } => {
                return Err(Rejection::KeyChanged {
                    name: to.name.clone(),
                    then: pinned.fingerprint(),
                    now: key.fingerprint(),
                });
            }
            Known::New | Known::Same { .. } | Known::Renamed { .. } => {}
        }
        let body = DirectBody {
            seq: d.seq,
            ts: d.ts,
            name: self.config.name.clone(),
            text: d.text.clone(),
        };
        let unsealed = |e: String| Rejection::NotSealed(e);
        let payload = rmp_serde::to_vec_named(&body).map_err(|e| unsealed(e.to_string()))?;
        sealed::seal(&self.config.identity, &key, &self.config.room, &payload)
            .map_err(|e| unsealed(e.to_string()))
    }

    /// What is known of `name` having `key` as we write to them (see [`KnownPeople::meet`]);
    /// a first meeting is kept, and the front end hears of it.
    fn meet(&self, name: &str, key: PublicKey) -> Known {
        let known = self.config.people.meet(name, key);
        if known == Known::New {
            let people = self.config.people.clone();
            tokio::task::spawn_blocking(move || {
                if let Err(e) = people.save() {
                    tracing::warn!("could not save the people met: {e}");
                }
            });
            self.tell(SessionEvent::People(self.config.people.all()));
        }
        known
    }

    /// Our direct message `seq` to `peer` was not delivered: kept as failed, in the words
    /// the person reads later too, and told.
    pub(super) fn direct_failed(&mut self, peer: &DeviceId, seq: u64, reason: Rejection) {
        if let Some(store) = &self.config.directs {
            store.sent(peer, seq, Sent::Failed(reason.to_string()));
        }
        self.tell(SessionEvent::DirectFailed {
            peer: peer.clone(),
            seq,
            reason,
        });
    }

    /// A direct message relayed to us: opened, checked, kept and shown. One that cannot be
    /// opened or read costs nothing else.
    pub(super) fn direct_in(&mut self, sealed: &[u8]) {
        let opened = sealed::open(&self.config.identity, &self.config.room, sealed)
            .map_err(|e| e.to_string())
            .and_then(|(key, payload)| {
                let body: DirectBody =
                    rmp_serde::from_slice(&payload).map_err(|e| e.to_string())?;
                body.validate().map_err(|e| e.to_string())?;
                Ok((key, body))
            });
        let (key, body) = match opened {
            Ok(opened) => opened,
            Err(e) => {
                return tracing::warn!("a direct message in {} was dropped: {e}", self.config.room);
            }
        };
        // Named by its key: as the room lists that key, or as we first met it. Nothing is
        // pinned by a message received (see `KnownPeople::check`).
        let listed = self.names.get(&key.device()).cloned();
        let name = listed
            .or_else(|| self.config.people.name_of(&key))
            .unwrap_or_else(|| format!("someone outside {}", self.config.room));
        let claimed = (body.name != name).then_some(body.name);
        if let Some(claimed) = &claimed {
            tracing::warn!("a direct message from {name} gave the name {claimed:?}");
        }
        let d = Direct {
            peer: key.device(),
            peer_name: name,
            claimed,
            outgoing: false,
            seq: body.seq,
            ts: body.ts,
            text: body.text,
            room: self.config.room.clone(),
            state: Sent::Delivered,
        };
        if let Some(store) = &self.config.directs {
            store.keep(&d);
        }
        self.tell(SessionEvent::Direct(d));
    }
}
