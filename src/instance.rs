//! One running lanchat per profile. Two copies on one data folder would fight over the same
//! history, keys and settings, so the first locks the folder; a second window started on it
//! knocks on the first (a line over loopback) to bring its window to the front, and exits.
//! `--data-dir` gives a second profile, with its own lock.

use crate::bridge::{Event, EventSender};
use crate::store::Paths;
use fs4::fs_std::FileExt;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

/// What a knock says.
const SHOW: &str = "lanchat show";

/// This process's hold on its profile, for as long as it runs.
#[derive(Debug)]
pub struct Instance {
    /// Locked while this process runs; the system lets go when it ends, however it ends.
    _lock: std::fs::File,
    /// Where a second window knocks, if this process has a window to show.
    knocks: Option<TcpListener>,
    /// Holds the knock port for other processes; removed at exit.
    port_file: PathBuf,
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
            let knocked = window && knock(&port_file);
            return Ok(Claim::Taken { knocked });
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
        }))
    }

    /// Answers knocks from now on, telling the window to come to the front each time.
    pub fn answer_knocks(&mut self, events: EventSender) {
        let Some(listener) = self.knocks.take() else {
            return;
        };
        let spawned = std::thread::Builder::new()
            .name("lanchat-knocks".into())
            .spawn(move || {
                for stream in listener.incoming().flatten() {
                    if heard_show(stream) {
                        events.send(Event::Raise);
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
fn heard_show(stream: TcpStream) -> bool {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let mut line = String::new();
    let mut reader = BufReader::new(stream.take(64));
    reader.read_line(&mut line).is_ok() && line.trim_end() == SHOW
}

/// Asks the window of the process holding the profile to come to the front.
fn knock(port_file: &std::path::Path) -> bool {
    let Some(port) = std::fs::read_to_string(port_file)
        .ok()
        .and_then(|p| p.trim().parse::<u16>().ok())
    else {
        return false;
    };
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    match TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
        Ok(mut stream) => writeln!(stream, "{SHOW}").is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_claim_on_a_profile_knocks_and_a_first_hears_it() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::resolve(Some(dir.path().into())).unwrap();
        let Claim::Ours(mut first) = Instance::claim(&paths, true).unwrap() else {
            panic!("the first claim gets the profile");
        };
        let (mut front, back) = crate::bridge::channel();
        first.answer_knocks(back.events);
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
}
