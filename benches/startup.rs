//! Start-up benchmark: the time from starting lanchat (the release binary, a fresh profile)
//! to its first frame drawn, under Xvfb, against a minimal eframe window started the same way
//! in the same run (the least any egui app of this renderer takes); then each window left
//! idle for a few seconds: its CPU use and its memory. And the binary's size.
//!
//! Run it with `cargo build --profile dist && cargo bench --bench startup` (add `-- --runs N`,
//! 5 by default): it measures the binary the packages ship (target/dist), or, if that has not
//! been built, target/release. Linux only, as root: the windows run inside a network namespace the bench makes
//! (lanchat's discovery would otherwise speak mDNS on this machine's network), drawing on an
//! Xvfb display the bench starts (apt-get install xvfb; software rendering, as on a machine
//! without a GPU driver). Prints SKIPPED otherwise. No timing is asserted.
//!
//! "First frame drawn" is when the app says so on stderr (`LANCHAT_FIRST_FRAME=1`): at the
//! start of the pass after the first one, which begins once the first has been painted.

#[cfg(target_os = "linux")]
#[path = "../tests/support/netns.rs"]
mod netns;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--child-hello") {
        return hello();
    }
    #[cfg(target_os = "linux")]
    linux::main(&args);
    #[cfg(not(target_os = "linux"))]
    println!("startup: SKIPPED: needs Linux (network namespaces and Xvfb)");
}

/// The baseline: an eframe window with one label, saying when its first frame is drawn.
fn hello() {
    struct Hello {
        passes: u32,
    }
    impl eframe::App for Hello {
        fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
            self.passes += 1;
            match self.passes {
                1 => ui.ctx().request_repaint(),
                2 => eprintln!("hello: first frame drawn"),
                _ => {}
            }
            egui::CentralPanel::default().show(ui, |ui| ui.label("Hello"));
        }
    }
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default().with_inner_size([980.0, 640.0]),
        ..Default::default()
    };
    let _ = eframe::run_native(
        "hello",
        options,
        Box::new(|_| Ok(Box::new(Hello { passes: 0 }))),
    );
}

#[cfg(target_os = "linux")]
mod linux {
    use super::netns::Lan;
    use std::io::{BufRead, BufReader};
    use std::path::PathBuf;
    use std::process::{Child, Command, Stdio};
    use std::time::{Duration, Instant};

    /// How long each window is left alone before its idle use is measured, and for how long.
    const SETTLE: Duration = Duration::from_secs(2);
    const IDLE: Duration = Duration::from_secs(5);

    /// One start: time to the first frame, then idle CPU (% of one core) and memory (MB).
    struct Start {
        first_frame: Duration,
        cpu: f64,
        rss_mb: f64,
    }

    pub fn main(args: &[String]) {
        let runs: usize = args
            .iter()
            .position(|a| a == "--runs")
            .and_then(|i| args.get(i + 1))
            .and_then(|r| r.parse().ok())
            .unwrap_or(5);
        let me = std::env::current_exe().expect("current_exe");
        // The shipped binary (profile `dist`) if it has been built, else the release one.
        let target = me
            .ancestors()
            .nth(3)
            .expect("target/<profile>/deps/<bench>");
        let Some(lanchat) = ["dist", "release"]
            .iter()
            .map(|profile| target.join(profile).join("lanchat"))
            .find(|p| p.exists())
        else {
            return println!(
                "startup: SKIPPED: no lanchat binary — run `cargo build --profile dist` first"
            );
        };
        if Command::new("Xvfb").arg("-help").output().is_err() {
            return println!("startup: SKIPPED: no Xvfb (apt-get install xvfb)");
        }
        let lan = match Lan::try_new(1) {
            Ok(lan) => lan,
            Err(e) => return println!("startup: SKIPPED: needs a network namespace: {e}"),
        };
        let display = 47;
        let mut xvfb = Command::new("Xvfb")
            .arg(format!(":{display}"))
            .args(["-screen", "0", "1280x800x24", "-nolisten", "tcp"])
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb");
        let socket = PathBuf::from(format!("/tmp/.X11-unix/X{display}"));
        let ready = Instant::now();
        while !socket.exists() && ready.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let size = std::fs::metadata(&lanchat).map(|m| m.len()).unwrap_or(0);
        println!(
            "startup: {runs} starts each under Xvfb (software rendering), in a network namespace"
        );
        println!(
            "binary: {} ({:.1} MB)",
            lanchat.display(),
            size as f64 / 1e6
        );

        let (mut hello, mut ours) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            let mut command = lan.command(1, &me);
            command.arg("--child-hello");
            hello.push(measure(command, display, "hello: first frame drawn"));
            let dir = tempfile::tempdir().unwrap();
            let mut command = lan.command(1, &lanchat);
            command
                .arg("--data-dir")
                .arg(dir.path())
                .env("LANCHAT_FIRST_FRAME", "1");
            ours.push(measure(command, display, "lanchat: first frame drawn"));
        }
        let _ = xvfb.kill();
        let _ = xvfb.wait();

        println!();
        println!(
            "window            | first frame p50 |     max | idle CPU (1 core) | memory (RSS)"
        );
        println!("------------------------------------------------------------------------------");
        for (name, starts) in [("minimal eframe", &hello), ("lanchat", &ours)] {
            let starts: Vec<&Start> = starts.iter().flatten().collect();
            if starts.is_empty() {
                println!("{name:17} | did not start");
                continue;
            }
            let mut times: Vec<f64> = starts
                .iter()
                .map(|s| s.first_frame.as_secs_f64() * 1e3)
                .collect();
            times.sort_by(f64::total_cmp);
            let median = |mut v: Vec<f64>| {
                v.sort_by(f64::total_cmp);
                v[v.len() / 2]
            };
            println!(
                "{name:17} | {:>12.0} ms | {:>4.0} ms | {:>15.1} % | {:>9.0} MB",
                times[times.len() / 2],
                times[times.len() - 1],
                median(starts.iter().map(|s| s.cpu).collect()),
                median(starts.iter().map(|s| s.rss_mb).collect()),
            );
        }
        println!("goals: lanchat's first frame < 400 ms, idle CPU 0 %, memory < 120 MB");
    }

    /// Starts `command` on the display, waits for `line` on its stderr, lets it idle, and
    /// measures it; then stops it.
    fn measure(mut command: Command, display: u32, line: &str) -> Option<Start> {
        command
            .env("DISPLAY", format!(":{display}"))
            .env_remove("WAYLAND_DISPLAY")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let started = Instant::now();
        let mut child = command.spawn().expect("spawn a window");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let wanted = line.to_owned();
        std::thread::spawn(move || {
            for text in BufReader::new(stderr).lines().map_while(Result::ok) {
                if text.contains(&wanted) {
                    let _ = tx.send(Instant::now());
                }
            }
        });
        let first = rx.recv_timeout(Duration::from_secs(30)).ok();
        let result = first.map(|at| {
            std::thread::sleep(SETTLE);
            let before = cpu_ticks(&child);
            std::thread::sleep(IDLE);
            let after = cpu_ticks(&child);
            // SAFETY: sysconf has no preconditions.
            let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
            Start {
                first_frame: at - started,
                cpu: 100.0 * (after.saturating_sub(before)) as f64 / hz / IDLE.as_secs_f64(),
                rss_mb: rss_kb(&child) as f64 / 1e3,
            }
        });
        stop(&mut child);
        result
    }

    /// User and system time the process has used so far, in clock ticks.
    fn cpu_ticks(child: &Child) -> u64 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", child.id())).unwrap_or_default();
        let fields: Vec<u64> = stat
            .rsplit_once(')')
            .map(|(_, rest)| {
                rest.split_whitespace()
                    .map(|f| f.parse().unwrap_or(0))
                    .collect()
            })
            .unwrap_or_default();
        fields.get(11).copied().unwrap_or(0) + fields.get(12).copied().unwrap_or(0)
    }

    /// The process's resident memory, in kB.
    fn rss_kb(child: &Child) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", child.id()))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }

    /// Asks the window to close (SIGTERM), and kills it if it has not within a few seconds.
    fn stop(child: &mut Child) {
        // SAFETY: kill has no memory preconditions; the pid is our live child.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let until = Instant::now() + Duration::from_secs(3);
        while Instant::now() < until {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}
