//! One running lanchat per profile. Two copies on one data folder would fight over the same
//! history, keys and settings, so the first locks the folder; a second window started on it
//! knocks on the first (a line over loopback) to bring its window to the front, and exits.
//! A window that was closed says its goodbyes in the background for a few seconds more; a
//! lanchat started meanwhile waits for it instead of knocking on a window that is gone.
//! `--data-dir` gives a second profile, with its own lock.

use crate::bridge::{Event, EventSender};
use crate::store::Paths;
use fs4::fs_std::FileExt;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// What a knock says.
const SHOW: &str = "lanchat show";
/// What a window that came to the front answers.
const SHOWN: &str = "shown";
/// What the port file says while a closed window's process finishes.
const CLOSING: &str = "closing";
/// Longest a new lanchat waits for a closing one to let go of the profile (its shutdown is
/// bounded well within this).
const CLOSING_WAIT: Duration = Duration::from_secs(12);

/// This process's hold on its profile, for as long as it runs.
#[derive(Debug)]
pub struct Instance {
    /// Locked while this process runs; the system lets go when it ends, however it ends.
    _lock: std::fs::File,
    /// Where a second window knocks, if this process has a window to show.
    knocks: Option<TcpListener>,
    /// Holds the knock port for other processes (or [`CLOSING`]); removed at exit.
    port_file: PathBuf,
    /// Set once the window has closed: knocks are no longer answered.
    closed: Arc<AtomicBool>,
}

/// How claiming a profile went.
#[derive(Debug)]
pub enum Claim {
    /// This process has the profile.
    Ours(Instance),
    /// Another process has it; `knocked` if its window was asked to come to the front.
    Taken { knocked: bool },
}

impl Instance {
    /// Claims the profile `paths` names. `window`: this process shows a window, so a later one
    /// may knock on it. Blocking (a few file operations).
    pub fn claim(paths: &Paths, window: bool) -> std::io::Result<Claim> {
        std::fs::create_dir_all(&paths.data)?;
        let lock_path = paths.data.join("lanchat.lock");
        let port_file = paths.data.join("lanchat.port");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&lock_path)?;
        if !lock.try_lock_exclusive()? {
            if window && knock(&port_file) {
                return Ok(Claim::Taken { knocked: true });
            }
            // A window closed a moment ago: it lets go within its goodbye time.
            let closing = std::fs::read_to_string(&port_file).is_ok_and(|s| s.trim() == CLOSING);
            if !(closing && wait_for(&lock, CLOSING_WAIT)?) {
                return Ok(Claim::Taken { knocked: false });
            }
        }
        // Ours: a port file left by a process that ended without cleaning up is stale.
        let _ = std::fs::remove_file(&port_file);
        let knocks = if window {
            let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?;
            std::fs::write(&port_file, listener.local_addr()?.port().to_string())?;
            Some(listener)
        } else {
            None
        };
        Ok(Claim::Ours(Instance {
            _lock: lock,
            knocks,
            port_file,
            closed: Arc::default(),
        }))
    }

    /// The window has closed and this process only finishes its goodbyes: a lanchat started
    /// now waits for it to end instead of knocking.
    pub fn window_closed(&self) {
        // The file first: a knock that is no longer answered then finds it saying so.
        let _ = std::fs::write(&self.port_file, CLOSING);
        self.closed.store(true, Ordering::SeqCst);
    }

    /// Answers knocks from now on, telling the window to come to the front each time.
    pub fn answer_knocks(&mut self, events: EventSender) {
        let Some(listener) = self.knocks.take() else {
            return;
        };
        let closed = self.closed.clone();
        let spawned = std::thread::Builder::new()
            .name("lanchat-knocks".into())
            .spawn(move || {
                for mut stream in listener.incoming().flatten() {
                    if heard_show(&stream) && !closed.load(Ordering::SeqCst) {
                        events.send(Event::Raise);
                        let _ = writeln!(stream, "{SHOWN}");
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::warn!("cannot answer a second window's knock: {e}");
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.port_file);
    }
}

/// Reads one knock, briefly: anything but the knock line (any local program may connect) is
/// ignored.
fn heard_show(stream: &TcpStream) -> bool {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    read_line(stream) == SHOW
}

/// The first line on `stream` (of at most 64 bytes), or nothing.
fn read_line(stream: &TcpStream) -> String {
    let mut line = String::new();
    let _ = BufReader::new(stream.take(64)).read_line(&mut line);
    line.trim_end().to_owned()
}

/// Asks the window of the process holding the profile to come to the front; true once it
/// says it did.
fn knock(port_file: &Path) -> bool {
    let Some(port) = std::fs::read_to_string(port_file)
        .ok()
        .and_then(|p| p.trim().parse::<u16>().ok())
    else {
        return false;
    };
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    writeln!(stream, "{SHOW}").is_ok() && read_line(&stream) == SHOWN
}

/// Takes the lock once the process holding it lets go; false if it still holds it at `limit`.
fn wait_for(lock: &std::fs::File, limit: Duration) -> std::io::Result<bool> {
    let until = Instant::now() + limit;
    while Instant::now() < until {
        std::thread::sleep(Duration::from_millis(50));
        if lock.try_lock_exclusive()? {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A profile in `dir` claimed by a first lanchat, which answers knocks to `front`.
    fn first_claim(dir: &tempfile::TempDir) -> (Paths, Instance, crate::bridge::FrontEnd) {
        let paths = Paths::resolve(Some(dir.path().into())).unwrap();
        let Claim::Ours(mut first) = Instance::claim(&paths, true).unwrap() else {
            panic!("the first claim gets the profile");
        };
        let (front, back) = crate::bridge::channel();
        first.answer_knocks(back.events);
        (paths, first, front)
    }

    #[test]
    fn a_second_claim_on_a_profile_knocks_and_a_first_hears_it() {
        let dir = tempfile::tempdir().unwrap();
        let (paths, first, mut front) = first_claim(&dir);
        let Claim::Taken { knocked } = Instance::claim(&paths, true).unwrap() else {
            panic!("the second claim does not");
        };
        assert!(knocked);
        let raised = (0..200).any(|_| {
            std::thread::sleep(Duration::from_millis(10));
            matches!(front.events.try_recv(), Ok(Event::Raise))
        });
        assert!(raised, "the first window was asked to come forward");

        // Another profile is another lock.
        let other = Paths::resolve(Some(dir.path().join("other"))).unwrap();
        assert!(matches!(
            Instance::claim(&other, false).unwrap(),
            Claim::Ours(_)
        ));

        // Once the first ends, the profile is free again.
        drop(first);
        assert!(matches!(
            Instance::claim(&paths, false).unwrap(),
            Claim::Ours(_)
        ));
    }

    #[test]
    fn a_lanchat_started_while_a_closed_window_says_goodbye_waits_for_it() {
        let dir = tempfile::tempdir().unwrap();
        let (paths, first, mut front) = first_claim(&dir);
        first.window_closed();
        // The first process ends a little later, once its goodbyes are said.
        let ending = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            drop(first);
        });
        let Claim::Ours(_second) = Instance::claim(&paths, true).unwrap() else {
            panic!("the second waited for the closing first and got the profile");
        };
        ending.join().unwrap();
        assert!(
            front.events.try_recv().is_err(),
            "a closed window is not asked to come forward"
        );
    }
}
