//! The two small dialogs: the display name (at first start, and when changing it) and
//! "Host a room".

use super::state::AppState;
use egui::{Key, Modal};

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
    /// "Host a room", with the room name being typed.
    pub host: Option<Field>,
    /// "Your name", with the name being typed.
    pub name: Option<Field>,
    /// "Settings", with the file limit being set, in GB.
    pub settings: Option<f64>,
}

/// What a dialog's buttons said this frame.
enum Outcome {
    Open,
    Confirm,
    Cancel,
}

impl Dialogs {
    pub fn open_host(&mut self, suggestion: String) {
        self.host = Some(Field {
            text: suggestion,
            error: None,
        });
    }

    pub fn open_settings(&mut self, files_limit: u64) {
        self.settings = Some(files_limit as f64 / 1e9);
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
        if let Some(limit_gb) = &mut self.settings {
            match settings_dialog(ctx, state, limit_gb) {
                Outcome::Confirm => {
                    let limit = (*limit_gb * 1e9) as u64;
                    if limit != state.files_limit {
                        state.files_limit = limit;
                        state
                            .outbox
                            .push(crate::bridge::Command::SetFilesLimit(limit));
                    }
                    self.settings = None;
                }
                Outcome::Cancel => self.settings = None,
                Outcome::Open => {}
            }
        }
        if let Some(field) = &mut self.host {
            let text = "Everyone on this network will see the room and can join it.";
            match field_dialog(
                ctx,
                "host_dialog",
                "Host a room",
                text,
                "Room name",
                "Host",
                true,
                field,
            ) {
                Outcome::Confirm => match state.host(&field.text) {
                    Ok(()) => self.host = None,
                    Err(e) => field.error = Some(e),
                },
                Outcome::Cancel => self.host = None,
                Outcome::Open => {}
            }
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
            edit.request_focus();
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

fn settings_dialog(ctx: &egui::Context, state: &mut AppState, limit_gb: &mut f64) -> Outcome {
    let modal = Modal::new(egui::Id::unique("settings_dialog")).show(ctx, |ui| {
        ui.set_width(420.0);
        ui.heading("Settings");
        ui.add_space(8.0);
        ui.strong("Received files are saved in");
        ui.horizontal(|ui| {
            let dir = state
                .downloads_dir
                .as_ref()
                .map(|d| d.display().to_string())
                .unwrap_or_default();
            ui.label(dir);
            if ui.button("Change…").clicked() {
                state.outbox.push(crate::bridge::Command::PickDownloads);
            }
        });
        ui.add_space(8.0);
        ui.horizontal(|ui| {
            let label = ui.label("Rooms you host keep up to");
            ui.add(
                egui::DragValue::new(limit_gb)
                    .range(0.1..=10_000.0)
                    .speed(0.5)
                    .suffix(" GB"),
            )
            .labelled_by(label.id);
            ui.label("of shared files for people who join later; the oldest go first.");
        });
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
