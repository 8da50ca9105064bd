//! Searching the rooms' histories and direct messages from the window: the field in the top
//! bar (Ctrl+F), the results beside the open room (newest first: room or person, sender,
//! time, and the words around the match with the matched ones in bold; 📎 for a shared
//! file, found by its name too), and a result clicked shown in its room or conversation.
//!
//! The state (no egui) is [`crate::app::state::search`]; [`field`] and [`show`] draw it.

use super::state::search::Answer;
use super::state::{AppState, clock};
use super::text;

use crate::store::{Hit, Place, fts_query};
use egui::{Key, Modifiers, RichText};

/// The search field, for the top bar. Ctrl+F takes the keyboard to it; Enter opens the
/// newest result; Escape empties it and hides the results.
pub fn field(ui: &mut egui::Ui, state: &mut AppState, width: f32) {
    let find = ui.input_mut(|i| i.consume_key(Modifiers::COMMAND, Key::F));
    let mut typed = state.search.query.clone();
    let response = ui.add(
        egui::TextEdit::singleline(&mut typed)
            .hint_text("🔍 Search messages")
            .desired_width(width),
    );
    let response = response.accessible_name("Search messages").on_hover_text(
        "Search the messages and files of your rooms, and your direct messages (Ctrl+F)",
    );
    if find {
        response.request_focus();
    }
    if response.gained_focus() && !state.search.query.trim().is_empty() {
        state.search.shown = true;
    }
    if response.changed() {
        state.search_for(&typed);
    }
    if response.lost_focus() {
        if ui.input(|i| i.key_pressed(Key::Escape)) {
            state.search.close();
        } else if ui.input(|i| i.key_pressed(Key::Enter))
            && let Some(Answer {
                found: Ok(found), ..
            }) = &state.search.answer
            && let Some(first) = found.hits.iter().find(|h| state.reach_hit(h).is_ok())
        {
            let first = first.clone();
            state.open_hit(&first);
        }
    }
}

/// Below this width (points) right of the room list the results take the room's place
/// (until one is chosen) instead of sitting beside it.
const BESIDE: f32 = 720.0;

/// Draws the results, if shown: beside the open room, or in its place in a narrow window.
/// Returns whether they took the room's place.
pub fn show(ui: &mut egui::Ui, state: &mut AppState) -> bool {
    if !state.search.shown {
        return false;
    }
    if ui.available_width() >= BESIDE {
        egui::Panel::right("search")
            .default_size(300.0)
            .resizable(true)
            .show(ui, |ui| results(ui, state));
        return false;
    }
    egui::CentralPanel::default().show(ui, |ui| {
        if results(ui, state) {
            // The room chosen is shown instead; the field brings the results back.
            state.search.shown = false;
        }
    });
    true
}

/// The results, newest first. Returns whether one was chosen and its room opened.
fn results(ui: &mut egui::Ui, state: &mut AppState) -> bool {
    ui.add_space(4.0);
    ui.horizontal(|ui| {
        ui.strong("Search results");
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            if ui
                .small_button("✖")
                .on_hover_text("Close the search (Escape)")
                .accessible_name("Close the search")
                .clicked()
            {
                state.search.close();
            }
        });
    });
    ui.separator();
    if let Some(note) = &state.search.note {
        ui.colored_label(ui.visuals().warn_fg_color, note);
    }
    let Some(answer) = &state.search.answer else {
        let said = match fts_query(&state.search.query) {
            Some(_) => "Searching…",
            None => "Type a word to look for.",
        };
        ui.label(RichText::new(said).weak());
        return false;
    };
    if !state.search.current() {
        ui.label(RichText::new("Searching…").weak());
    }
    let found = match &answer.found {
        Ok(found) => found,
        Err(why) => {
            ui.colored_label(ui.visuals().error_fg_color, why.to_string());
            return false;
        }
    };
    if found.hits.is_empty() {
        ui.label(
            RichText::new(format!(
                "No messages match \u{201c}{}\u{201d}.",
                answer.query.trim()
            ))
            .weak(),
        );
        return false;
    }
    let mut chosen = None;
    egui::ScrollArea::vertical()
        .id_salt("search_results")
        .auto_shrink(false)
        .show(ui, |ui| {
            for hit in &found.hits {
                if result(ui, state, hit) {
                    chosen = Some(hit.clone());
                }
            }
            if found.more {
                ui.label(
                    RichText::new(format!(
                        "Only the {} newest are shown: more words narrow it down.",
                        found.hits.len()
                    ))
                    .small()
                    .weak(),
                );
            }
        });
    let Some(hit) = chosen else {
        return false;
    };
    state.open_hit(&hit);
    state.search.note.is_none()
}

/// One result: its room (or ✉ and the person, for a direct message), sender and time over the
/// words around the match, the matched ones in bold (📎 before a shared file's); with why it
/// cannot be opened, if so. Returns whether it was clicked.
fn result(ui: &mut egui::Ui, state: &AppState, hit: &Hit) -> bool {
    let style = ui.style().clone();
    let mut job = egui::text::LayoutJob::default();
    let mut add = |text: RichText| {
        text.append_to(
            &mut job,
            &style,
            egui::FontSelection::Default,
            egui::Align::Min,
        )
    };
    let place = text::name(&state.place_name_of(hit)).into_owned();
    let (place, sender) = match &hit.place {
        Place::Direct { outgoing: true, .. } => (format!("✉ {place}"), "You".into()),
        Place::Direct { .. } => (format!("✉ {place}"), text::name(&hit.sender)),
        Place::Room { .. } => (place, text::name(&hit.sender)),
    };
    add(RichText::new(place).strong());
    add(RichText::new(format!(" · {sender} · {}\n", clock(hit.ts))).weak());
    if hit.file {
        add(RichText::new("📎 "));
    }
    for piece in &hit.snippet {
        let words = RichText::new(text::message(&piece.text));
        add(if piece.matched {
            words.strong().color(style.visuals.strong_text_color())
        } else {
            words
        });
    }
    let reach = state.reach_hit(hit);
    if let Err(why) = &reach {
        add(RichText::new(format!("\n{why}")).small().weak());
    }
    let button = egui::Button::new(job)
        .wrap()
        .frame_when_inactive(false)
        .min_size(egui::vec2(ui.available_width(), 0.0));
    let response = ui.add(button);
    let response = if reach.is_ok() {
        response.on_hover_text(match hit.place {
            Place::Room { .. } => "Show it in its room",
            Place::Direct { .. } => "Show it in the conversation",
        })
    } else {
        response
    };
    response.clicked()
}
