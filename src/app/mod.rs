//! The window. [`state`] holds what is known (no egui); the other files draw one part each.
//! Each frame drains the runtime's events, draws, and sends the commands the user caused;
//! nothing here waits on a socket, a file or mDNS.

pub mod attention;
mod background;
pub mod chat;
pub mod clipboard;
pub mod diagnostics;
pub mod dialogs;
pub mod direct;
pub mod files;
pub mod keys;
pub mod look;
pub mod markup;
pub mod paste;
pub mod picker;
pub mod rooms;
pub mod search;
pub mod state;
pub mod text;

use crate::bridge::{self, Command, FrontEnd};
use crate::discovery::DiscoveryConfig;
use crate::net::identity::Identity;
use crate::net::limits::Limits;
use crate::net::link::Timeouts;
use crate::runtime::{RuntimeOptions, RuntimeThread};
use crate::store::{Paths, Settings};
use chat::ChatView;
use dialogs::Dialogs;
use egui::RichText;
use state::AppState;

/// Said when the pointer rests on our name or fingerprint.
const FINGERPRINT_HINT: &str =
    "Your fingerprint: others see it beside your name and can compare it with yours aloud";

/// The room and the conversation on screen, if any.
type Showing = (
    Option<crate::protocol::RoomId>,
    Option<crate::protocol::DeviceId>,
);

/// Narrower than this, the room list becomes a drawer so the open room keeps its width.
const DRAWER_BELOW: f32 = 720.0;

pub use crate::desktop::ICON_PNG;

/// The eframe app: the bridge to the runtime, the state, and the views' drawing state.
pub struct LanchatApp {
    /// Commands out, events in.
    front: FrontEnd,
    /// What is known; public so tests can look.
    pub state: AppState,
    /// The open room's drawing state (row heights, drafts).
    chat: ChatView,
    /// The open conversation's drawing state (drafts).
    direct: direct::DirectView,
    /// Which dialogs are open, and what is typed in them.
    dialogs: Dialogs,
    /// The room list is open as a drawer over the room (narrow windows only), with what was
    /// on screen when it opened: once something else is, the drawer has done its job.
    drawer: Option<Showing>,
    /// The drawer's button was pressed this frame (that click is not one beside the drawer).
    drawer_toggled: bool,
    /// A pasted picture or files, offered for sending.
    paste: paste::Paste,
    /// File dialogs: the system's, or the one drawn here.
    pub picker: picker::Picker,
    /// The title last set, so it is only sent when it changes.
    pub title: String,
    /// Hands notifications to the system.
    notifier: crate::desktop::Notifier,
    /// Keys typed on the far side of a change of focus, held for the next frame.
    keys: keys::KeysInOrder,
    /// The system's clipboard, read on Ctrl+V (see [`clipboard`]).
    clipboard: clipboard::System,
    /// The theme last handed to egui, so it is only set when the user changes it (`None`
    /// until the first frame sets it).
    theme: Option<crate::store::Theme>,
    /// Whether the window asked the system for attention (and should take it back once the
    /// user is here).
    asked_attention: bool,
    /// What the notifications the user clicked are about, from the notifier's threads.
    clicked: std::sync::mpsc::Receiver<attention::Target>,
    /// The tray icon, and whether the window is hidden in it.
    background: background::Background,
    /// Set by `LANCHAT_FIRST_FRAME`: say on stderr when the first frame has been drawn, for
    /// the start-up benchmark. Counts the passes until then (2: none yet); 0 once said.
    report_first_frame: u8,
}

impl LanchatApp {
    /// Connects the app to its runtime; events from then on wake the window.
    pub fn new(ctx: &egui::Context, front: FrontEnd, state: AppState) -> Self {
        let repaint = ctx.clone();
        front.set_waker(move || repaint.request_repaint());
        let (click, clicked) = std::sync::mpsc::channel();
        let repaint = ctx.clone();
        let notifier = crate::desktop::Notifier::start(std::sync::Arc::new(move |room| {
            let _ = click.send(room);
            repaint.request_repaint();
        }));
        look::readable(ctx);
        ctx.set_zoom_factor(
            state
                .preferences
                .zoom
                .clamp(*look::ZOOM.start(), *look::ZOOM.end()),
        );
        Self {
            front,
            state,
            chat: ChatView::default(),
            direct: direct::DirectView::default(),
            dialogs: Dialogs::default(),
            picker: picker::Picker::default(),
            paste: paste::Paste::default(),
            drawer: None,
            drawer_toggled: false,
            title: String::new(),
            notifier,
            keys: keys::KeysInOrder::default(),
            clipboard: clipboard::System::default(),
            theme: None,
            asked_attention: false,
            clicked,
            background: background::Background::new(crate::desktop::tray::Tray::start(ctx.clone())),
            report_first_frame: if std::env::var_os("LANCHAT_FIRST_FRAME").is_some() {
                2
            } else {
                0
            },
        }
    }

    fn drain_events(&mut self) {
        while let Ok(event) = self.front.events.try_recv() {
            self.state.apply(event);
        }
    }

    fn status_bar(&mut self, ui: &mut egui::Ui) {
        egui::Panel::bottom("status").show(ui, |ui| {
            ui.horizontal_wrapped(|ui| {
                if ui
                    .small_button("Network diagnostics…")
                    .on_hover_text("Which interfaces lanchat uses, whether mDNS works, your rooms' addresses, and what to try when rooms don't appear")
                    .clicked()
                {
                    self.dialogs.open_network();
                }
                let net = &self.state.network;
                if let Some(problem) = &net.problem {
                    // Said in the window's terms: the runtime's words fit any front end.
                    let what_to_do = if diagnostics::no_interface(net) {
                        " — see Network diagnostics…"
                    } else {
                        ""
                    };
                    ui.colored_label(
                        ui.visuals().warn_fg_color,
                        format!("⚠ {problem}{what_to_do}"),
                    );
                } else if net.discovery {
                    ui.label(format!(
                        "Looking for rooms on {}",
                        net.interfaces.join(", ")
                    ));
                } else {
                    ui.label("Room discovery is off");
                }
                self.hosted_addresses(ui);
            });
        });
    }

    /// Where each room we host can be joined by address, first address only (the others
    /// are in Network diagnostics), to read out or copy: what "Join by address" asks for.
    fn hosted_addresses(&self, ui: &mut egui::Ui) {
        let rooms =
            diagnostics::room_addresses(&self.state.network.report, &self.state.rooms.hosting);
        for ((name, addrs), (_, port, _)) in rooms.iter().zip(self.state.rooms.hosting.values()) {
            ui.separator();
            // One room is "your room" (its name is in the sidebar, just above).
            let which = match rooms.len() {
                1 => "Your room".into(),
                _ => text::name(name),
            };
            let Some(addr) = addrs.first() else {
                ui.label(format!("{which} on port {port}"));
                continue;
            };
            ui.label(format!("{which} at"));
            ui.label(RichText::new(addr).monospace())
                .on_hover_text("Others can join your room at this address (Join by address…)");
            if ui
                .small_button("Copy")
                .on_hover_text(format!("Copy {addr}"))
                .clicked()
            {
                ui.ctx().copy_text(addr.clone());
            }
        }
    }

    /// Our name and fingerprint, "Change name" and "Settings"; in a narrow window, also the
    /// button that opens the room list as a drawer.
    fn top_bar(&mut self, ui: &mut egui::Ui, narrow: bool) {
        egui::Panel::top("top").show(ui, |ui| {
            // Narrower than this, the search field goes on a row of its own.
            let wide = ui.available_width() >= 820.0;
            if narrow {
                ui.horizontal_wrapped(|ui| {
                    let unread = self.state.unread_total();
                    let label = if unread > 0 {
                        format!("☰ Rooms ({unread})")
                    } else {
                        "☰ Rooms".to_owned()
                    };
                    let drawer = ui
                        .selectable_label(self.drawer.is_some(), label)
                        .on_hover_text("Your rooms and the rooms on this network");
                    if drawer.clicked() {
                        self.drawer = match self.drawer {
                            Some(_) => None,
                            None => Some(self.showing()),
                        };
                        self.drawer_toggled = true;
                    }
                    self.identity(ui);
                    self.buttons(ui);
                });
            } else {
                ui.horizontal(|ui| {
                    ui.label(RichText::new("lanchat").strong());
                    if wide {
                        search::field(ui, &mut self.state, 260.0);
                    }
                    ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                        self.buttons(ui);
                        // Right to left: the fingerprint first, so it ends up after the name.
                        self.fingerprint(ui);
                        ui.label(format!("You are {}", text::name(&self.state.name)))
                            .on_hover_text(FINGERPRINT_HINT);
                    });
                });
            }
            if !wide {
                let width = ui.available_width().min(400.0);
                search::field(ui, &mut self.state, width);
            }
            if let Some(alert) = self.state.alert.clone() {
                ui.horizontal_wrapped(|ui| {
                    ui.colored_label(ui.visuals().error_fg_color, alert);
                    if let Some(path) = &self.state.alert_path
                        && ui.small_button("Copy path").clicked()
                    {
                        ui.ctx().copy_text(path.display().to_string());
                    }
                    if ui.small_button("Dismiss").clicked() {
                        (self.state.alert, self.state.alert_path) = (None, None);
                    }
                });
            }
        });
    }

    fn identity(&self, ui: &mut egui::Ui) {
        ui.label(format!("You are {}", text::name(&self.state.name)))
            .on_hover_text(FINGERPRINT_HINT);
        self.fingerprint(ui);
    }

    fn fingerprint(&self, ui: &mut egui::Ui) {
        let fp = &self.state.fingerprint;
        let text = RichText::new(format!("🔑 {fp}")).small().monospace().weak();
        look::fingerprint(ui, text, fp, FINGERPRINT_HINT);
    }

    fn buttons(&mut self, ui: &mut egui::Ui) {
        if ui.button("Settings").clicked() {
            self.dialogs.open_settings(&self.state);
        }
        if ui.button("Change name").clicked() {
            self.dialogs.open_name(self.state.name.clone());
        }
    }

    /// The room list: a side panel, or in a narrow window a drawer over the room (opened
    /// from the top bar, closed by picking something or clicking beside it), or the whole
    /// window while no room is open.
    fn room_list(&mut self, ui: &mut egui::Ui, narrow: bool) {
        if !narrow {
            self.drawer = None;
            let rooms_width = (ui.available_width() * 0.4).clamp(160.0, 250.0);
            egui::Panel::left("rooms")
                .default_size(rooms_width)
                .max_size(rooms_width.max(ui.available_width() * 0.5))
                .resizable(true)
                .show(ui, |ui| {
                    rooms::show(ui, &mut self.state, &mut self.dialogs);
                });
            return;
        }
        let Some(showing) = self.drawer.clone() else {
            return;
        };
        let rect = ui.available_rect_before_wrap();
        let width = (rect.width() * 0.85).min(280.0);
        let area = egui::Area::new(egui::Id::unique("rooms_drawer"))
            .order(egui::Order::Foreground)
            .fixed_pos(rect.min)
            .show(ui.ctx(), |ui| {
                egui::Frame::side_top_panel(ui.style())
                    .shadow(ui.visuals().popup_shadow)
                    .show(ui, |ui| {
                        ui.set_width(width);
                        ui.set_height(rect.height() - 4.0);
                        rooms::show(ui, &mut self.state, &mut self.dialogs);
                    });
            });
        let picked = showing != self.showing();
        let away = area.response.clicked_elsewhere() && !self.drawer_toggled;
        if picked || away || ui.input(|i| i.key_pressed(egui::Key::Escape)) {
            self.drawer = None;
        }
    }

    fn showing(&self) -> Showing {
        (self.state.open.clone(), self.state.open_direct.clone())
    }

    /// Files dropped on the window go to the open room; while they hover, the window says so.
    fn take_dropped_files(&mut self, ctx: &egui::Context) {
        let dropped: Vec<std::path::PathBuf> = ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .collect()
        });
        let room = self
            .state
            .open
            .as_ref()
            .and_then(|id| self.state.chats.get(id))
            .map(|c| c.room_name.clone());
        if !dropped.is_empty() {
            match &room {
                Some(_) => self.state.send_files(dropped),
                None => {
                    self.state.alert =
                        Some("Open a room first, then drop files on it to share them.".into())
                }
            }
        }
        if ctx.input(|i| !i.raw.hovered_files.is_empty()) {
            let text = match &room {
                Some(name) => format!("Drop to send to {name}"),
                None => "Open a room to send files to it".to_owned(),
            };
            let painter = ctx.layer_painter(egui::LayerId::new(
                egui::Order::Foreground,
                egui::Id::unique("drop"),
            ));
            let rect = ctx.content_rect();
            painter.rect_filled(rect, 0.0, egui::Color32::from_black_alpha(170));
            painter.text(
                rect.center(),
                egui::Align2::CENTER_CENTER,
                text,
                egui::FontId::proportional(24.0),
                egui::Color32::WHITE,
            );
        }
    }

    /// Hands notifications to `notifier` instead (a test's, to see them).
    pub fn with_notifier(mut self, notifier: crate::desktop::Notifier) -> Self {
        self.notifier = notifier;
        self
    }

    /// Unread counts, notifications and the call for attention: the open room of a focused
    /// window is read; what others wrote elsewhere is announced. Runs at every pass, the
    /// window shown or hidden in the tray (so it reads no input: a hidden window's is old).
    fn attend(&mut self, ctx: &egui::Context) {
        while let Ok(target) = self.clicked.try_recv() {
            self.state.show(&target);
            self.come_back(ctx);
        }
        let focused = ctx.input(|i| i.focused) && !self.background.hidden();
        self.state.look(focused);
        let now = std::time::Instant::now();
        if let Some(next) = self.state.tick(now) {
            ctx.request_repaint_after(next.saturating_duration_since(now));
        }
        for notification in self.state.notifications.drain(..) {
            self.notifier.notify(notification);
        }
        if std::mem::take(&mut self.state.wants_attention) && !focused {
            ctx.send_viewport_cmd(egui::ViewportCommand::RequestUserAttention(
                egui::UserAttentionType::Informational,
            ));
            self.asked_attention = true;
        } else if focused && std::mem::take(&mut self.asked_attention) {
            // Not every system clears the hint by itself when the window gets the keyboard.
            ctx.send_viewport_cmd(egui::ViewportCommand::RequestUserAttention(
                egui::UserAttentionType::Reset,
            ));
        }
    }

    /// What the keyboard and mouse say of the user: here (presence), and Ctrl+Tab and
    /// Ctrl+Shift+Tab going through the rooms we are in.
    fn follow_input(&mut self, ctx: &egui::Context) {
        // Presence: any input means the user is here; without any, the next change (away,
        // a typing notice running out) is the only reason to draw again.
        if ctx.input(|i| !i.events.is_empty()) {
            self.state.input_seen(std::time::Instant::now());
        }
        // The Shift one first: Ctrl+Tab alone would match it too.
        let (previous, next) = ctx.input_mut(|i| {
            (
                i.consume_key(
                    egui::Modifiers::CTRL | egui::Modifiers::SHIFT,
                    egui::Key::Tab,
                ),
                i.consume_key(egui::Modifiers::CTRL, egui::Key::Tab),
            )
        });
        if next {
            self.state.switch_room(1);
        } else if previous {
            self.state.switch_room(-1);
        }
    }

    /// The theme picked in Settings, and the zoom changed by keyboard, take effect and are
    /// kept.
    fn follow_look(&mut self, ctx: &egui::Context) {
        if self.theme != Some(self.state.preferences.theme) {
            self.theme = Some(self.state.preferences.theme);
            ctx.set_theme(look::preference(self.state.preferences.theme));
        }
        let zoom = ctx.zoom_factor();
        let kept = zoom.clamp(*look::ZOOM.start(), *look::ZOOM.end());
        if kept != zoom {
            ctx.set_zoom_factor(kept);
        }
        if (kept - self.state.preferences.zoom).abs() > 0.001 {
            self.state
                .preferences
                .set_zoom(kept, &mut self.state.outbox);
        }
    }

    fn update_title(&mut self, ctx: &egui::Context) {
        let direct = self
            .state
            .open_direct
            .as_ref()
            .and_then(|peer| self.state.directs.conversations.get(peer))
            .map(|c| format!("{} (direct)", c.name));
        let open = direct.or_else(|| {
            self.state
                .open
                .as_ref()
                .and_then(|id| self.state.chats.get(id))
                .map(|chat| chat.room_name.clone())
        });
        let title = attention::title(open.as_deref(), self.state.unread_total());
        if title != self.title {
            ctx.send_viewport_cmd(egui::ViewportCommand::Title(title.clone()));
            self.title = title;
        }
    }
}

impl LanchatApp {
    /// For the start-up benchmark: says on stderr when the first frame has been drawn.
    fn say_first_frame(&mut self, ctx: &egui::Context) {
        match self.report_first_frame {
            0 => {}
            2 => {
                // The next pass begins once this one has been painted.
                self.report_first_frame = 1;
                ctx.request_repaint();
            }
            _ => {
                self.report_first_frame = 0;
                eprintln!("lanchat: first frame drawn");
            }
        }
    }

    /// The open room a paste is offered to, with its name: none while a conversation is open.
    fn paste_target(&self) -> Option<(crate::protocol::RoomId, String)> {
        match (&self.state.open_direct, &self.state.open) {
            (None, Some(room)) => self
                .state
                .chats
                .get(room)
                .map(|c| (room.clone(), c.room_name.clone())),
            _ => None,
        }
    }

    /// Under the bars: the room list, and the open room, conversation or search results (in
    /// a narrow window with nothing open, the list alone).
    fn middle(&mut self, ui: &mut egui::Ui, narrow: bool) {
        let open_room = match (self.state.open_direct.clone(), self.state.open.clone()) {
            (Some(peer), _) if self.state.directs.conversations.contains_key(&peer) => {
                Some(Err(peer))
            }
            (_, Some(room)) if self.state.chats.contains_key(&room) => Some(Ok(room)),
            _ => None,
        };
        if narrow && open_room.is_none() {
            // Nothing open in a narrow window: the list is the window (unless results are).
            self.drawer = None;
            if !search::show(ui, &mut self.state) {
                egui::CentralPanel::default()
                    .show(ui, |ui| rooms::show(ui, &mut self.state, &mut self.dialogs));
            }
            return;
        }
        self.room_list(ui, narrow);
        let searching = search::show(ui, &mut self.state);
        match open_room {
            _ if searching => {}
            Some(Err(peer)) => {
                egui::CentralPanel::default()
                    .show(ui, |ui| self.direct.show(ui, &mut self.state, &peer));
            }
            Some(Ok(room)) => {
                egui::CentralPanel::default()
                    .show(ui, |ui| self.chat.show(ui, &mut self.state, &room));
            }
            None => {
                egui::CentralPanel::default().show(ui, |ui| {
                    ui.centered_and_justified(|ui| {
                        ui.label(RichText::new("Pick a room on the left, or host one.").weak());
                    });
                });
            }
        }
    }

    /// A file dialog asked for is opened (the system's needs the window, `frame`); what the
    /// built-in one chose is sent.
    fn pick_files(&mut self, ctx: &egui::Context, frame: &eframe::Frame) {
        if let Some(pick) = self.state.picking.take() {
            let commands = self.front.commands.clone();
            self.picker.open(pick, Some(frame), ctx, commands);
        }
        if let Some(chosen) = self.picker.show(ctx) {
            self.state.outbox.push(chosen);
        }
    }

    /// Started again on this profile: this window, not a second one, is the app.
    fn come_forward(&mut self, ctx: &egui::Context) {
        if std::mem::take(&mut self.state.raise) {
            self.come_back(ctx);
        }
    }
}

impl eframe::App for LanchatApp {
    /// Each frame's input, before egui sees it: keys typed across a change of focus are
    /// kept in order (see [`keys`]).
    fn raw_input_hook(&mut self, ctx: &egui::Context, raw_input: &mut egui::RawInput) {
        clipboard::translate(&mut raw_input.events, &mut self.clipboard);
        let button_down = ctx.input(|i| i.pointer.any_down());
        let now = raw_input.time.unwrap_or_else(|| ctx.input(|i| i.time));
        if self.keys.sort(&mut raw_input.events, button_down, now) {
            ctx.request_repaint();
        }
    }

    /// Each pass, the window shown or hidden in the tray: what the runtime said is taken in,
    /// notifications go out, the tray is kept up to date, and commands go to the runtime.
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        self.drain_events();
        self.attend(ctx);
        self.tend_tray(ctx);
        self.come_forward(ctx);
        for command in self.state.outbox.drain(..) {
            self.front.send(command);
        }
    }

    fn ui(&mut self, ui: &mut egui::Ui, frame: &mut eframe::Frame) {
        self.say_first_frame(ui.ctx());
        let ctx = ui.ctx().clone();
        self.follow_look(&ctx);
        self.follow_input(&ctx);
        self.guard_quit(&ctx);
        self.take_dropped_files(&ctx);
        let room = self.paste_target();
        self.paste.take(&ctx, room);
        let narrow = ui.available_width() < DRAWER_BELOW;
        self.drawer_toggled = false;
        self.top_bar(ui, narrow);
        self.status_bar(ui);
        self.middle(ui, narrow);
        self.dialogs.show(&ctx, &mut self.state);
        self.paste.show(&ctx, &self.front.commands);
        self.pick_files(&ctx, frame);
        self.update_title(&ctx);
        // "Keep hosting in the background" pressed just now goes at once.
        self.leave_if_asked(&ctx);
        for command in self.state.outbox.drain(..) {
            self.front.send(command);
        }
    }

    /// Asks the runtime to say its goodbyes and does not wait: the window goes at once and
    /// the process ends once the runtime has finished (see [`run_window`]).
    fn on_exit(&mut self) {
        self.front.send(Command::Shutdown);
    }
}

/// The graphics APIs the window may draw with: the system's own (Vulkan, Metal or Direct3D
/// 12) where it has a device for them, OpenGL only where it has none (old GPUs, some virtual
/// machines). Offering both, as eframe does by default, loads both drivers, and wgpu may then
/// pick OpenGL where Vulkan works: ~11 MB more for one idle window with Mesa. `WGPU_BACKEND`
/// (vulkan, metal, dx12, gl) still decides when set.
fn graphics_backends() -> eframe::wgpu::Backends {
    use eframe::wgpu;
    if let Some(chosen) = wgpu::Backends::from_env() {
        return chosen;
    }
    let primary = wgpu::Instance::new(wgpu::InstanceDescriptor {
        backends: wgpu::Backends::PRIMARY,
        ..wgpu::InstanceDescriptor::new_without_display_handle_from_env()
    });
    let adapters = futures::executor::block_on(primary.enumerate_adapters(wgpu::Backends::PRIMARY));
    if adapters.is_empty() {
        tracing::info!("no Vulkan, Metal or Direct3D 12 device: drawing with OpenGL");
        wgpu::Backends::PRIMARY | wgpu::Backends::GL
    } else {
        wgpu::Backends::PRIMARY
    }
}

/// Opens the window with its runtime, and returns when the window is closed and the
/// runtime has said goodbye. The goodbyes (to the rooms, on mDNS) and the last writes happen
/// after the window has gone, within the runtime's bounded shutdown.
pub fn run_window(
    paths: Paths,
    settings: Settings,
    identity: Identity,
    instance: &mut crate::instance::Instance,
    discovery: DiscoveryConfig,
    warning: Option<String>,
) -> anyhow::Result<()> {
    let (front, back) = bridge::channel();
    instance.answer_knocks(back.events.clone());
    let state = AppState::new(&settings, identity.device(), warning);
    let options = RuntimeOptions {
        paths,
        settings,
        name: None,
        discovery: Some(discovery),
        bind: None,
        downloads: None,
        identity,
        timeouts: Timeouts::default(),
        limits: Limits::default(),
        restore: true,
        passing: false,
        auto_save: crate::runtime::AutoSave::AsSet,
    };
    let runtime = RuntimeThread::spawn(back, options)?;
    let mut viewport = egui::ViewportBuilder::default()
        .with_title("lanchat")
        .with_app_id("lanchat")
        .with_inner_size([980.0, 640.0])
        .with_min_inner_size([520.0, 360.0]);
    match eframe::icon_data::from_png_bytes(ICON_PNG) {
        Ok(icon) => viewport = viewport.with_icon(icon),
        Err(e) => tracing::warn!("window icon: {e}"),
    }
    let mut native = eframe::NativeOptions {
        viewport,
        // Read here instead (see `clipboard`): egui-winit pastes no files.
        clipboard_shortcuts: false,
        ..Default::default()
    };
    if let eframe::egui_wgpu::WgpuSetup::CreateNew(setup) = &mut native.wgpu_options.wgpu_setup {
        setup.instance_descriptor.backends = graphics_backends();
    }
    let closed = eframe::run_native(
        "lanchat",
        native,
        Box::new(move |cc| Ok(Box::new(LanchatApp::new(&cc.egui_ctx, front, state)))),
    )
    .map_err(|e| anyhow::anyhow!("could not open the window: {e}"));
    // The window is gone (or never opened; then the runtime is told by its channel closing).
    instance.window_closed();
    runtime.join();
    closed
}
