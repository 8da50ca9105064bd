//! A hosted room's history: one JSON line per message, appended by a writer thread, of which
//! only the tail is read back (a room with a million messages opens as fast as a new one).

use crate::protocol::{ChatMessage, HISTORY_TAIL};
use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::mpsc;

/// Called with a problem the hosting user should hear of (e.g. the history cannot be saved).
pub type ProblemSink = std::sync::Arc<dyn Fn(String) + Send + Sync>;

/// The part of a room's history the host keeps in memory.
#[derive(Debug, Default)]
pub struct History {
    /// The newest messages, oldest first, at most [`HISTORY_TAIL`].
    tail: VecDeque<ChatMessage>,
    /// The id the next message gets: one past the newest ever stored.
    next_id: u64,
}

impl History {
    /// Reads the tail of the history file (creating it if needed) and starts its writer,
    /// which tells `problems` if it cannot write. Blocking: call it off the async threads.
    /// Damaged lines, and lines a member could not accept, are skipped with a warning.
    pub fn open(
        path: &Path,
        problems: Option<ProblemSink>,
    ) -> io::Result<(History, HistoryWriter)> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)?;
        let (lines, ends_cleanly) = read_tail_lines(&mut file, HISTORY_TAIL)?;
        if !ends_cleanly {
            // A crash cut the last line short: end it, so the next line stands alone.
            file.write_all(b"\n")?;
        }
        let mut history = History::default();
        for line in lines {
            let msg = serde_json::from_slice::<ChatMessage>(&line)
                .map_err(|e| e.to_string())
                .and_then(|m| m.validate().map(|()| m));
            match msg {
                Ok(msg) => history.push(msg),
                Err(e) => tracing::warn!("skipping a damaged line in {}: {e}", path.display()),
            }
        }
        Ok((
            history,
            HistoryWriter::start(file, path.display().to_string(), problems),
        ))
    }

    /// The id for a new message.
    pub fn next_id(&self) -> u64 {
        self.next_id
    }

    /// Adds a message to the in-memory tail.
    pub fn push(&mut self, msg: ChatMessage) {
        self.next_id = self.next_id.max(msg.id.saturating_add(1));
        if self.tail.len() == HISTORY_TAIL {
            self.tail.pop_front();
        }
        self.tail.push_back(msg);
    }

    /// The kept messages newer than `since`, oldest first.
    pub fn after(&self, since: Option<u64>) -> impl Iterator<Item = &ChatMessage> {
        self.tail
            .iter()
            .filter(move |m| since.is_none_or(|s| m.id > s))
    }
}

/// Reads up to `n` complete last lines. Also says whether the file ends with a newline.
fn read_tail_lines(file: &mut File, n: usize) -> io::Result<(Vec<Vec<u8>>, bool)> {
    const BLOCK: u64 = 64 * 1024;
    let len = file.seek(SeekFrom::End(0))?;
    let mut pos = len;
    // Blocks read so far, last first, and the newlines in them.
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    let mut newlines = 0;
    // Read backwards until there are n+1 newlines (n whole lines) or the start.
    while pos > 0 && newlines <= n {
        let step = BLOCK.min(pos);
        pos -= step;
        file.seek(SeekFrom::Start(pos))?;
        let mut block = vec![0; step as usize];
        file.read_exact(&mut block)?;
        newlines += block.iter().filter(|&&b| b == b'\n').count();
        blocks.push(block);
    }
    let buf: Vec<u8> = blocks.into_iter().rev().flatten().collect();
    let ends_cleanly = buf.last().is_none_or(|&b| b == b'\n');
    let mut lines: Vec<Vec<u8>> = buf
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    if pos > 0 && !lines.is_empty() {
        lines.remove(0); // may be the end of a line that started before `pos`
    }
    if !ends_cleanly {
        lines.pop(); // torn by a crash
    }
    let skip = lines.len().saturating_sub(n);
    Ok((lines.split_off(skip), ends_cleanly))
}

/// Appends messages to the history file on a thread of its own, so a slow disk never
/// holds up a room. Each queued message is written; the file is flushed whenever the queue
/// runs dry.
pub struct HistoryWriter {
    /// Messages to append; dropping it tells the thread to finish.
    tx: mpsc::Sender<ChatMessage>,
    /// The writer thread; its result is the first write error, if any.
    thread: std::thread::JoinHandle<io::Result<()>>,
}

impl HistoryWriter {
    fn start(file: File, name: String, problems: Option<ProblemSink>) -> Self {
        let (tx, rx) = mpsc::channel::<ChatMessage>();
        let thread = std::thread::Builder::new()
            .name("history-writer".into())
            .spawn(move || {
                let mut out = BufWriter::new(file);
                let written = (|| {
                    while let Ok(first) = rx.recv() {
                        for msg in std::iter::once(first).chain(rx.try_iter()) {
                            serde_json::to_writer(&mut out, &msg)?;
                            out.write_all(b"\n")?;
                        }
                        out.flush()?;
                    }
                    out.into_inner().map_err(|e| e.into_error())?.sync_all()
                })();
                match (written, &problems) {
                    (Err(e), Some(problems)) => {
                        // Said now, while the room runs, so the host can make room on the disk.
                        problems(format!("Messages are no longer saved to {name}: {e}"));
                        Ok(())
                    }
                    (written, _) => written,
                }
            })
            .expect("spawning a thread");
        Self { tx, thread }
    }

    /// Queues a message for appending.
    pub fn append(&self, msg: ChatMessage) {
        // A failed thread has kept its error for `close`.
        let _ = self.tx.send(msg);
    }

    /// Writes what is queued, syncs the file and stops. Blocking.
    pub fn close(self) -> io::Result<()> {
        drop(self.tx);
        self.thread
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("history writer panicked")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::DeviceId;

    fn msg(id: u64) -> ChatMessage {
        ChatMessage {
            id,
            ts: 1_700_000_000_000 + id as i64,
            from: "Ada".into(),
            device: DeviceId::parse("d1").unwrap(),
            text: format!("message number {id}"),
            file: None,
        }
    }

    #[test]
    fn keeps_the_tail_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("room/history.jsonl");
        let (mut h, w) = History::open(&path, None).unwrap();
        assert_eq!(h.next_id(), 0);
        for id in 0..(HISTORY_TAIL as u64 + 700) {
            h.push(msg(id));
            w.append(msg(id));
        }
        w.close().unwrap();

        let (h2, w2) = History::open(&path, None).unwrap();
        w2.close().unwrap();
        let ids: Vec<u64> = h2.after(None).map(|m| m.id).collect();
        assert_eq!(ids.len(), HISTORY_TAIL);
        assert_eq!(ids.first(), Some(&700));
        assert_eq!(h2.next_id(), HISTORY_TAIL as u64 + 700);
        assert_eq!(h2.after(Some(1195)).count(), 4);
    }

    #[test]
    fn torn_and_damaged_lines_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.jsonl");
        let mut text = Vec::new();
        for id in 0..3 {
            serde_json::to_writer(&mut text, &msg(id)).unwrap();
            text.push(b'\n');
        }
        // Lines no member could accept are as bad as garbage.
        let mut too_long = msg(9);
        too_long.text = "x".repeat(crate::protocol::MAX_TEXT_BYTES + 1);
        serde_json::to_writer(&mut text, &too_long).unwrap();
        text.push(b'\n');
        text.extend_from_slice(b"garbage line\n{\"id\":3,\"ts\":");
        std::fs::write(&path, &text).unwrap();

        let (mut h, w) = History::open(&path, None).unwrap();
        assert_eq!(
            h.after(None).map(|m| m.id).collect::<Vec<_>>(),
            vec![0, 1, 2]
        );
        h.push(msg(3));
        w.append(msg(3));
        w.close().unwrap();
        let (h, w) = History::open(&path, None).unwrap();
        w.close().unwrap();
        assert_eq!(
            h.after(None).map(|m| m.id).collect::<Vec<_>>(),
            vec![0, 1, 2, 3]
        );
    }
}
