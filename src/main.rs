//! `lanchat`: the window, or a headless command. Parses arguments, sets up logging, loads the
//! settings, and hands over to the window or to [`lanchat::headless`].

// On Windows the app is a GUI program, so double-clicking it opens no console window beside it;
// run from a terminal with arguments, it attaches to that terminal's console (see `console`).
#![cfg_attr(windows, windows_subsystem = "windows")]

use clap::{Parser, Subcommand};
use lanchat::discovery::DiscoveryConfig;
use lanchat::headless::{self, Setup};
use lanchat::instance::{Claim, Instance};
use lanchat::net::identity::Identity;
use lanchat::store::{Paths, Settings};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(version, about = "Chat with the people on your local network")]
struct Cli {
    /// Keep settings and history in DIR instead of the system's folders (e.g. for a second profile).
    #[arg(long, global = true, env = "LANCHAT_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Look for rooms only on this network interface (repeatable), for this run. By default the
    /// ones chosen in the window's Network diagnostics are used, or else every interface except
    /// loopback and virtual adapters.
    #[arg(long = "interface", global = true, value_name = "NAME")]
    interfaces: Vec<String>,
    /// More log output on stderr (-v: info, -vv: debug). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Subcommand)]
enum Cmd {
    /// List the rooms on the network as JSON lines.
    Rooms {
        /// How long to look, in seconds.
        #[arg(long, default_value_t = 3.0)]
        wait: f64,
        /// Keep watching until interrupted: print a `room` line when a room appears or
        /// changes and a `room_gone` line when it leaves, as the window's list sees them.
        #[arg(long, conflicts_with = "wait")]
        watch: bool,
    },
    /// Host a room: print what happens in it, send each stdin line to it.
    Host {
        /// The room's name; hosting a name this data dir hosted before reopens that room.
        #[arg(long)]
        room: String,
        /// Display name for this run.
        #[arg(long)]
        name: Option<String>,
        /// Lock the room with this password ("" opens it again). Without it, a room hosted
        /// before keeps its password.
        #[arg(long, env = "LANCHAT_PASSWORD", hide_env_values = true)]
        password: Option<String>,
    },
    /// Join a room: print its history and messages, send each stdin line to it.
    Join {
        #[command(flatten)]
        to_room: ToRoom,
        /// Send each stdin line as a direct message to this member (by name), sealed so that
        /// only they can read it; the lines wait until they are in the room.
        #[arg(long, value_name = "NAME")]
        to: Option<String>,
        /// Receive every file shared in the room into this folder.
        #[arg(long, value_name = "DIR")]
        downloads: Option<PathBuf>,
    },
    /// Send files to a room; exits once the host holds a verified copy of each.
    Send {
        #[command(flatten)]
        to_room: ToRoom,
        /// The files to send; a folder sends its files, which members save in a folder of
        /// that name.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Print this profile's name, device id and key fingerprint, as JSON.
    Whoami,
}

/// What `join` and `send` take to reach a room.
#[derive(clap::Args)]
struct ToRoom {
    /// The room's name or id.
    room: String,
    /// Display name for this run.
    #[arg(long)]
    name: Option<String>,
    /// The host's address, for networks where discovery is blocked.
    #[arg(long, value_name = "HOST:PORT")]
    addr: Option<String>,
    /// How long to look for the room, in seconds.
    #[arg(long, default_value_t = 10.0)]
    wait: f64,
    /// The room's password, if it is locked.
    #[arg(long, env = "LANCHAT_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// Go in even if the room's host presents another key than when this profile joined it
    /// before (only after comparing the new fingerprint with the host).
    #[arg(long)]
    accept_new_key: bool,
}

fn init_logging(verbose: u8, window: bool) {
    let default = match (verbose, window) {
        (0, true) => "warn,lanchat=info",
        (0, false) => "warn",
        (1, _) => "info",
        _ => "debug,eframe=info,egui=info,wgpu=warn,naga=warn",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn seconds(s: f64) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(s).map_err(|_| anyhow::anyhow!("{s} is not a number of seconds"))
}

/// Prints to the terminal lanchat was started from, on Windows, where a GUI program has no
/// console of its own: headless commands, `--help` and errors need one.
#[cfg(windows)]
fn console() {
    use windows_sys::Win32::System::Console::{ATTACH_PARENT_PROCESS, AttachConsole};
    // SAFETY: AttachConsole takes a process id (here the parent's) and has no other
    // preconditions; failing (no parent console, e.g. started from Explorer) changes nothing.
    unsafe {
        AttachConsole(ATTACH_PARENT_PROCESS);
    }
}

fn main() {
    #[cfg(windows)]
    if std::env::args_os().len() > 1 {
        console();
    }
    let cli = Cli::parse();
    init_logging(cli.verbose, cli.command.is_none());
    let code = match run(cli) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("lanchat: {e:#}");
            1
        }
    };
    // Exit now: a headless stdin reader may still be blocked in a read that would hold
    // the process open.
    std::process::exit(code);
}

/// Takes the profile for this process. `None` when another window has it and was brought to
/// the front (nothing more to do); an error, in words, when another process has it.
fn claim(paths: &Paths, window: bool) -> anyhow::Result<Option<Instance>> {
    let claim = Instance::claim(paths, window)
        .map_err(|e| anyhow::anyhow!("cannot use the profile in {}: {e}", paths.data.display()))?;
    match claim {
        Claim::Ours(instance) => Ok(Some(instance)),
        Claim::Taken { knocked: true } => {
            eprintln!(
                "lanchat: already running with this profile; brought its window to the front"
            );
            Ok(None)
        }
        Claim::Taken { knocked: false } => {
            let why = format!(
                "another lanchat is using this profile ({}). Close it first, or give this one a folder of its own with --data-dir.",
                paths.data.display()
            );
            if window {
                // Started by a double-click, there may be no terminal to read the error in.
                let _ = rfd::MessageDialog::new()
                    .set_level(rfd::MessageLevel::Error)
                    .set_title("lanchat")
                    .set_description(&why)
                    .show();
            }
            anyhow::bail!("{why}")
        }
    }
}

/// Takes the profile and loads its settings and key, then runs the window or a headless
/// command (the profile stays taken until it returns).
fn run(cli: Cli) -> anyhow::Result<()> {
    let paths = Paths::resolve(cli.data_dir)?;
    paths
        .create()
        .map_err(|e| anyhow::anyhow!("cannot make {}: {e}", paths.data.display()))?;
    // One lanchat per profile (`whoami` only reads it); held until the process ends.
    let mut instance = match cli.command {
        Some(Cmd::Whoami) => None,
        _ => match claim(&paths, cli.command.is_none())? {
            Some(instance) => Some(instance),
            None => return Ok(()), // the running window was brought to the front
        },
    };
    let (settings, warning) = Settings::load(&paths.settings_file());
    let (identity, key_warning) = Identity::load_or_create(&paths.identity_file())?;
    let warning = match (warning, key_warning) {
        (Some(a), Some(b)) => Some(format!("{a}\n{b}")),
        (a, b) => a.or(b),
    };
    let Some(command) = cli.command else {
        let discovery = DiscoveryConfig {
            interfaces: cli.interfaces,
        };
        let instance = instance.as_mut().expect("a window claims its profile");
        return lanchat::app::run_window(paths, settings, identity, instance, discovery, warning);
    };
    // The window shows a settings warning as an alert; headless, it goes to stderr.
    if let Some(warning) = &warning {
        eprintln!("lanchat: {warning}");
    }
    let setup = |name: Option<String>,
                 downloads: Option<PathBuf>,
                 password: Option<String>,
                 accept_new_key: bool| Setup {
        paths,
        settings,
        interfaces: cli.interfaces,
        name,
        downloads,
        identity,
        password,
        accept_new_key,
    };
    headless_command(command, setup)
}

/// Runs a headless command on a tokio runtime of its own; `setup` makes what it starts from,
/// with its name, downloads folder, password and `--accept-new-key`.
fn headless_command(
    command: Cmd,
    setup: impl FnOnce(Option<String>, Option<PathBuf>, Option<String>, bool) -> Setup,
) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let result = rt.block_on(async {
        match command {
            Cmd::Rooms { watch: true, .. } => {
                headless::watch_rooms(setup(None, None, None, false)).await
            }
            Cmd::Rooms { wait, .. } => {
                headless::rooms(setup(None, None, None, false), seconds(wait)?).await
            }
            Cmd::Host {
                room,
                name,
                password,
            } => headless::host(setup(name, None, password, false), room).await,
            Cmd::Join {
                to_room: r,
                to,
                downloads,
            } => {
                let setup = setup(r.name, downloads, r.password, r.accept_new_key);
                headless::join(setup, r.room, r.addr, seconds(r.wait)?, to).await
            }
            Cmd::Send { to_room: r, paths } => {
                let setup = setup(r.name, None, r.password, r.accept_new_key);
                headless::send(setup, r.room, paths, r.addr, seconds(r.wait)?).await
            }
            Cmd::Whoami => {
                headless::whoami(setup(None, None, None, false));
                Ok(())
            }
        }
    });
    // A stdin reader may be blocked in a read that never returns; do not wait for it.
    rt.shutdown_background();
    result
}
