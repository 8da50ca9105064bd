//! The questions a room asks on joining: whether to join a room named like one joined
//! before, its password, and whether to trust a host whose key changed.

use super::{Outcome, outcome_of};
use crate::bridge::PasswordNeed;
use crate::net::identity::PublicKey;
use egui::{Key, Modal, RichText};

/// A room named like one joined before, but another room: joined only if the user says so.
pub(super) fn lookalike_dialog(ctx: &egui::Context, room_name: &str, host: &str) -> Outcome {
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

/// Asks for a locked room's password; `need` says why (first ask, or wrong), and
/// `checking`, while one given is tried, says so instead.
pub(super) fn password_dialog(
    ctx: &egui::Context,
    room: &str,
    need: PasswordNeed,
    checking: Option<&str>,
    typed: &mut String,
) -> Outcome {
    let modal = Modal::new(egui::Id::unique("password_dialog")).show(ctx, |ui| {
        ui.set_width(340.0);
        ui.heading(format!("🔒 {room}"));
        ui.label("This room needs a password.");
        if let Some(checking) = checking {
            ui.horizontal(|ui| {
                ui.add(egui::Spinner::new());
                ui.label(checking);
            });
        } else if need != PasswordNeed::Missing {
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
            let ready = !typed.is_empty() && checking.is_none();
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
    outcome_of(modal)
}

/// Warns that a room's host presents another key than before, with both fingerprints, and
/// asks whether to trust the new one.
pub(super) fn key_dialog(
    ctx: &egui::Context,
    room: &str,
    known: &str,
    presented: &PublicKey,
) -> Outcome {
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
