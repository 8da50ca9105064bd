//! Below the messages: who is typing, the message field with its mention suggestions, and
//! the Attach menu (files or a folder) and Send.

use crate::app::attention;
use crate::app::state::Chat;
use crate::app::text;
use egui::{Key, RichText};

/// Below this width (points) the composer puts its buttons under the text.
const COMPOSER_IN_ONE_ROW: f32 = 420.0;

/// While a mention is being typed, the members it could be, as buttons above the field; a
/// click (or Tab) completes it.
fn mention_suggestions(
    ui: &mut egui::Ui,
    chat: &Chat,
    me: &crate::protocol::DeviceId,
    draft: &mut String,
    field: egui::Id,
    focused: bool,
) {
    let names = chat
        .members
        .iter()
        .filter(|m| &m.device != me)
        .map(|m| m.name.as_str());
    let (at, offered) = attention::suggest(draft, names);
    if offered.is_empty() {
        return;
    }
    let mut chosen = None;
    ui.horizontal_wrapped(|ui| {
        ui.label(RichText::new("Mention (Tab):").small().weak());
        for name in &offered {
            if ui.small_button(format!("@{}", text::name(name))).clicked() {
                chosen = Some(*name);
            }
        }
    });
    if focused
        && ui
            .ctx()
            .input_mut(|i| i.consume_key(egui::Modifiers::NONE, Key::Tab))
    {
        chosen = offered.first().copied();
    }
    let Some(name) = chosen else {
        return;
    };
    *draft = attention::complete(draft, at, name);
    // Back to the field, typing on after the name.
    if let Some(mut typing) = egui::TextEdit::load_state(ui.ctx(), field) {
        let end = egui::text::CCursor::new(draft.chars().count());
        typing
            .cursor
            .set_char_range(Some(egui::text::CCursorRange::one(end)));
        typing.store(ui.ctx(), field);
    }
    ui.memory_mut(|m| m.request_focus(field));
}

/// "Ada is typing…" over the composer; the row is kept when nobody is, so the field does not
/// move.
fn typing_line(ui: &mut egui::Ui, chat: &Chat) {
    // Normal size, so it is seen; weak and italic, so it is not taken for a message.
    let names: Vec<String> = chat
        .typists(std::time::Instant::now())
        .into_iter()
        .map(|n| text::name(n).into_owned())
        .collect();
    let said = match names.as_slice() {
        [] => String::new(),
        [one] => format!("{one} is typing…"),
        [one, two] => format!("{one} and {two} are typing…"),
        more => format!("{} people are typing…", more.len()),
    };
    ui.label(RichText::new(said).italics().weak());
}

/// What the Attach menu asked to choose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Attach {
    Files,
    Folder,
}

/// The composer. Enter sends, Shift+Enter adds a line. Returns the text to send, what the
/// user asked to attach, and whether they typed.
pub(super) fn composer(
    ui: &mut egui::Ui,
    chat: &Chat,
    me: &crate::protocol::DeviceId,
    draft: &mut String,
    opened: bool,
) -> (Option<String>, Option<Attach>, bool) {
    typing_line(ui, chat);
    if let Some(error) = &chat.error {
        ui.colored_label(ui.visuals().error_fg_color, error);
    }
    let id = ui.make_persistent_id("composer");
    let focused = ui.ctx().memory(|m| m.has_focus(id));
    mention_suggestions(ui, chat, me, draft, id, focused);
    // Take a plain Enter before the text field sees it; Shift+Enter stays a new line.
    let enter = focused
        && ui.ctx().input_mut(|i| {
            let before = i.events.len();
            i.events.retain(|e| {
                !matches!(e, egui::Event::Key { key: Key::Enter, pressed: true, modifiers, .. }
                    if modifiers.is_none())
            });
            i.events.len() != before
        });
    let mut send = enter;
    let mut attach = None;
    let mut typed = false;
    let button = [62.0, 28.0];
    // The text takes what is left of the row but `reserve` points.
    let mut field = |ui: &mut egui::Ui, reserve: f32| {
        let label = ui.label("Message");
        let width = ui.available_width() - reserve;
        let edit = egui::TextEdit::multiline(draft)
            .id(id)
            .hint_text("Enter sends, Shift+Enter adds a line")
            .desired_rows(2)
            .desired_width(width);
        let response = ui.add(edit).labelled_by(label.id);
        typed |= response.changed();
        if opened
            || (chat.error.is_none() && !focused && ui.ctx().memory(|m| m.focused().is_none()))
        {
            response.request_focus();
        }
    };
    let attach_button = |ui: &mut egui::Ui| {
        let attach = egui::Button::new("Attach…").min_size(button.into());
        let (response, menu) =
            egui::containers::menu::MenuButton::from_button(attach).ui(ui, |ui| {
                if ui.button("Files…").clicked() {
                    Some(Attach::Files)
                } else if ui.button("A folder…").clicked() {
                    Some(Attach::Folder)
                } else {
                    None
                }
            });
        response.on_hover_text("Send files or a folder to the room (or drop them on the window)");
        menu.and_then(|menu| menu.inner)
    };
    if ui.available_width() >= COMPOSER_IN_ONE_ROW {
        ui.horizontal(|ui| {
            attach = attach_button(ui);
            field(ui, button[0] + 8.0);
            send |= ui.add_sized(button, egui::Button::new("Send")).clicked();
        });
    } else {
        // Narrow: the text gets the whole width, the buttons go under it.
        ui.horizontal(|ui| field(ui, 8.0));
        ui.horizontal(|ui| {
            attach = attach_button(ui);
            send |= ui.add_sized(button, egui::Button::new("Send")).clicked();
        });
    }
    ui.add_space(6.0);
    (
        (send && !draft.trim().is_empty()).then(|| draft.clone()),
        attach,
        typed,
    )
}
