//! One headless `lanchat` process inside a namespace of a test's LAN (see `netns.rs`): its
//! stdout JSON lines as events to wait for, its stderr kept for failure messages.

#![allow(dead_code)]

use crate::netns::Hosts;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long anything that should happen may take before the test fails.
const PATIENCE: Duration = Duration::from_secs(20);

pub fn deadline() -> Instant {
    Instant::now() + PATIENCE
}

unsafe extern "C" {
    /// kill(2), declared here to avoid a dependency for one call.
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

pub const SIGTERM: i32 = 15;
pub const SIGKILL: i32 = 9;

/// Sends `sig` to process `pid`; false if it could not be sent.
pub fn signal(pid: i32, sig: i32) -> bool {
    // SAFETY: kill has no memory preconditions.
    unsafe { libc_kill(pid, sig) == 0 }
}

/// One `lanchat` process inside a namespace: its stdout JSON lines as events, its stderr
/// kept for failure messages, killed on drop so no process outlives a failing test.
pub struct Proc {
    /// A label for messages, e.g. "Bob (ns2)".
    pub label: String,
    pub child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<Value>,
    /// Every event seen so far, in order.
    pub seen: Vec<Value>,
    /// Which of `seen` an `expect` already matched (each event matches once).
    pub used: Vec<bool>,
    /// True once stdout reached its end (the process is gone).
    closed: bool,
    stderr: Arc<Mutex<String>>,
    stderr_reader: Option<JoinHandle<()>>,
    started: Instant,
}

impl Proc {
    /// Runs `lanchat --data-dir DIR ARGS...` inside host `host` of `lan`.
    pub fn spawn(
        lan: &impl Hosts,
        host: usize,
        label: &str,
        data_dir: &std::path::Path,
        args: &[&str],
    ) -> Proc {
        let mut cmd = std::process::Command::new("ip");
        cmd.args(["netns", "exec", lan.ns(host), env!("CARGO_BIN_EXE_lanchat")]);
        cmd.arg("--data-dir")
            .arg(data_dir)
            .arg("-v")
            .args(args)
            .env_remove("LANCHAT_DATA_DIR")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawning lanchat via ip netns exec");
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // A line that is not JSON breaks the contract: keep it to show it.
                let value = serde_json::from_str(&line)
                    .unwrap_or_else(|_| serde_json::json!({ "event": "NOT-JSON", "line": line }));
                if tx.send(value).is_err() {
                    break;
                }
            }
        });
        let stderr_text = Arc::new(Mutex::new(String::new()));
        let sink = stderr_text.clone();
        let stderr_reader = std::thread::spawn(move || {
            let mut stderr = stderr;
            let mut buf = [0u8; 4096];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Proc {
            label: format!("{label} (ns{host})"),
            stdin: child.stdin.take(),
            child,
            lines,
            seen: Vec::new(),
            used: Vec::new(),
            closed: false,
            stderr: stderr_text,
            stderr_reader: Some(stderr_reader),
            started: Instant::now(),
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Moves one event from the channel into `seen`; false at the deadline or end of output.
    pub fn pull(&mut self, until: Instant) -> bool {
        if self.closed {
            return false;
        }
        match self
            .lines
            .recv_timeout(until.saturating_duration_since(Instant::now()))
        {
            Ok(value) => {
                self.seen.push(value);
                self.used.push(false);
                true
            }
            Err(RecvTimeoutError::Timeout) => false,
            Err(RecvTimeoutError::Disconnected) => {
                self.closed = true;
                false
            }
        }
    }

    /// Waits for the first not yet matched event that satisfies `pred`, and returns it; on
    /// timeout (or if the process ends first) panics with everything seen and the stderr.
    pub fn expect(&mut self, what: &str, until: Instant, pred: impl Fn(&Value) -> bool) -> Value {
        let mut next = 0;
        loop {
            while next < self.seen.len() {
                if !self.used[next] && pred(&self.seen[next]) {
                    self.used[next] = true;
                    return self.seen[next].clone();
                }
                next += 1;
            }
            if !self.pull(until) {
                let why = if self.closed {
                    "its output ended"
                } else {
                    "timed out"
                };
                self.fail(&format!("expected {what}, but {why}"));
            }
        }
    }

    /// Waits for an event with `"event": kind` whose fields include every pair in `fields`.
    pub fn expect_event(&mut self, kind: &str, fields: &[(&str, &str)], until: Instant) -> Value {
        let what = format!("{kind} {fields:?}");
        self.expect(&what, until, |v| {
            v["event"] == kind && fields.iter().all(|(k, want)| v[*k] == *want)
        })
    }

    /// Makes every event seen so far unmatchable, so the next `expect` only matches what
    /// comes after them (e.g. a "left" after this point, not an earlier one).
    pub fn mark(&mut self) {
        while let Ok(value) = self.lines.try_recv() {
            self.seen.push(value);
            self.used.push(false);
        }
        self.used.iter_mut().for_each(|u| *u = true);
    }

    pub fn write_line(&mut self, text: &str) {
        let stdin = self.stdin.as_mut().expect("stdin is still open");
        if let Err(e) = writeln!(stdin, "{text}").and_then(|()| stdin.flush()) {
            self.fail(&format!("writing {text:?} to stdin failed: {e}"));
        }
    }

    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    pub fn terminate(&mut self) {
        // The pid is our own live child (not yet waited for, so it cannot have been reused).
        if !signal(self.pid(), SIGTERM) {
            self.fail(&format!(
                "kill -TERM failed: {}",
                std::io::Error::last_os_error()
            ));
        }
    }

    /// Waits for the process to exit (collecting its remaining output) and returns its status.
    pub fn wait_exit(&mut self, until: Instant) -> ExitStatus {
        while self.pull(until) {}
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    // Its stderr is complete once it has exited.
                    if let Some(reader) = self.stderr_reader.take() {
                        let _ = reader.join();
                    }
                    return status;
                }
                Ok(None) if Instant::now() < until => {
                    // Its stdout is closed, so it is exiting: poll briefly.
                    std::thread::sleep(Duration::from_millis(10));
                }
                Ok(None) => self.fail("expected it to exit, but it is still running"),
                Err(e) => self.fail(&format!("waiting for it failed: {e}")),
            }
        }
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    pub fn fail(&mut self, why: &str) -> ! {
        // Let the last lines of a dying process arrive before showing them.
        while self.pull(Instant::now() + Duration::from_millis(200)) {}
        let seen: Vec<String> = self.seen.iter().map(Value::to_string).collect();
        panic!(
            "{}: {why} (after {:.1}s)\n--- stdout events ---\n{}\n--- stderr ---\n{}",
            self.label,
            self.started.elapsed().as_secs_f64(),
            seen.join("\n"),
            self.stderr()
        );
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stdin = None;
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// A fresh data dir per process (or per host that must keep its room across runs).
pub fn data_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("making a temp dir")
}

/// Runs a headless command to its end and returns it, for its events, stderr and status.
pub fn run_to_end(
    lan: &impl Hosts,
    host: usize,
    label: &str,
    dir: &std::path::Path,
    args: &[&str],
) -> (Proc, ExitStatus) {
    let mut p = Proc::spawn(lan, host, label, dir, args);
    p.close_stdin();
    let status = p.wait_exit(deadline());
    (p, status)
}
