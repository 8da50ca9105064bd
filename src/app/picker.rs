//! Choosing files or a folder to send, and the downloads folder. The system's own dialog is opened from the
//! window (as its parent, so it stays on top of it) and awaited on a thread of its own, so the
//! window never waits. Where the system has no dialog to give (a Linux desktop without an XDG
//! desktop portal or zenity), a small picker drawn in the window takes its place (the
//! egui file-dialog crates for this egui either do not exist yet or leave their inputs
//! without names for screen readers).

use crate::bridge::Command;
use crate::protocol::RoomId;
use crate::store::Change;
use std::path::PathBuf;
use tokio::sync::mpsc::UnboundedSender;

/// What the user is choosing for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pick {
    /// Files to send to this room.
    Files(RoomId),
    /// A folder to send to this room (its files, with their paths inside it).
    Folder(RoomId),
    /// The folder received files are saved in (starting from the current one).
    Downloads(Option<PathBuf>),
}

/// The dialog the system gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum System {
    /// Its own, through rfd (an XDG desktop portal; macOS and Windows always have one).
    Own,
    /// zenity, run here with lanchat's title: rfd 0.17's zenity backend drops the title
    /// (`FileDialog::set_title`), so its window read "zenity". Upstream, in rfd's
    /// `backend/linux/zenity.rs`: `pick_files` builds `zenity --no-markup --file-selection
    /// --multiple` and never adds `--title` (minimal reproduction: with no portal on the
    /// session bus, `rfd::FileDialog::new().set_title("X").pick_files()` shows "zenity").
    Zenity,
    /// None: the picker drawn in the window.
    None,
}

/// The window's file choosing.
#[derive(Default)]
pub struct Picker {
    /// The dialog the system gives; asked once, at the first pick.
    system: Option<System>,
    /// The picker drawn in the window, while it is open.
    builtin: Option<Browser>,
    /// Where the built-in picker starts choosing files, if not the home folder.
    start: Option<PathBuf>,
}

impl Picker {
    /// Always uses the picker drawn in the window (tests, and systems whose dialog misbehaves),
    /// choosing files from `start` (else the home folder).
    pub fn use_builtin(&mut self, start: Option<PathBuf>) {
        self.system = Some(System::None);
        self.start = start;
    }

    /// Opens a dialog for `pick`: the system's, parented to `window`, or the built-in one.
    /// What is chosen is sent to the runtime through `commands`.
    pub fn open(
        &mut self,
        pick: Pick,
        window: Option<&eframe::Frame>,
        ctx: &egui::Context,
        commands: UnboundedSender<Command>,
    ) {
        let system = *self.system.get_or_insert_with(system_dialog);
        match (window, system) {
            (Some(window), System::Own) => open_system(pick, window, commands),
            (Some(_), System::Zenity) => open_zenity(pick, commands),
            _ => {
                let home = || directories::UserDirs::new().map(|u| u.home_dir().to_path_buf());
                let start = match &pick {
                    Pick::Files(_) | Pick::Folder(_) => self.start.clone().or_else(home),
                    Pick::Downloads(current) => current.clone().or_else(home),
                };
                self.builtin = Some(Browser::new(pick, start.unwrap_or_default(), ctx));
            }
        }
    }

    /// Draws the built-in picker while it is open; returns the command its choice makes.
    pub fn show(&mut self, ctx: &egui::Context) -> Option<Command> {
        let browser = self.builtin.as_mut()?;
        match browser.show(ctx) {
            Chosen::Still => None,
            Chosen::Cancelled => {
                self.builtin = None;
                None
            }
            Chosen::Command(command) => {
                self.builtin = None;
                Some(command)
            }
        }
    }
}

/// One entry of a folder, as the built-in picker lists it.
#[derive(Debug, Clone)]
struct Entry {
    /// Its name, as listed.
    name: String,
    /// Where it is: the folder to open, or the file to tick.
    path: PathBuf,
    /// A folder (opened with a click) rather than a file (ticked).
    folder: bool,
    /// A file's size in bytes.
    size: u64,
}

/// The picker drawn in the window: a folder's entries, to open folders and tick files.
struct Browser {
    /// What is being chosen: files for a room, or the downloads folder.
    pick: Pick,
    /// The folder shown.
    dir: PathBuf,
    /// Its entries (folders first), or why they cannot be read; `None` while being read.
    entries: Option<Result<Vec<Entry>, String>>,
    /// Folder listings arrive here from a thread of their own: the window never reads a disk.
    listed: std::sync::mpsc::Receiver<(PathBuf, Result<Vec<Entry>, String>)>,
    /// Handed to each thread that reads a folder.
    list: std::sync::mpsc::Sender<(PathBuf, Result<Vec<Entry>, String>)>,
    /// Files ticked so far (files mode).
    chosen: std::collections::BTreeSet<PathBuf>,
}

/// What the built-in picker's buttons said this frame.
enum Chosen {
    Still,
    Cancelled,
    Command(Command),
}

impl Browser {
    fn new(pick: Pick, dir: PathBuf, ctx: &egui::Context) -> Self {
        let (list, listed) = std::sync::mpsc::channel();
        let mut browser = Self {
            pick,
            dir: PathBuf::new(),
            entries: None,
            listed,
            list,
            chosen: Default::default(),
        };
        browser.go(dir, ctx);
        browser
    }

    /// Shows `dir`, reading it on a thread of its own.
    fn go(&mut self, dir: PathBuf, ctx: &egui::Context) {
        self.dir = dir.clone();
        self.entries = None;
        let (list, ctx) = (self.list.clone(), ctx.clone());
        std::thread::spawn(move || {
            let entries = read_folder(&dir);
            let _ = list.send((dir, entries));
            ctx.request_repaint();
        });
    }

    /// Draws the picker as a modal; says what its buttons said this frame.
    fn show(&mut self, ctx: &egui::Context) -> Chosen {
        while let Ok((dir, entries)) = self.listed.try_recv() {
            if dir == self.dir {
                self.entries = Some(entries);
            }
        }
        let files = matches!(self.pick, Pick::Files(_));
        let mut outcome = Chosen::Still;
        let mut go = None;
        let modal = egui::Modal::new(egui::Id::unique("builtin_picker")).show(ctx, |ui| {
            // One size whatever is listed or ticked, so that nothing moves under the mouse;
            // long names are cut short.
            ui.set_width(PICKER_WIDTH);
            ui.set_max_width(PICKER_WIDTH);
            ui.style_mut().wrap_mode = Some(egui::TextWrapMode::Truncate);
            ui.heading(match self.pick {
                Pick::Files(_) => "Send files to the room",
                Pick::Folder(_) => "Send a folder to the room",
                Pick::Downloads(_) => "Save received files in",
            });
            let up = self.folder_row(ui);
            ui.separator();
            go = self.entries(ui, files).or(up);
            ui.separator();
            outcome = self.buttons(ui);
        });
        if modal.should_close() && matches!(outcome, Chosen::Still) {
            outcome = Chosen::Cancelled;
        }
        if let Some(dir) = go {
            self.go(dir, ctx);
        }
        outcome
    }

    /// The folder shown, with the button to the one above; returns that one when clicked.
    fn folder_row(&self, ui: &mut egui::Ui) -> Option<PathBuf> {
        let mut go = None;
        ui.horizontal(|ui| {
            if ui
                .button("⬆ Up")
                .on_hover_text("The folder above")
                .clicked()
                && let Some(up) = self.dir.parent()
            {
                go = Some(up.to_path_buf());
            }
            ui.label(egui::RichText::new(self.dir.display().to_string()).monospace());
        });
        go
    }

    /// The folder's entries: folders to open, and (choosing `files`) files to tick. Returns
    /// the folder clicked.
    fn entries(&mut self, ui: &mut egui::Ui, files: bool) -> Option<PathBuf> {
        let mut go = None;
        // Sending a folder: its files are shown, as what goes with it.
        let shown = matches!(self.pick, Pick::Folder(_));
        egui::ScrollArea::vertical()
            .min_scrolled_height(PICKER_LIST_HEIGHT)
            .max_height(PICKER_LIST_HEIGHT)
            .auto_shrink(false)
            .show(ui, |ui| match &self.entries {
                None => {
                    ui.label("Reading the folder…");
                }
                Some(Err(why)) => {
                    ui.colored_label(ui.visuals().error_fg_color, why);
                }
                Some(Ok(entries)) if entries.is_empty() => {
                    ui.label(egui::RichText::new("This folder is empty.").weak());
                }
                Some(Ok(entries)) => {
                    for entry in entries {
                        if entry.folder {
                            if ui.button(format!("📁 {}", entry.name)).clicked() {
                                go = Some(entry.path.clone());
                            }
                        } else if files {
                            let mut ticked = self.chosen.contains(&entry.path);
                            if tick_row(ui, entry, &mut ticked) {
                                if ticked {
                                    self.chosen.insert(entry.path.clone());
                                } else {
                                    self.chosen.remove(&entry.path);
                                }
                            }
                        } else if shown {
                            ui.label(egui::RichText::new(format!("📄 {}", entry.name)).weak());
                        }
                    }
                }
            });
        go
    }

    /// Send the files ticked, Send this folder or Use this folder, and Cancel.
    fn buttons(&self, ui: &mut egui::Ui) -> Chosen {
        let mut outcome = Chosen::Still;
        ui.horizontal(|ui| {
            if let Pick::Folder(room) = &self.pick {
                let name = self
                    .dir
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| self.dir.display().to_string());
                let send = egui::Button::new(format!("Send \u{201c}{name}\u{201d}"));
                let response = ui.add_enabled(self.dir.parent().is_some(), send);
                let response = response
                    .on_hover_text("Send this folder's files, and those of the folders in it");
                if response.clicked() {
                    outcome = Chosen::Command(Command::SendFiles {
                        room: room.clone(),
                        paths: vec![self.dir.clone()],
                    });
                }
            } else if matches!(self.pick, Pick::Files(_)) {
                let n = self.chosen.len();
                let label = if n == 1 {
                    "Send 1 file".to_owned()
                } else {
                    format!("Send {n} files")
                };
                if ui.add_enabled(n > 0, egui::Button::new(label)).clicked()
                    && let Pick::Files(room) = &self.pick
                {
                    outcome = Chosen::Command(Command::SendFiles {
                        room: room.clone(),
                        paths: self.chosen.iter().cloned().collect(),
                    });
                }
            } else if ui.button("Use this folder").clicked() {
                outcome = Chosen::Command(Command::Settings(Change::Downloads(self.dir.clone())));
            }
            if ui.button("Cancel").clicked() {
                outcome = Chosen::Cancelled;
            }
        });
        outcome
    }
}

/// The built-in picker's width, and its list's height, in points: fixed.
const PICKER_WIDTH: f32 = 460.0;
const PICKER_LIST_HEIGHT: f32 = 280.0;

/// A file to tick, with its size at the right; returns whether it was ticked or unticked.
fn tick_row(ui: &mut egui::Ui, entry: &Entry, ticked: &mut bool) -> bool {
    ui.horizontal(|ui| {
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            ui.label(egui::RichText::new(crate::bridge::human_size(entry.size)).weak());
            ui.with_layout(egui::Layout::left_to_right(egui::Align::Center), |ui| {
                ui.checkbox(ticked, &entry.name).changed()
            })
            .inner
        })
        .inner
    })
    .inner
}

/// A folder's entries, folders first, then by name; hidden ones (a leading dot) left out.
fn read_folder(dir: &std::path::Path) -> Result<Vec<Entry>, String> {
    let read = std::fs::read_dir(dir).map_err(|e| format!("Cannot read this folder: {e}"))?;
    let mut entries: Vec<Entry> = read
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let meta = std::fs::metadata(e.path()).ok()?;
            (!name.starts_with('.')).then(|| Entry {
                name,
                path: e.path(),
                folder: meta.is_dir(),
                size: meta.len(),
            })
        })
        .collect();
    entries.sort_by(|a, b| {
        b.folder
            .cmp(&a.folder)
            .then_with(|| a.name.to_lowercase().cmp(&b.name.to_lowercase()))
    });
    Ok(entries)
}

/// The system's dialog, created here (the UI thread, which macOS requires) with the window as
/// its parent, and awaited on a thread of its own.
fn open_system(pick: Pick, window: &eframe::Frame, commands: UnboundedSender<Command>) {
    let dialog = rfd::AsyncFileDialog::new().set_parent(window);
    let waiting = std::thread::Builder::new().name("lanchat-dialog".into());
    let spawned = match pick {
        Pick::Files(room) => {
            let chosen = dialog.set_title("Send files to the room").pick_files();
            waiting.spawn(move || {
                if let Some(files) = futures::executor::block_on(chosen) {
                    let paths = files.iter().map(|f| f.path().to_path_buf()).collect();
                    let _ = commands.send(Command::SendFiles { room, paths });
                }
            })
        }
        Pick::Folder(room) => {
            let chosen = dialog.set_title("Send a folder to the room").pick_folder();
            waiting.spawn(move || {
                if let Some(dir) = futures::executor::block_on(chosen) {
                    let paths = vec![dir.path().to_path_buf()];
                    let _ = commands.send(Command::SendFiles { room, paths });
                }
            })
        }
        Pick::Downloads(current) => {
            let dialog = dialog.set_title("Save received files in");
            let dialog = match current {
                Some(dir) => dialog.set_directory(dir),
                None => dialog,
            };
            let chosen = dialog.pick_folder();
            waiting.spawn(move || {
                if let Some(dir) = futures::executor::block_on(chosen) {
                    let _ = commands.send(Command::Settings(Change::Downloads(
                        dir.path().to_path_buf(),
                    )));
                }
            })
        }
    };
    if let Err(e) = spawned {
        tracing::warn!("cannot wait for the file dialog: {e}");
    }
}

/// The dialog the system can show. On Linux and the BSDs that takes an XDG desktop portal on
/// the session bus, or zenity; macOS and Windows always have their own.
fn system_dialog() -> System {
    #[cfg(all(unix, not(target_os = "macos")))]
    {
        if portal_available() {
            return System::Own;
        }
        let zenity = std::env::var_os("PATH").is_some_and(|path| {
            std::env::split_paths(&path).any(|dir| dir.join("zenity").is_file())
        });
        if zenity {
            return System::Zenity;
        }
        tracing::info!("no XDG desktop portal and no zenity: files are picked in the window");
        System::None
    }
    #[cfg(not(all(unix, not(target_os = "macos"))))]
    System::Own
}

/// zenity's file dialog, titled as lanchat's, awaited on a thread of its own. A path per
/// line (zenity's default separator, "|", may be in a file's name).
fn open_zenity(pick: Pick, commands: UnboundedSender<Command>) {
    let mut zenity = std::process::Command::new("zenity");
    zenity.args(["--file-selection", "--separator", "\n"]);
    match &pick {
        Pick::Files(_) => zenity.args(["--multiple", "--title", "lanchat: send files to the room"]),
        Pick::Folder(_) => zenity.args([
            "--directory",
            "--title",
            "lanchat: send a folder to the room",
        ]),
        Pick::Downloads(current) => {
            zenity.args(["--directory", "--title", "lanchat: save received files in"]);
            if let Some(dir) = current {
                // A trailing separator opens the folder itself rather than selecting it.
                zenity.arg("--filename").arg(dir.join(""));
            }
            &mut zenity
        }
    };
    let waiting = std::thread::Builder::new().name("lanchat-dialog".into());
    let spawned = waiting.spawn(move || {
        let output = match zenity.output() {
            Ok(output) if output.status.success() => output,
            Ok(_) => return, // cancelled
            Err(e) => return tracing::warn!("zenity: {e}"),
        };
        let paths: Vec<PathBuf> = String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter(|l| !l.is_empty())
            .map(PathBuf::from)
            .collect();
        let command = match (pick, paths.first()) {
            (_, None) => return,
            (Pick::Files(room) | Pick::Folder(room), Some(_)) => Command::SendFiles { room, paths },
            (Pick::Downloads(_), Some(dir)) => Command::Settings(Change::Downloads(dir.clone())),
        };
        let _ = commands.send(command);
    });
    if let Err(e) = spawned {
        tracing::warn!("cannot wait for the file dialog: {e}");
    }
}

/// Whether the session bus has (or can start) the XDG desktop portal that rfd asks for files.
#[cfg(all(unix, not(target_os = "macos")))]
fn portal_available() -> bool {
    const PORTAL: &str = "org.freedesktop.portal.Desktop";
    let asked = async {
        let bus = zbus::Connection::session().await.ok()?;
        let dbus = zbus::fdo::DBusProxy::new(&bus).await.ok()?;
        let name = zbus::names::BusName::try_from(PORTAL).ok()?;
        if dbus.name_has_owner(name).await.ok()? {
            return Some(true);
        }
        let activatable = dbus.list_activatable_names().await.ok()?;
        Some(activatable.iter().any(|n| n.as_str() == PORTAL))
    };
    // A bus that does not answer within a second counts as none.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(futures::executor::block_on(asked));
    });
    let deadline = std::time::Duration::from_secs(1);
    rx.recv_timeout(deadline).ok().flatten().unwrap_or(false)
}
