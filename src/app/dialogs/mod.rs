//! The dialogs: the display name (at first start, and when changing it), "Host a room"
//! (with an optional password), settings, and the two questions a room can ask on joining:
//! its password, and whether to trust a host whose key changed.

mod ask;
mod host;
mod join;
mod room;
mod settings;

use super::state::AppState;
use super::text;
use crate::bridge::{PasswordNeed, SessionState, Waiting};
use crate::protocol::RoomId;
use ask::ask_dialog;
use egui::{Key, Modal};
pub use host::HostDraft;
use host::host_dialog;
use join::join_dialog;
use room::{key_dialog, lookalike_dialog, password_dialog};
pub use settings::SettingsDraft;
use settings::settings_dialog;

/// A one-field dialog's draft and its latest complaint.
#[derive(Debug, Clone, Default)]
pub struct Field {
    /// What is typed.
    pub text: String,
    /// Why the last confirmation was refused, shown under the field.
    pub error: Option<String>,
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
        state.set_diagnosing(self.network.is_some());
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
        // While a password given is tried, its dialog stays and says so.
        let checking = chat.checking_password.then(|| match &chat.state {
            SessionState::Waiting(Waiting::Slowed { secs, .. }) => format!(
                "Checking… the host waits {secs} s after a wrong password before it tries another"
            ),
            _ => "Checking…".to_owned(),
        });
        let asking = match (&chat.state, &checking) {
            (SessionState::NeedsPassword(need), _) => Some(*need),
            (_, Some(_)) => Some(PasswordNeed::Missing),
            _ => None,
        };
        match (chat.state.clone(), asking) {
            (_, Some(need)) => {
                if self.password.as_ref().is_none_or(|(r, _)| *r != room) {
                    self.password = Some((room.clone(), String::new()));
                }
                let Some((_, typed)) = &mut self.password else {
                    return;
                };
                match password_dialog(ctx, &room_name, need, checking.as_deref(), typed) {
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
            (SessionState::KeyChanged { known, presented }, None) => {
                match key_dialog(ctx, &room_name, &known, &presented) {
                    Outcome::Confirm => state.trust_new_key(&room, presented),
                    Outcome::Cancel => state.stay_out(&room, presented),
                    Outcome::Open => {}
                }
            }
            _ => self.password = None,
        }
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

/// What a dialog's buttons said, where closing it (Escape, a click outside) is a cancel.
fn outcome_of(modal: egui::ModalResponse<Outcome>) -> Outcome {
    if modal.should_close() && matches!(modal.inner, Outcome::Open) {
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
