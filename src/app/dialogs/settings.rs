//! "Settings": files kept per hosted room, files saved without asking, rooms reopened at
//! start, starting at login, and the look.

use super::{AppState, Outcome, outcome_of};
use crate::app::look;
use crate::store::{Change, Theme};
use egui::{Modal, RichText};

/// "Settings" as they are being changed, in the units shown.
#[derive(Debug, Clone, PartialEq)]
pub struct SettingsDraft {
    /// Files each hosted room keeps, in GB.
    pub files_limit_gb: f64,
    /// Files saved without asking up to this size, in MB.
    pub auto_save_mb: f64,
    /// Host the rooms open at exit again at start.
    pub reopen_rooms: bool,
    /// Start lanchat when the user logs in.
    pub start_at_login: bool,
}

impl SettingsDraft {
    pub(super) fn of(state: &AppState) -> Self {
        Self {
            files_limit_gb: state.preferences.files_limit as f64 / 1e9,
            auto_save_mb: state.preferences.auto_save as f64 / 1e6,
            reopen_rooms: state.preferences.reopen_rooms,
            start_at_login: state.preferences.start_at_login,
        }
    }

    /// Sends what changed to the runtime (which keeps it) and shows it from now on.
    pub(super) fn apply(&self, state: &mut AppState) {
        let changes = [
            Change::FilesLimit((self.files_limit_gb * 1e9).round() as u64),
            Change::AutoSave((self.auto_save_mb * 1e6).round() as u64),
            Change::ReopenRooms(self.reopen_rooms),
            Change::StartAtLogin(self.start_at_login),
        ];
        for change in changes {
            state.preferences.change(change, &mut state.outbox);
        }
    }
}

pub(super) fn settings_dialog(
    ctx: &egui::Context,
    state: &mut AppState,
    draft: &mut SettingsDraft,
) -> Outcome {
    let modal = Modal::new(egui::Id::unique("settings_dialog")).show(ctx, |ui| {
        ui.set_width(420.0);
        ui.heading("Settings");
        ui.add_space(8.0);
        files_section(ui, state, draft);
        ui.add_space(8.0);
        look_section(ui, state);
        ui.add_space(8.0);
        ui.checkbox(
            &mut draft.reopen_rooms,
            "Reopen my rooms when lanchat starts",
        )
        .on_hover_text("The rooms you host that were open when lanchat stopped open again");
        ui.checkbox(&mut draft.start_at_login, "Start lanchat when I log in")
            .on_hover_text(
                "So your rooms are open and messages reach you without starting it yourself",
            );
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
    outcome_of(modal)
}

/// Where received files go, which are saved by themselves, and what hosted rooms keep.
fn files_section(ui: &mut egui::Ui, state: &mut AppState, draft: &mut SettingsDraft) {
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
        let range = 0.0..=1_000_000.0;
        number(ui, "auto_save_mb", &mut draft.auto_save_mb, range, "MB").labelled_by(label.id);
    });
    ui.label(
        RichText::new("Larger ones show their size and wait for you to press Download.")
            .small()
            .weak(),
    );
    ui.add_space(8.0);
    ui.horizontal_wrapped(|ui| {
        let label = ui.label("Rooms you host keep up to");
        let range = 0.1..=10_000.0;
        number(ui, "files_limit_gb", &mut draft.files_limit_gb, range, "GB").labelled_by(label.id);
        ui.label("of shared files for people who join later; the oldest go first.");
    });
}

/// A number typed in a field, its unit beside it (a DragValue looked like a button and lost
/// its unit while edited). Text that is not a number in `range` leaves `value` as it was;
/// the field keeps what is typed while it has the keyboard.
fn number(
    ui: &mut egui::Ui,
    salt: &str,
    value: &mut f64,
    range: std::ops::RangeInclusive<f64>,
    unit: &str,
) -> egui::Response {
    let id = ui.make_persistent_id(salt);
    let shown = || {
        let text = format!("{value:.1}");
        text.strip_suffix(".0").map(str::to_owned).unwrap_or(text)
    };
    let mut text = ui.data(|d| d.get_temp::<String>(id)).unwrap_or_else(shown);
    let response = ui.add(egui::TextEdit::singleline(&mut text).desired_width(64.0));
    if response.changed()
        && let Ok(typed) = text.trim().replace(',', ".").parse::<f64>()
        && range.contains(&typed)
    {
        *value = typed;
    }
    let editing = response.has_focus();
    ui.data_mut(|d| {
        if editing {
            d.insert_temp(id, text);
        } else {
            d.remove::<String>(id);
        }
    });
    ui.label(unit);
    response
}

/// The theme (applied at once) and the size of everything (the window's zoom).
fn look_section(ui: &mut egui::Ui, state: &mut AppState) {
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
}
