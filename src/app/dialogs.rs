//! The dialogs: the display name (at first start, and when changing it), "Host a room"
//! (with an optional password), settings, and the two questions a room can ask on joining:
//! its password, and whether to trust a host whose key changed.

use super::state::{AppState, Ask};
use super::{look, text};
use crate::bridge::{PasswordNeed, SessionState};
use crate::net::identity::PublicKey;
use crate::protocol::RoomId;
use crate::store::{Change, Theme};
use egui::{Key, Modal, RichText};

/// A one-field dialog's draft and its latest complaint.
#[derive(Debug, Clone, Default)]
pub struct Field {
    /// What is typed.
    pub text: String,
    /// Why the last confirmation was refused, shown under the field.
    pub error: Option<String>,
}

/// "Host a room" as it is being filled in.
#[derive(Debug, Clone, Default)]
pub struct HostDraft {
    /// The room's name.
    pub name: Field,
    /// An optional password; empty for an open room.
    pub password: String,
}

/// "Settings" as they are being changed, in the units shown.
#[derive(Debug, Clone, PartialEq)]
pub struct SettingsDraft {
    /// Files each hosted room keeps, in GB.
    pub files_limit_gb: f64,
    /// Files saved without asking up to this size, in MB.
    pub auto_save_mb: f64,
    /// Host the rooms open at exit again at start.
    pub reopen_rooms: bool,
}

impl SettingsDraft {
    fn of(state: &AppState) -> Self {
        Self {
            files_limit_gb: state.preferences.files_limit as f64 / 1e9,
            auto_save_mb: state.preferences.auto_save as f64 / 1e6,
            reopen_rooms: state.preferences.reopen_rooms,
        }
    }

    /// Sends what changed to the runtime (which keeps it) and shows it from now on.
    fn apply(&self, state: &mut AppState) {
        let changes = [
            Change::FilesLimit((self.files_limit_gb * 1e9).round() as u64),
            Change::AutoSave((self.auto_save_mb * 1e6).round() as u64),
            Change::ReopenRooms(self.reopen_rooms),
        ];
        for change in changes {
            state.preferences.change(change, &mut state.outbox);
        }
    }
}

/// Which dialogs are open.
#[derive(Default)]
pub struct Dialogs {
    /// "Host a room", with the room name and password being typed.
    pub host: Option<HostDraft>,
    /// The password being typed for the open room, while it asks for one.
    pub password: Option<(RoomId, String)>,
    /// "Your name", with the name being typed.
    pub name: Option<Field>,
    /// "Settings", as they are being changed.
    pub settings: Option<SettingsDraft>,
    /// "Join by address", with the address being typed.
    pub join: Option<Field>,
    /// The network diagnostics panel, while open.
    pub network: Option<super::diagnostics::Panel>,
}

/// What a dialog's buttons said this frame.
enum Outcome {
    Open,
    Confirm,
    Cancel,
}

impl Dialogs {
    pub fn open_host(&mut self, suggestion: String) {
        self.host = Some(HostDraft {
            name: Field {
                text: suggestion,
                error: None,
            },
            password: String::new(),
        });
    }

    pub fn open_join(&mut self) {
        self.join = Some(Field {
            text: String::new(),
            error: None,
        });
    }

    pub fn open_network(&mut self) {
        self.network.get_or_insert_default();
    }

    pub fn open_settings(&mut self, state: &AppState) {
        self.settings = Some(SettingsDraft::of(state));
    }

    pub fn open_name(&mut self, current: String) {
        self.name = Some(Field {
            text: current,
            error: None,
        });
    }

    pub fn show(&mut self, ctx: &egui::Context, state: &mut AppState) {
        if state.needs_name && self.name.is_none() {
            self.open_name(state.name.clone());
        }
        if let Some(field) = &mut self.name {
            let first = state.needs_name;
            let title = if first {
                "Welcome to lanchat"
            } else {
                "Your name"
            };
            let text = "What should others in the rooms call you?";
            match field_dialog(
                ctx,
                "name_dialog",
                title,
                text,
                "Your name",
                "Continue",
                !first,
                field,
            ) {
                Outcome::Confirm => match state.set_name(&field.text) {
                    Ok(()) => self.name = None,
                    Err(e) => field.error = Some(e),
                },
                Outcome::Cancel => self.name = None,
                Outcome::Open => {}
            }
        }
        if let Some(draft) = &mut self.settings {
            match settings_dialog(ctx, state, draft) {
                Outcome::Confirm => {
                    draft.apply(state);
                    self.settings = None;
                }
                Outcome::Cancel => self.settings = None,
                Outcome::Open => {}
            }
        }
        if let Some(draft) = &mut self.host {
            match host_dialog(ctx, draft) {
                Outcome::Confirm => match state.host(&draft.name.text, &draft.password) {
                    Ok(()) => self.host = None,
                    Err(e) => draft.name.error = Some(e),
                },
                Outcome::Cancel => self.host = None,
                Outcome::Open => {}
            }
        }
        if let Some(panel) = &mut self.network {
            use super::diagnostics::Shown;
            match panel.show(ctx, state) {
                Shown::Open => {}
                Shown::Closed => self.network = None,
                Shown::JoinByAddress => self.open_join(),
            }
        }
        if let Some(field) = &mut self.join {
            match join_dialog(ctx, state, field) {
                Outcome::Confirm => {
                    state.join_probed();
                    self.join = None;
                }
                Outcome::Cancel => {
                    state.rooms.probe = None;
                    self.join = None;
                }
                Outcome::Open => {}
            }
        }
        self.room_questions(ctx, state);
        if let Some(ask) = state.asking.clone() {
            ask_dialog(ctx, state, &ask);
        }
    }

    /// What the open room asks before it can be joined: its password, or whether to trust
    /// its host's new key.
    fn room_questions(&mut self, ctx: &egui::Context, state: &mut AppState) {
        let Some(room) = state.open.clone() else {
            self.password = None;
            return;
        };
        let Some(chat) = state.chats.get(&room) else {
            return;
        };
        let room_name = text::name(&chat.room_name).into_owned();
        if chat.lookalike {
            let host = text::name(&chat.host_name).into_owned();
            match lookalike_dialog(ctx, &room_name, &host) {
                Outcome::Confirm => state.join_lookalike(&room),
                Outcome::Cancel => state.leave(&room),
                Outcome::Open => {}
            }
            return;
        }
        match chat.state.clone() {
            SessionState::NeedsPassword(need) => {
                if self.password.as_ref().is_none_or(|(r, _)| *r != room) {
                    self.password = Some((room.clone(), String::new()));
                }
                let Some((_, typed)) = &mut self.password else {
                    return;
                };
                match password_dialog(ctx, &room_name, need, typed) {
                    Outcome::Confirm => {
                        if state.give_password(&room, typed).is_ok() {
                            typed.clear();
                        }
                    }
                    Outcome::Cancel => {
                        self.password = None;
                        state.leave(&room);
                    }
                    Outcome::Open => {}
                }
            }
            SessionState::KeyChanged { known, presented } => {
                match key_dialog(ctx, &room_name, &known, &presented) {
                    Outcome::Confirm => state.trust_new_key(&room, presented),
                    Outcome::Cancel => state.leave(&room),
                    Outcome::Open => {}
                }
            }
            _ => self.password = None,
        }
    }
}

/// A room named like one joined before, but another room: joined only if the user says so.
fn lookalike_dialog(ctx: &egui::Context, room_name: &str, host: &str) -> Outcome {
    let modal = Modal::new(egui::Id::unique("lookalike_dialog")).show(ctx, |ui| {
        ui.set_width(380.0);
        ui.heading(format!("⚠ Not the {room_name} you joined before"));
        ui.label(format!(
            "This is another room with the same name, hosted by {host}. It may be another machine pretending to be the room you know. Join it only if you expected a new room of that name."
        ));
        ui.add_space(8.0);
        let mut outcome = Outcome::Open;
        ui.horizontal(|ui| {
            if ui.button("Stay out").clicked() {
                outcome = Outcome::Cancel;
            }
            if ui.button("Join this other room").clicked() {
                outcome = Outcome::Confirm;
            }
        });
        outcome
    });
    modal.inner
}

/// "Host a room": its name, and an optional password.
fn host_dialog(ctx: &egui::Context, draft: &mut HostDraft) -> Outcome {
    let modal = Modal::new(egui::Id::unique("host_dialog")).show(ctx, |ui| {
        ui.set_width(340.0);
        ui.heading("Host a room");
        ui.label("Everyone on this network will see the room.");
        ui.add_space(8.0);
        let enter = ui.input(|i| i.key_pressed(Key::Enter));
        let label = ui.label("Room name");
        let name = ui
            .add(egui::TextEdit::singleline(&mut draft.name.text).desired_width(f32::INFINITY))
            .labelled_by(label.id);
        if ui.memory(|m| m.focused().is_none()) {
            take_focus_selected(ui, &name, &draft.name.text);
        }
        if let Some(error) = &draft.name.error {
            ui.colored_label(ui.visuals().error_fg_color, error);
        }
        ui.add_space(6.0);
        let label = ui.label("Password (optional)");
        let password = ui
            .add(
                egui::TextEdit::singleline(&mut draft.password)
                    .password(true)
                    .hint_text("anyone can join")
                    .desired_width(f32::INFINITY),
            )
            .labelled_by(label.id);
        ui.label(
            RichText::new(if draft.password.is_empty() {
                "Without a password, anyone on this network can join."
            } else {
                "Only people who know the password can join. It never crosses the network."
            })
            .small()
            .weak(),
        );
        ui.add_space(8.0);
        let mut outcome = Outcome::Open;
        ui.horizontal(|ui| {
            let typed = name.has_focus()
                || name.lost_focus()
                || password.has_focus()
                || password.lost_focus();
            if ui.button("Host").clicked() || (enter && typed) {
                outcome = Outcome::Confirm;
            }
            if ui.button("Cancel").clicked() {
                outcome = Outcome::Cancel;
            }
        });
        outcome
    });
    if modal.should_close() && matches!(modal.inner, Outcome::Open) {
        return Outcome::Cancel;
    }
    modal.inner
}

/// Asks for a locked room's password; `need` says why (first ask, or wrong).
fn password_dialog(
    ctx: &egui::Context,
    room: &str,
    need: PasswordNeed,
    typed: &mut String,
) -> Outcome {
    let modal = Modal::new(egui::Id::unique("password_dialog")).show(ctx, |ui| {
        ui.set_width(340.0);
        ui.heading(format!("🔒 {room}"));
        ui.label("This room needs a password.");
        if need != PasswordNeed::Missing {
            let why = capitalized(&need.to_string());
            ui.colored_label(ui.visuals().error_fg_color, why);
        }
        ui.add_space(8.0);
        let enter = ui.input(|i| i.key_pressed(Key::Enter));
        let label = ui.label("Password");
        let edit = ui
            .add(
                egui::TextEdit::singleline(typed)
                    .password(true)
                    .desired_width(f32::INFINITY),
            )
            .labelled_by(label.id);
        if ui.memory(|m| m.focused().is_none()) {
            edit.request_focus();
        }
        ui.add_space(8.0);
        let mut outcome = Outcome::Open;
        ui.horizontal(|ui| {
            let ready = !typed.is_empty();
            if ui.add_enabled(ready, egui::Button::new("Join")).clicked()
                || (ready && enter && (edit.has_focus() || edit.lost_focus()))
            {
                outcome = Outcome::Confirm;
            }
            if ui.button("Stay out").clicked() {
                outcome = Outcome::Cancel;
            }
        });
        outcome
    });
    if modal.should_close() && matches!(modal.inner, Outcome::Open) {
        return Outcome::Cancel;
    }
    modal.inner
}

/// Warns that a room's host presents another key than before, with both fingerprints, and
/// asks whether to trust the new one.
fn key_dialog(ctx: &egui::Context, room: &str, known: &str, presented: &PublicKey) -> Outcome {
    let modal = Modal::new(egui::Id::unique("key_dialog")).show(ctx, |ui| {
        ui.set_width(420.0);
        ui.heading(format!("⚠ {room} may not be the room you know"));
        ui.add_space(4.0);
        ui.label(
            "Its host now proves a different key than when you joined before. It may be a \
             different machine pretending to be this room, or the host may have reinstalled \
             lanchat or moved to another computer. Nothing has been sent to it.",
        );
        ui.add_space(8.0);
        egui::Grid::new("fingerprints").num_columns(2).show(ui, |ui| {
            ui.label("Before");
            ui.label(RichText::new(known).monospace().strong());
            ui.end_row();
            ui.label("Now");
            ui.label(
                RichText::new(presented.fingerprint())
                    .monospace()
                    .strong()
                    .color(ui.visuals().warn_fg_color),
            );
            ui.end_row();
        });
        ui.add_space(8.0);
        ui.label("Ask the host to read their fingerprint to you (it is shown at the top of their window). Trust the new key only if it matches.");
        ui.add_space(8.0);
        let mut outcome = Outcome::Open;
        ui.horizontal(|ui| {
            if ui.button("Stay out").clicked() {
                outcome = Outcome::Cancel;
            }
            if ui.button("Trust the new key").clicked() {
                outcome = Outcome::Confirm;
            }
        });
        outcome
    });
    modal.inner
}

/// A reason with its first letter capitalized, as a sentence.
fn capitalized(reason: &str) -> String {
    let mut chars = reason.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[allow(clippy::too_many_arguments)]
fn field_dialog(
    ctx: &egui::Context,
    id: &str,
    title: &str,
    text: &str,
    label: &str,
    confirm: &str,
    cancellable: bool,
    field: &mut Field,
) -> Outcome {
    let modal = Modal::new(egui::Id::unique(id)).show(ctx, |ui| {
        ui.set_width(320.0);
        ui.heading(title);
        ui.label(text);
        ui.add_space(8.0);
        let label = ui.label(label);
        // Read before the field, which takes the key for itself.
        let enter = ui.input(|i| i.key_pressed(Key::Enter));
        let edit = ui
            .add(egui::TextEdit::singleline(&mut field.text).desired_width(f32::INFINITY))
            .labelled_by(label.id);
        if ui.memory(|m| m.focused().is_none()) {
            take_focus_selected(ui, &edit, &field.text);
        }
        if let Some(error) = &field.error {
            ui.colored_label(ui.visuals().error_fg_color, error);
        }
        ui.add_space(8.0);
        let mut outcome = Outcome::Open;
        ui.horizontal(|ui| {
            if ui.button(confirm).clicked() || (enter && (edit.has_focus() || edit.lost_focus())) {
                outcome = Outcome::Confirm;
            }
            if cancellable && ui.button("Cancel").clicked() {
                outcome = Outcome::Cancel;
            }
        });
        outcome
    });
    if cancellable && modal.should_close() && matches!(modal.inner, Outcome::Open) {
        return Outcome::Cancel;
    }
    modal.inner
}

/// Gives a field the keyboard with its text selected: a suggestion (the name at first
/// start, "Ada's room") is replaced by typing, not typed after.
fn take_focus_selected(ui: &egui::Ui, field: &egui::Response, text: &str) {
    field.request_focus();
    let mut state = egui::text_edit::TextEditState::load(ui.ctx(), field.id).unwrap_or_default();
    state
        .cursor
        .set_char_range(Some(egui::text::CCursorRange::select_all_str(text)));
    state.store(ui.ctx(), field.id);
}

/// "Join by address": the address typed, what is there, and a button to join it.
fn join_dialog(ctx: &egui::Context, state: &mut AppState, field: &mut Field) -> Outcome {
    use super::state::Probing;
    let modal = Modal::new(egui::Id::unique("join_dialog")).show(ctx, |ui| {
        ui.set_width(380.0);
        ui.heading("Join by address");
        ui.label(
            "For a room the list does not show (a network that blocks discovery): ask its host \
             for the address and port at the bottom of their window.",
        );
        ui.add_space(8.0);
        let label = ui.label("Address");
        let enter = ui.input(|i| i.key_pressed(Key::Enter));
        let edit = ui
            .add(
                egui::TextEdit::singleline(&mut field.text)
                    .hint_text("192.168.1.20:40123")
                    .desired_width(f32::INFINITY),
            )
            .labelled_by(label.id);
        if ui.memory(|m| m.focused().is_none()) {
            edit.request_focus();
        }
        let typed = edit.has_focus() || edit.lost_focus();
        if let Some(error) = &field.error {
            ui.colored_label(ui.visuals().error_fg_color, error);
        }
        let probe = state
            .rooms
            .probe
            .as_ref()
            .filter(|p| p.addr == field.text.trim());
        let found = match probe.map(|p| &p.found) {
            Some(Probing::Asking) => {
                ui.label(RichText::new("Asking…").weak());
                None
            }
            Some(Probing::Failed(why)) => {
                ui.colored_label(ui.visuals().error_fg_color, why);
                None
            }
            Some(Probing::Found(ad)) => {
                let people = if ad.members == 1 {
                    "1 member".to_owned()
                } else {
                    format!("{} members", ad.members)
                };
                ui.strong(text::name(&ad.name));
                ui.label(format!(
                    "hosted by {} · {people}{}",
                    text::name(&ad.host),
                    if ad.locked { " · 🔒 password" } else { "" }
                ));
                if let Some(fp) = &ad.fingerprint {
                    ui.label(
                        RichText::new(format!("host key 🔑 {fp}"))
                            .monospace()
                            .small(),
                    )
                    .on_hover_text(
                        "Compare it with the one the host sees at the top of their window",
                    );
                }
                Some(())
            }
            None => None,
        };
        ui.add_space(8.0);
        let mut outcome = Outcome::Open;
        ui.horizontal(|ui| {
            if found.is_some() {
                if ui.button("Join").clicked() || (enter && typed) {
                    outcome = Outcome::Confirm;
                }
            } else if ui.button("Look").clicked() || (enter && typed) {
                field.error = state.rooms.probe(&field.text, &mut state.outbox).err();
            }
            if ui.button("Cancel").clicked() {
                outcome = Outcome::Cancel;
            }
        });
        outcome
    });
    if modal.should_close() && matches!(modal.inner, Outcome::Open) {
        return Outcome::Cancel;
    }
    modal.inner
}

fn settings_dialog(
    ctx: &egui::Context,
    state: &mut AppState,
    draft: &mut SettingsDraft,
) -> Outcome {
    let modal = Modal::new(egui::Id::unique("settings_dialog")).show(ctx, |ui| {
        ui.set_width(420.0);
        ui.heading("Settings");
        ui.add_space(8.0);
        ui.strong("Received files are saved in");
        ui.horizontal(|ui| {
            let dir = state
                .files
                .downloads_dir
                .as_ref()
                .map(|d| d.display().to_string())
                .unwrap_or_default();
            ui.label(dir);
            if ui.button("Change…").clicked() {
                state.pick_downloads();
            }
        });
        ui.add_space(8.0);
        ui.horizontal(|ui| {
            let label = ui.label("Save files others share by themselves up to");
            ui.add(
                egui::DragValue::new(&mut draft.auto_save_mb)
                    .range(0.0..=1_000_000.0)
                    .speed(1.0)
                    .suffix(" MB"),
            )
            .labelled_by(label.id);
        });
        ui.label(
            RichText::new("Larger ones show their size and wait for you to press Download.")
                .small()
                .weak(),
        );
        ui.add_space(8.0);
        ui.horizontal_wrapped(|ui| {
            let label = ui.label("Rooms you host keep up to");
            ui.add(
                egui::DragValue::new(&mut draft.files_limit_gb)
                    .range(0.1..=10_000.0)
                    .speed(0.5)
                    .suffix(" GB"),
            )
            .labelled_by(label.id);
            ui.label("of shared files for people who join later; the oldest go first.");
        });
        ui.add_space(8.0);
        ui.horizontal_wrapped(|ui| {
            ui.label("Look");
            for (theme, words) in [
                (Theme::System, "As the system"),
                (Theme::Light, "Light"),
                (Theme::Dark, "Dark"),
            ] {
                if ui.radio(state.preferences.theme == theme, words).clicked() {
                    state
                        .preferences
                        .change(Change::Theme(theme), &mut state.outbox);
                }
            }
        });
        ui.horizontal(|ui| {
            let zoom = ui.ctx().zoom_factor();
            ui.label("Size");
            if ui
                .add_enabled(zoom > *look::ZOOM.start(), egui::Button::new("Smaller"))
                .on_hover_text("Ctrl+minus")
                .clicked()
            {
                ui.ctx().set_zoom_factor(zoom - 0.1);
            }
            ui.label(format!("{:.0} %", zoom * 100.0));
            if ui
                .add_enabled(zoom < *look::ZOOM.end(), egui::Button::new("Larger"))
                .on_hover_text("Ctrl+plus")
                .clicked()
            {
                ui.ctx().set_zoom_factor(zoom + 0.1);
            }
        });
        ui.add_space(8.0);
        ui.checkbox(
            &mut draft.reopen_rooms,
            "Reopen my rooms when lanchat starts",
        )
        .on_hover_text("The rooms you host that were open when lanchat stopped open again");
        ui.add_space(8.0);
        let mut outcome = Outcome::Open;
        ui.horizontal(|ui| {
            if ui.button("Done").clicked() {
                outcome = Outcome::Confirm;
            }
            if ui.button("Cancel").clicked() {
                outcome = Outcome::Cancel;
            }
        });
        outcome
    });
    if modal.should_close() && matches!(modal.inner, Outcome::Open) {
        return Outcome::Cancel;
    }
    modal.inner
}

/// Asks before sending people out of rooms we host: closing one, or quitting.
fn ask_dialog(ctx: &egui::Context, state: &mut AppState, ask: &Ask) {
    let modal = Modal::new(egui::Id::unique("ask_dialog")).show(ctx, |ui| {
        ui.set_width(400.0);
        match ask {
            Ask::CloseRoom(room) => {
                let name = state
                    .rooms
                    .hosting
                    .get(room)
                    .map(|(name, ..)| text::name(name).into_owned())
                    .unwrap_or_default();
                let people = state.guests(Some(room));
                ui.heading(format!("Close {name}?"));
                ui.label(format!(
                    "{} in it. Closing the room sends everyone out; you can open it again later, \
                     with its history.",
                    people_are(people)
                ));
                ui.add_space(8.0);
                ui.horizontal(|ui| {
                    if ui.button("Close the room").clicked() {
                        state.asking = None;
                        state.leave(room);
                    }
                    if ui.button("Keep it open").clicked() {
                        state.asking = None;
                    }
                });
            }
            Ask::Quit { people } => {
                ui.heading("Quit lanchat?");
                ui.label(format!(
                    "{} in your rooms. If lanchat quits, your rooms close for them.",
                    people_are(*people)
                ));
                ui.add_space(8.0);
                ui.vertical(|ui| {
                    if ui
                        .button("Keep hosting in the background")
                        .on_hover_text("The window goes away; your rooms stay open")
                        .clicked()
                    {
                        state.asking = None;
                        ui.ctx()
                            .send_viewport_cmd(egui::ViewportCommand::Minimized(true));
                    }
                    if ui.button("Close my rooms and quit").clicked() {
                        state.asking = None;
                        state.quitting = true;
                        ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close);
                    }
                    if ui.button("Cancel").clicked() {
                        state.asking = None;
                    }
                });
            }
        }
    });
    if modal.should_close() {
        state.asking = None;
    }
}

/// "1 person is", "3 people are".
fn people_are(n: usize) -> String {
    if n == 1 {
        "1 person is".to_owned()
    } else {
        format!("{n} people are")
    }
}
