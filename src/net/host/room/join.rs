//! Who is in the room: a member's join (its places, its allowance, its welcome and first
//! page of history) and its leave.

use super::*;

/// A member's connection through its hello, asking the room to let it in.
pub(in crate::net::host) struct Joining {
    /// What it says of itself: its name, the room, what history it has.
    pub(in crate::net::host) hello: Hello,
    /// The key the member's link proved: its device, and what direct messages to it are
    /// sealed for.
    pub(in crate::net::host) key: PublicKey,
    /// The machine it connects from (see [`address_key`]), whose allowance it shares.
    pub(in crate::net::host) address: IpAddr,
    /// Which connection it is, so a leave from a replaced one is told apart.
    pub(in crate::net::host) conn: u64,
    /// Its queue, written by its connection's writer task.
    pub(in crate::net::host) out: Outbox,
    /// Ends the member's connection when the room drops it.
    pub(in crate::net::host) kick: CancellationToken,
}

impl Room {
    /// A member through its hello asks to join: admitted (or turned away with a frame that
    /// says why), welcomed with the members and a page of history, then seated and told to
    /// the room.
    pub(super) fn join(&mut self, joining: Joining) -> Result<MemberId, Box<Frame>> {
        let Joining {
            hello,
            key,
            address,
            conn,
            out,
            kick,
        } = joining;
        let device = key.device();
        // The same app run coming back (its old connection not yet timed out) takes its old
        // place: nobody sees it leave and join again.
        let returning = self
            .members
            .iter()
            .find(|(_, s)| {
                // Coming back as the same kind: a passing session never turns into a member
                // unannounced (nor a member into one hidden from the room).
                s.member.device == device && s.resume == hello.resume && s.passing == hello.passing
            })
            .map(|(&id, _)| id);
        self.admit(&hello, &device, returning.is_some())?;
        // Every join costs one of the key's and the machine's, coming back too: each is told
        // to the room, and a reconnect refills nothing.
        if let Err(wait) = self.allowances.join(&device, address) {
            return Err(Box::new(Frame::TryLater {
                after_ms: wait.as_millis() as u64,
                code: WaitCode::JoinsTooOften,
            }));
        }
        let machine = self.allowances.machine(address);
        // What is queued for the members of one machine together has a budget too.
        self.machine_queues.retain(|_, q| Arc::strong_count(q) > 1);
        let together = self.machine_queues.entry(machine).or_default().clone();
        out.share_machine(together, self.config.limits.machine_queue_bytes);
        let id = returning.unwrap_or_else(|| {
            self.next_member += 1;
            self.next_member - 1
        });
        let member = Member {
            id,
            name: hello.name.clone(),
            host: device == self.host_device,
            device,
            away: false,
            key: Some(key),
        };
        self.welcome(&hello, &member, &out)?;
        let slot = Slot {
            member,
            resume: hello.resume,
            conn,
            machine,
            held: VecDeque::new(),
            held_bytes: 0,
            asked_page: None,
            out,
            kick,
            typing_told: None,
            reading: false,
            passing: hello.passing,
        };
        self.seat(slot);
        Ok(id)
    }

    /// Whether a newcomer fits: the room it asks for, its key's sessions, the places for
    /// sessions passing through and for members. One coming back has its place already.
    fn admit(&self, hello: &Hello, device: &DeviceId, returning: bool) -> Result<(), Box<Frame>> {
        let refuse = |refusal: Refusal| Box::new(Frame::Refused(refusal));
        if hello.room != self.config.room {
            return Err(refuse(RefuseCode::WrongRoom.into()));
        }
        if returning {
            return Ok(());
        }
        let limits = &self.config.limits;
        let sessions = self.members.values().filter(|s| &s.member.device == device);
        if sessions.count() >= limits.sessions_per_key {
            let most = limits.sessions_per_key as u64;
            return Err(refuse(Refusal::over(RefuseCode::Sessions, most)));
        }
        let passing = self.members.values().filter(|s| s.passing).count();
        if hello.passing && passing >= limits.passing {
            return Err(refuse(RefuseCode::Passing.into()));
        }
        if !hello.passing && self.present() as usize >= MAX_MEMBERS {
            return Err(refuse(RefuseCode::Full.into()));
        }
        Ok(())
    }

    /// Queues the welcome (who is in the room) and a page of history: what it missed for a
    /// member that knows this epoch, the newest page for any other, nothing of the room for
    /// one passing through. Its own queue is empty and takes them (see `PAGE_BYTES`), but
    /// its machine's may be full: then it is told to come back, rather than wait for a
    /// welcome that is not sent (what was queued goes with the refused session).
    fn welcome(&self, hello: &Hello, member: &Member, out: &Outbox) -> Result<(), Box<Frame>> {
        let (history, more) = match hello.epoch {
            _ if hello.passing => (Vec::new(), false),
            Some(epoch) if epoch == self.history.epoch() => {
                // Older than memory: the member asks for pages, read from disk.
                self.history
                    .page_after(hello.since)
                    .unwrap_or((Vec::new(), true))
            }
            _ => (self.history.newest_page(), false),
        };
        let mut members: Vec<Member> = match hello.passing {
            true => Vec::new(),
            false => self
                .members
                .values()
                .filter(|s| s.member.id != member.id && !s.passing)
                .map(|s| s.member.clone())
                .collect(),
        };
        members.push(member.clone());
        let welcome = Frame::Welcome(Welcome {
            room: self.config.room.clone(),
            room_name: self.config.room_name.clone(),
            host_name: self.config.host_name.clone(),
            you: member.id,
            members,
            epoch: self.history.epoch(),
            history: history.len() as u32,
            more,
        });
        let frames = std::iter::once(welcome).chain(history.into_iter().map(Frame::Message));
        for frame in frames {
            let Ok(bytes) = encode_frame(&frame) else {
                continue; // stored texts are clamped: not reached
            };
            if out.push(bytes).is_err() {
                return Err(Box::new(Frame::TryLater {
                    after_ms: 1000,
                    code: WaitCode::HostBusy,
                }));
            }
        }
        Ok(())
    }

    /// Seats a welcomed member: a newcomer is told to the room, one coming back takes its
    /// old place (its old connection ended) and only what changed is told.
    fn seat(&mut self, slot: Slot) {
        let member = slot.member.clone();
        let id = member.id;
        let mut known = self.known.lock().expect("known keys");
        // Bounded: joins are metered, but a host may run for weeks.
        if known.len() < KNOWN_KEYS {
            known.insert(member.device.clone());
        }
        drop(known);
        match self.members.remove(&id) {
            Some(old) => {
                // Posts it had held back are dropped: it sends them again, in order, on
                // this connection.
                self.holding.remove(&id);
                self.members.insert(id, slot);
                old.kick.cancel();
                // Back on a new connection, present (its app says so again if it is away).
                if old.member.away {
                    self.broadcast(&Frame::MemberAway {
                        member: id,
                        away: false,
                    });
                }
                if old.member.name != member.name {
                    self.broadcast(&Frame::MemberRenamed(member));
                }
                tracing::info!("member {id} is back on a new connection");
            }
            None => {
                let passing = slot.passing;
                self.members.insert(id, slot);
                tracing::info!("{} joined as member {id}", member.name);
                if !passing {
                    self.broadcast_except(id, &Frame::MemberJoined(member));
                    self.count.send_replace(self.present());
                }
            }
        }
    }

    /// A member leaves (or its connection ended): the room is told, unless it only passed
    /// through.
    pub(super) fn leave(&mut self, member: MemberId) {
        self.holding.remove(&member);
        if let Some(slot) = self.members.remove(&member) {
            tracing::info!("{} left", slot.member.name);
            slot.kick.cancel();
            if !slot.passing {
                self.count.send_replace(self.present());
                self.broadcast(&Frame::MemberLeft(slot.member));
            }
        }
    }
}
