//! What members say: posts (metered by their allowance, held back past it), files posted,
//! presence, typing, renames and direct messages, each passed on to the room.

use super::*;

impl Room {
    /// Spends `posts` posts of `bytes` bytes of a member's allowance (its key's and its
    /// machine's), if they allow.
    pub(super) fn spend(&mut self, member: MemberId, posts: f64, bytes: f64) -> bool {
        let Some(slot) = self.members.get(&member) else {
            return false;
        };
        let (key, machine) = (slot.member.device.clone(), slot.machine);
        self.allowances.spend(&key, machine, posts, bytes)
    }

    /// A member's post: stored now, or held back (in order) while the member is over its
    /// allowance, or refused if it has far too many held back.
    pub(super) fn post(&mut self, member: MemberId, seq: u64, text: String) {
        let Some(slot) = self.members.get(&member) else {
            return;
        };
        if slot.held.is_empty() && self.spend(member, 1.0, text.len() as f64) {
            return self.store_post(member, seq, text);
        }
        let held_bytes = self.config.limits.held_bytes;
        let Some(slot) = self.members.get_mut(&member) else {
            return;
        };
        if slot.held.len() < HELD_POSTS && slot.held_bytes + text.len() <= held_bytes {
            slot.held_bytes += text.len();
            slot.held.push_back((seq, text));
            self.holding.insert(member);
            return;
        }
        self.send_to(
            member,
            &Frame::Rejected {
                seq,
                code: TOO_FAST,
            },
        );
    }

    /// Stores a member's post, under its name now, answering it once on disk.
    pub(super) fn store_post(&mut self, member: MemberId, seq: u64, text: String) {
        if let Some(slot) = self.members.get(&member) {
            let (from, device) = (slot.member.name.clone(), slot.member.device.clone());
            let reply = Reply::Post { member, seq };
            self.store(from, device, text, None, Some(seq), reply);
        }
    }

    /// Posts a file, unless the same sender posted the same file lately (a retry). A file is
    /// a post like any other for the sender's limits: re-posting a kept file costs no data,
    /// so it must cost a post.
    pub(super) fn post_file(
        &mut self,
        from: String,
        (device, machine): (DeviceId, IpAddr),
        (file, share): (FileRef, Option<u64>),
        reply: oneshot::Sender<Result<u64, RejectCode>>,
    ) {
        let now = std::time::Instant::now();
        self.recent_files
            .retain(|_, (_, at)| now.duration_since(*at) < RECENT_FILE);
        let key = (device.clone(), file.hash.clone(), file.name.clone(), share);
        if let Some((id, _)) = self.recent_files.get(&key) {
            let _ = reply.send(Ok(*id));
            return;
        }
        // A post like any other, from the sender's key and machine, whether or not it is
        // still in the room.
        if !self.allowances.spend(&device, machine, 1.0, 0.0) {
            let _ = reply.send(Err(TOO_FAST));
            return;
        }
        let text = String::new();
        self.store(
            from,
            device,
            text,
            Some(file),
            None,
            Reply::File { reply, key },
        );
    }

    /// Stores a message: once it is committed everyone hears it, once it is on the disk
    /// `reply` hears its id. `seq` is the sender's number for a post, by which a post sent
    /// again is found.
    pub(super) fn store(
        &mut self,
        from: String,
        device: DeviceId,
        text: String,
        file: Option<FileRef>,
        seq: Option<u64>,
        reply: Reply,
    ) {
        let file_key = match &reply {
            Reply::File { key, .. } => Some(key.clone()),
            _ => None,
        };
        let message = ChatMessage {
            id: self.history.reserve_id(),
            ts: now_ms(),
            from,
            device,
            text,
            file,
        };
        let (early, late) = (self.internal.clone(), self.internal.clone());
        let (written, durable) = (message.clone(), message.clone());
        self.history.store(
            &message,
            seq,
            move |stored| {
                let _ = early.send(Internal::Written {
                    message: written,
                    stored: *stored,
                    file_key,
                });
            },
            move |outcome| {
                let _ = late.send(Internal::Durable(Box::new(Durable {
                    message: durable,
                    outcome,
                    reply,
                })));
            },
        );
    }

    /// Keeps a member's presence and tells the room. Each change costs a post of the
    /// member's allowance: flipping it on purpose is a flood like any other, and is ignored.
    pub(super) fn presence(&mut self, member: MemberId, away: bool) {
        if self
            .members
            .get(&member)
            .is_none_or(|s| s.member.away == away)
            || !self.spend(member, 1.0, 0.0)
        {
            return;
        }
        if let Some(slot) = self.members.get_mut(&member) {
            slot.member.away = away;
            self.broadcast(&Frame::MemberAway { member, away });
        }
    }

    /// Relays a direct message to its recipient, as sealed: this host cannot read it, and
    /// keeps nothing of it. It costs the sender a post of its allowance, like a post.
    pub(super) fn direct(&mut self, member: MemberId, to: MemberId, seq: u64, sealed: Vec<u8>) {
        if !self.members.contains_key(&member) {
            return;
        }
        if !self.spend(member, 1.0, sealed.len() as f64) {
            return self.send_to(
                member,
                &Frame::Rejected {
                    seq,
                    code: TOO_FAST,
                },
            );
        }
        if to == member || self.members.get(&to).is_none_or(|s| s.passing) {
            let code = RejectCode::NotInRoom;
            return self.send_to(member, &Frame::Rejected { seq, code });
        }
        // Confirmed only once queued for the recipient's connection.
        let from = member;
        if self.deliver(to, &Frame::DirectFrom { from, sealed }) {
            self.send_to(member, &Frame::DirectSent { seq });
        } else {
            let code = RejectCode::LeftAsItArrived;
            self.send_to(member, &Frame::Rejected { seq, code });
        }
    }

    /// Tells the others a member is typing, at most every [`TYPING_EVERY`].
    pub(super) fn typing(&mut self, member: MemberId) {
        let now = Instant::now();
        let told_lately = |s: &Slot| {
            s.typing_told
                .is_some_and(|at| now.duration_since(at) < TYPING_EVERY)
        };
        if self.members.get(&member).is_none_or(told_lately)
            || !self.spend(member, TYPING_COST, 0.0)
        {
            return;
        }
        if let Some(slot) = self.members.get_mut(&member) {
            slot.typing_told = Some(now);
            self.broadcast_except(member, &Frame::MemberTyping { member });
        }
    }

    pub(super) fn rename(&mut self, member: MemberId, name: String) {
        if self
            .members
            .get(&member)
            .is_none_or(|s| s.member.name == name)
        {
            return;
        }
        // Every rename is told to everyone: it costs a post.
        if !self.spend(member, 1.0, name.len() as f64) {
            return tracing::info!("member {member}: renaming too fast; ignored");
        }
        let Some(slot) = self.members.get_mut(&member) else {
            return;
        };
        slot.member.name = name;
        if slot.member.host {
            self.config.host_name = slot.member.name.clone();
        }
        let renamed = Frame::MemberRenamed(slot.member.clone());
        self.broadcast(&renamed);
    }

    /// A message's write is committed: the room hears it now (its sender once it is on the
    /// disk). Sent before its sync: lanchat crashing keeps it, and after the machine stops,
    /// the database starts the room's history a new epoch (`mark_open`).
    pub(super) fn written(
        &mut self,
        message: ChatMessage,
        stored: Stored,
        file_key: Option<FileKey>,
    ) {
        if stored == Stored::New {
            let id = message.id;
            self.history.committed(message.clone());
            self.broadcast(&Frame::Message(message));
            if let Some(key) = file_key {
                self.recent_files
                    .insert(key, (id, std::time::Instant::now()));
            }
        }
    }

    /// A message's write is on the disk, or failed: its sender hears which.
    pub(super) fn durable(&mut self, durable: Durable) {
        let Durable {
            message,
            outcome,
            reply,
        } = durable;
        let id = match outcome {
            Ok(Stored::New) => Ok(message.id),
            Ok(Stored::Existing(id)) => Ok(id),
            // A notice that could not be saved (often about the full disk that stopped
            // it) goes to the hosting user: if it failed to commit, no member saw it.
            Err(e) if matches!(reply, Reply::Nobody) => {
                return self.problem(format!(
                    "{}: {} (not saved in the room's history: {e})",
                    self.config.room_name, message.text
                ));
            }
            Err(e) => {
                self.problem(format!(
                    "A message in {} could not be saved: {e}",
                    self.config.room_name
                ));
                Err(RejectCode::NotSaved)
            }
        };
        match reply {
            Reply::Post { member, seq } => {
                let frame = match id {
                    Ok(id) => Frame::Accepted { seq, id },
                    Err(code) => Frame::Rejected { seq, code },
                };
                self.send_to(member, &frame);
            }
            Reply::File { reply, .. } => {
                let _ = reply.send(id);
            }
            Reply::Nobody => {}
        }
    }
}
