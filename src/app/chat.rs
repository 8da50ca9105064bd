//! The open room: header, member list, messages and composer. The message list draws only
//! the rows in view, so a room with 100,000 messages scrolls like an empty one.

use super::attention;
use super::files::{FileAction, Thumbnails, file_card, upload_row};
use super::state::{AppState, Chat, Line, Older};
use super::text;
use crate::bridge::SessionState;
use crate::protocol::RoomId;
use crate::store::{Alerts, Change};
use egui::{Align, Color32, Key, Layout, RichText, ScrollArea, UiBuilder};

/// Drawing state of the chat view: row heights and the composer's text.
#[derive(Default)]
pub struct ChatView {
    /// The room the cached rows belong to.
    room: Option<RoomId>,
    /// That room's [`Chat::reshaped`] count when the rows were cached.
    reshaped: u64,
    /// Each line's text shape, worked out once when the line arrives.
    shapes: Vec<Shape>,
    /// The wrap width `heights` were worked out for, in whole points.
    width: u32,
    /// Height of each line at that width: estimated until the row has been drawn, then
    /// measured.
    heights: Vec<f32>,
    /// Text being written, per room, so switching rooms keeps drafts.
    drafts: std::collections::HashMap<RoomId, String>,
    /// Thumbnails of received images, as textures.
    thumbnails: Thumbnails,
    /// Messages that came in below while the list was scrolled up, for "jump to latest".
    below: usize,
    /// Whether the list showed its end at the last frame.
    at_end: bool,
    /// Set by "jump to latest": scroll to the end at the next frame.
    jump: bool,
    /// The list's scroll offset at the last frame.
    offset: f32,
    /// The id of the first message drawn from, to keep the view still when older ones are
    /// put in above it.
    first_id: Option<u64>,
    /// How far to move the view down at the next frame: the height of older messages put in
    /// above.
    shift: f32,
    /// The rows of the rooms not drawn now, as last measured.
    parked: std::collections::HashMap<RoomId, Rows>,
    /// The room the composer last took the keyboard for: a room opened takes it at once
    /// (from the room list's button, say).
    focused_for: Option<RoomId>,
    /// A search result's message to scroll to at the next pass (the first one from it on,
    /// if it is not there).
    seek: Option<u64>,
    /// The message scrolled to, marked until this time (egui's clock) so the eye finds it.
    marked: Option<(u64, f64)>,
}

/// How long a search result's message stays marked, in seconds.
const MARKED_FOR: f64 = 4.0;

/// A room's rows as drawn: what drawing worked out per line.
#[derive(Default)]
struct Rows {
    /// The room's [`Chat::reshaped`] count they belong to.
    reshaped: u64,
    shapes: Vec<Shape>,
    width: u32,
    heights: Vec<f32>,
}

/// What a line's height depends on, so a new width costs arithmetic, not a text scan.
#[derive(Debug, Clone, Copy)]
struct Shape {
    /// Lines of text the message has before wrapping; 0 for a notice.
    paragraphs: u32,
    /// Characters of text.
    chars: u32,
}

impl Shape {
    fn of(line: &Line) -> Self {
        match line {
            Line::Notice { .. } | Line::NewMessages { .. } => Shape {
                paragraphs: 0,
                chars: 0,
            },
            // A file's card takes about three rows; its thumbnail is measured when drawn.
            Line::Chat { message, .. } if message.file.is_some() => Shape {
                paragraphs: 4,
                chars: 0,
            },
            Line::Chat { message, .. } => Shape {
                paragraphs: message.text.split('\n').count() as u32,
                chars: message.text.chars().count() as u32,
            },
        }
    }

    /// The height the line will probably take; rows in view are measured instead.
    fn estimate(self, chars_per_row: f32, row: f32) -> f32 {
        if self.paragraphs == 0 {
            return row + 6.0;
        }
        let rows = self.paragraphs as f32 + (self.chars as f32 / chars_per_row).floor();
        row * (1.0 + rows) + 14.0
    }
}

impl ChatView {
    /// Draws the open room. Header and composer are panels; the list fills the rest.
    pub fn show(&mut self, ui: &mut egui::Ui, state: &mut AppState, room: &RoomId) {
        if let Some(id) = state.search.take_seek(room) {
            self.seek = Some(id);
        }
        let Some(chat) = state.chats.get(room) else {
            return;
        };
        let hosting = state.rooms.hosting.contains_key(room);
        let mut leave = false;
        let alerts_now = state.preferences.alerts_of(room);
        let mut write_to = None;
        let mut alerts = alerts_now;
        let auto_save_now = !state.preferences.no_auto_save.contains(room);
        let mut auto_save = auto_save_now;
        // A narrow window keeps the messages and the composer: the member list moves into a
        // menu in the header, and the host's line under the room's name.
        let narrow = ui.available_width() < NARROW;
        egui::Panel::top("chat_header").show(ui, |ui| {
            // The controls are placed first, from the right; the room's name takes what is
            // left and is cut short with "…" rather than drawn under them.
            ui.horizontal(|ui| {
                ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
                    let label = if hosting { "Close room" } else { "Leave" };
                    let hint = if hosting {
                        "Close this room for everyone"
                    } else {
                        "Leave this room"
                    };
                    leave = ui.button(label).on_hover_text(hint).clicked();
                    room_menu(ui, &mut alerts, &mut auto_save, state.preferences.auto_save);
                    if narrow {
                        ui.menu_button(format!("👥 {}", chat.members.len()), |ui| {
                            write_to = write_to.take().or(members(ui, chat, &state.me));
                        })
                        .response
                        .on_hover_text("Who is in the room");
                    }
                    state_badge(ui, chat);
                    if chat.catching_up {
                        ui.label(RichText::new("catching up…").weak()).on_hover_text(
                            "Messages came faster than they were shown; the rest are being read back",
                        );
                    }
                    ui.with_layout(Layout::left_to_right(Align::Center), |ui| {
                        let name = text::name(&chat.room_name);
                        ui.add(egui::Label::new(RichText::new(name.as_ref()).heading()).truncate());
                        if !narrow {
                            host_line(ui, chat);
                        }
                    });
                });
            });
            if narrow {
                ui.horizontal(|ui| host_line(ui, chat));
            }
        });
        if !narrow {
            egui::Panel::right("members")
                .default_size(160.0)
                .resizable(true)
                .show(ui, |ui| {
                    write_to = write_to.take().or(members(ui, chat, &state.me));
                });
        }
        let opened = self.focused_for.as_ref() != Some(room);
        if opened {
            self.focused_for = Some(room.clone());
        }
        let mut draft = self.drafts.remove(room).unwrap_or_default();
        let (sent, attach, typed) = egui::Panel::bottom("composer")
            .show(ui, |ui| composer(ui, chat, &state.me, &mut draft, opened))
            .inner;
        if typed && !draft.is_empty() {
            state.typed(room, std::time::Instant::now());
        }
        let (actions, earlier) = egui::CentralPanel::default()
            .show(ui, |ui| self.lines(ui, state, room))
            .inner;
        for action in actions {
            action.apply(state);
        }
        if earlier {
            state.ask_earlier(room);
        }
        if attach {
            state.pick_files();
        }

        if let Some(text) = sent
            && state.send(&text).is_ok()
        {
            draft.clear();
        }
        self.drafts.insert(room.clone(), draft);
        if alerts != alerts_now {
            let change = Change::Alerts {
                room: room.clone(),
                alerts,
            };
            state.preferences.change(change, &mut state.outbox);
        }
        if auto_save != auto_save_now {
            let change = Change::RoomAutoSave {
                room: room.clone(),
                on: auto_save,
            };
            state.preferences.change(change, &mut state.outbox);
        }
        if let Some((peer, name)) = write_to {
            state.open_direct(&peer, Some(&name));
        }
        if leave {
            state.leave_or_ask(room);
        }
    }

    /// Another room is drawn: the one drawn so far keeps its measured rows, for when it is
    /// drawn again (its place in pixels then falls on the same messages), and the new one
    /// takes back its own.
    fn switch_to(&mut self, room: &RoomId) {
        let rows = Rows {
            reshaped: self.reshaped,
            shapes: std::mem::take(&mut self.shapes),
            width: self.width,
            heights: std::mem::take(&mut self.heights),
        };
        if let Some(old) = self.room.take() {
            self.parked.insert(old, rows);
        }
        (self.below, self.at_end, self.jump, self.first_id) = (0, true, false, None);
        let rows = self.parked.remove(room).unwrap_or_else(|| Rows {
            // Never drawn: worked out afresh.
            reshaped: u64::MAX,
            ..Rows::default()
        });
        (self.reshaped, self.shapes, self.width, self.heights) =
            (rows.reshaped, rows.shapes, rows.width, rows.heights);
        self.room = Some(room.clone());
    }

    /// Draws the room's lines (only those in view) and our uploads under way; returns what
    /// the user asked of the files shown, and whether the page before the oldest message is
    /// wanted (the list is at its top).
    fn lines(
        &mut self,
        ui: &mut egui::Ui,
        state: &AppState,
        room: &RoomId,
    ) -> (Vec<FileAction>, bool) {
        let mut actions = Vec::new();
        let mut earlier = false;
        let Some(chat) = state.chats.get(room) else {
            return (actions, earlier);
        };
        let width = ui.available_width();
        let row = ui.text_style_height(&egui::TextStyle::Body);
        let chars_per_row = ((width - 24.0) / (row * 0.5)).max(8.0);
        if self.room.as_ref() != Some(room) {
            self.switch_to(room);
        }
        if self.shapes.len() > chat.lines.len() || self.reshaped != chat.reshaped {
            self.reshaped = chat.reshaped;
            self.shapes.clear();
            self.heights.clear();
            // Older messages came in above the first one: keep that one where it was.
            if let Some(first) = self.first_id
                && let Some(at) = chat
                    .lines
                    .iter()
                    .position(|l| matches!(l, Line::Chat { message, .. } if message.id == first))
            {
                let width = ui.available_width();
                let row = ui.text_style_height(&egui::TextStyle::Body);
                let chars_per_row = ((width - 24.0) / (row * 0.5)).max(8.0);
                // Only the messages put in above it: notices there were there before.
                self.shift = chat.lines[..at]
                    .iter()
                    .filter(|l| matches!(l, Line::Chat { .. }))
                    .map(|l| Shape::of(l).estimate(chars_per_row, row))
                    .sum();
            }
        }
        self.first_id = chat.message_ids().next();
        if self.width != width.round() as u32 {
            self.width = width.round() as u32;
            self.heights = self
                .shapes
                .iter()
                .map(|s| s.estimate(chars_per_row, row))
                .collect();
        }
        let start = self.shapes.len();
        for line in &chat.lines[start..] {
            let shape = Shape::of(line);
            self.shapes.push(shape);
            self.heights.push(shape.estimate(chars_per_row, row));
        }
        if start > 0 && start < chat.lines.len() {
            // New rows below are drawn (and the list kept at the bottom) on the next pass.
            ui.ctx().request_repaint();
            if !self.at_end {
                self.below += chat.lines[start..]
                    .iter()
                    .filter(|l| matches!(l, Line::Chat { .. }))
                    .count();
            }
        }

        // A search result to show: where its row starts, for the list to scroll to.
        let seek = self.seek.take().and_then(|id| {
            let at = chat
                .lines
                .iter()
                .position(|l| matches!(l, Line::Chat { message } if message.id >= id))?;
            if let Line::Chat { message } = &chat.lines[at] {
                self.marked = Some((message.id, ui.input(|i| i.time) + MARKED_FOR));
            }
            self.shift = 0.0;
            Some((self.heights[..at].iter().sum::<f32>(), self.heights[at]))
        });
        let now = ui.input(|i| i.time);
        let marked = match self.marked {
            Some((id, until)) if until > now => {
                ui.ctx()
                    .request_repaint_after(std::time::Duration::from_secs_f64(until - now));
                Some(id)
            }
            _ => None,
        };

        if chat.lines.is_empty()
            && chat.pending.is_empty()
            && state.uploads_to(room).next().is_none()
        {
            ui.centered_and_justified(|ui| {
                ui.label(
                    RichText::new("No messages yet. Say hello, or drop files here to share them.")
                        .weak(),
                );
            });
            return (actions, false);
        }
        let total: f32 = self.heights.iter().sum();
        let mut changed = false;
        let mut list = ScrollArea::vertical()
            .id_salt(("lines", room))
            .auto_shrink(false)
            .stick_to_bottom(true);
        if std::mem::take(&mut self.jump) {
            list = list.vertical_scroll_offset(total + 1e4);
        } else if self.shift > 0.0 {
            list = list.vertical_scroll_offset(self.offset + std::mem::take(&mut self.shift));
        }
        let shown = list.show_viewport(ui, |ui, viewport| {
            ui.set_height(total);
            // The first row that reaches into view, and where it starts.
            let mut first = 0;
            let mut y = 0.0;
            while first < self.heights.len() && y + self.heights[first] < viewport.min.y {
                y += self.heights[first];
                first += 1;
            }
            let top = ui.max_rect().top();
            if let Some((start, height)) = seek {
                let row = egui::Rect::from_x_y_ranges(
                    ui.max_rect().x_range(),
                    top + start..=top + start + height,
                );
                let at_once = egui::style::ScrollAnimation::none();
                ui.scroll_to_rect_animation(row, Some(Align::Center), at_once);
                ui.ctx().request_repaint();
            }
            let rect =
                egui::Rect::from_x_y_ranges(ui.max_rect().x_range(), top + y..=top + total.max(y));
            ui.scope_builder(UiBuilder::new().max_rect(rect), |ui| {
                ui.skip_ahead_auto_ids(first);
                let mut i = first;
                while i < chat.lines.len() && y < viewport.max.y {
                    let before = ui.cursor().top();
                    let previous = i.checked_sub(1).map(|p| &chat.lines[p]);
                    draw_line(
                        ui,
                        state,
                        &mut self.thumbnails,
                        (previous, &chat.lines[i]),
                        &mut actions,
                    );
                    if let Line::Chat { message } = &chat.lines[i]
                        && marked == Some(message.id)
                    {
                        let row = egui::Rect::from_x_y_ranges(
                            ui.max_rect().x_range(),
                            before..=ui.cursor().top(),
                        );
                        let stroke = egui::Stroke::new(2.0, ui.visuals().selection.stroke.color);
                        ui.painter()
                            .rect_stroke(row, 6.0, stroke, egui::StrokeKind::Inside);
                    }
                    let h = ui.cursor().top() - before;
                    if (h - self.heights[i]).abs() > 0.5 {
                        self.heights[i] = h;
                        changed = true;
                    }
                    y += h;
                    i += 1;
                }
            });
            let pending = egui::Rect::from_x_y_ranges(
                ui.max_rect().x_range(),
                top + total..=top + total + 1e4,
            );
            ui.scope_builder(UiBuilder::new().max_rect(pending), |ui| {
                for (_, text) in &chat.pending {
                    let look = Look {
                        mine: true,
                        header: true,
                        mention: false,
                    };
                    message_row(ui, &state.name, "sending…", look, |ui| {
                        text_body(ui, text, true)
                    });
                }
                for upload in state.uploads_to(room) {
                    upload_row(ui, upload, &mut actions);
                }
            });
        });
        self.offset = shown.state.clamped_offset().y;
        let end = self.offset + shown.inner_rect.height();
        self.at_end = end >= shown.content_size.y - 4.0;
        // At the top: the page before is asked for, or said to be on its way.
        let top = egui::Rect::from_center_size(
            shown.inner_rect.center_top() + egui::vec2(0.0, 18.0),
            egui::vec2(220.0, 26.0),
        );
        match chat.older {
            Older::Asking(_) => {
                ui.put(
                    top,
                    egui::Label::new(RichText::new("Loading earlier messages…").weak()),
                );
            }
            Older::Unavailable => {
                earlier = ui
                    .put(top, egui::Button::new("Load earlier messages"))
                    .clicked();
            }
            // Only once the list has settled: in the pass where a page arrives (or rows are
            // measured) the view has not yet been kept at the bottom, and its top is not the
            // reader's doing.
            Older::Maybe => earlier = self.offset <= 1.0 && start == chat.lines.len() && !changed,
            Older::Complete => {}
        }
        if self.at_end {
            self.below = 0;
        } else if self.below > 0 {
            // Over the list's bottom right corner.
            let size = egui::vec2(150.0, 28.0);
            let corner = shown.inner_rect.right_bottom() - size - egui::vec2(16.0, 8.0);
            let label = format!("Jump to latest ({} new)", self.below);
            let button = egui::Button::new(RichText::new(label).strong());
            if ui
                .put(egui::Rect::from_min_size(corner, size), button)
                .clicked()
            {
                self.jump = true;
                ui.ctx().request_repaint();
            }
        }
        if changed {
            // Measured rows moved the ones below; draw once more with the true heights.
            ui.ctx().request_repaint();
        }
        (actions, earlier)
    }
}

/// Below this width (points) the composer puts its buttons under the text.
const COMPOSER_IN_ONE_ROW: f32 = 420.0;

/// Below this width (points) a room's view puts its member list in a menu: the message
/// field keeps 400 points or so before the list takes any.
const NARROW: f32 = 600.0;

/// What the room may interrupt the user for: a menu behind a bell that shows the choice.
/// The room's own settings: what it may notify about, and whether its files save
/// themselves. The bell on the button says the first at a glance.
fn room_menu(ui: &mut egui::Ui, alerts: &mut Alerts, auto_save: &mut bool, limit: u64) {
    let (bell, now) = match alerts {
        Alerts::All => ("🔔", "every message"),
        Alerts::Mentions => ("🔔 @", "mentions only"),
        Alerts::Nothing => ("🔕", "nothing"),
    };
    ui.menu_button(bell, |ui| {
        ui.label(RichText::new("Notify me of").strong());
        for (choice, words) in [
            (Alerts::All, "Every message"),
            (Alerts::Mentions, "Only messages that mention me"),
            (Alerts::Nothing, "Nothing"),
        ] {
            if ui.radio_value(alerts, choice, words).clicked() {
                ui.close();
            }
        }
        ui.separator();
        ui.checkbox(
            auto_save,
            format!(
                "Save files shared here by themselves (up to {})",
                crate::bridge::human_size(limit)
            ),
        )
        .on_hover_text("Otherwise each file waits for its Download button");
    })
    .response
    .on_hover_text("Notifications and files for this room")
    // Read out by its purpose, not as "bell".
    .widget_info(|| {
        let name = format!("Room notifications and files (now: {now})");
        egui::WidgetInfo::labeled(egui::Role::Button, true, name)
    });
}

/// "hosted by Ada 🔑 K7QF-…": the host's name and its key's fingerprint, to compare.
fn host_line(ui: &mut egui::Ui, chat: &Chat) {
    let host = format!("hosted by {}", text::name(&chat.host_name));
    let host = ui.add(egui::Label::new(RichText::new(host).weak()).truncate());
    if let Some(fp) = &chat.host_fingerprint {
        let hint = "The fingerprint of the host's key: compare it with the one the host sees at the top of their window";
        host.on_hover_text(hint);
        let fp = RichText::new(format!("🔑 {fp}")).small().monospace().weak();
        ui.add(egui::Label::new(fp).truncate()).on_hover_text(hint);
    }
}

fn state_badge(ui: &mut egui::Ui, chat: &Chat) {
    let state = &chat.state;
    let (text, color) = match state {
        // Named like a room joined before: not joined until the user says so.
        _ if chat.lookalike => ("⚠ not joined", ui.visuals().warn_fg_color),
        SessionState::Connecting => ("joining…", ui.visuals().weak_text_color()),
        SessionState::Connected => ("• connected", Color32::from_rgb(60, 170, 90)),
        SessionState::Waiting(_) => ("• waiting for the host", ui.visuals().warn_fg_color),
        SessionState::Failed(_) => ("✖ cannot join", ui.visuals().error_fg_color),
        SessionState::KeyChanged { .. } => ("⚠ host key changed", ui.visuals().error_fg_color),
        SessionState::NeedsPassword(_) => ("🔒 password needed", ui.visuals().warn_fg_color),
        SessionState::Left => ("left", ui.visuals().weak_text_color()),
    };
    let badge = ui.label(RichText::new(text).color(color));
    if let Some(why) = state.why() {
        badge.on_hover_text(why);
    }
}

/// Who is in the room. "(you)" and "(host)" follow from the keys we know (ours, and the one
/// the host proved), not from what anyone says. Returns the member the user chose to write
/// to privately, if any.
fn members(
    ui: &mut egui::Ui,
    chat: &Chat,
    me: &crate::protocol::DeviceId,
) -> Option<(crate::protocol::DeviceId, String)> {
    let mut write_to = None;
    ui.add_space(4.0);
    ui.strong(format!("In the room ({})", chat.members.len()));
    ui.separator();
    let alike = text::look_alikes(&chat.members);
    ScrollArea::vertical()
        .id_salt("member_list")
        .show(ui, |ui| {
            for m in &chat.members {
                let host = chat.host_device.as_ref() == Some(&m.device);
                let me = &m.device == me;
                let fingerprint = m.device.fingerprint().unwrap_or_else(|| "unknown".into());
                let confusable = alike.confusable.contains(&m.id);
                let mut label = String::new();
                if confusable {
                    label.push_str("⚠ ");
                }
                label.push_str(&text::name(&m.name));
                // Two members of one name, or look-alike names, are told apart by their keys.
                if confusable || alike.same_name.contains(&m.id) {
                    label.push_str(&format!(" · {}", &fingerprint[..4]));
                }
                if host {
                    label.push_str("  (host)");
                }
                if me {
                    label.push_str("  (you)");
                }
                if m.away {
                    label.push_str(" · away");
                }
                let text = RichText::new(label);
                let text = if me { text.strong() } else { text };
                let text = if confusable { text.color(ui.visuals().warn_fg_color) } else { text };
                let mut hint = format!("Fingerprint {fingerprint}");
                if confusable {
                    hint.push_str(
                        "\nThis name looks like another member's: compare fingerprints to know who is who.",
                    );
                } else if !me {
                    hint.push_str("\nCompare it with theirs aloud to be sure who this is.");
                }
                ui.horizontal(|ui| {
                    ui.label(text).on_hover_text(hint);
                    if !me
                        && m.key.is_some()
                        && ui
                            .small_button("✉")
                            .on_hover_text(format!(
                                "Write to {} privately",
                                text::name(&m.name)
                            ))
                            .clicked()
                    {
                        write_to = Some((m.device.clone(), m.name.clone()));
                    }
                });
            }
            if !chat.gone.is_empty() {
                ui.add_space(6.0);
                for m in chat.gone.iter().rev() {
                    ui.label(RichText::new(format!("{} · gone", text::name(&m.name))).weak());
                }
            }
        });
    write_to
}

/// Messages from one sender this close together share one header.
const GROUPED_WITHIN_MS: i64 = 5 * 60 * 1000;

/// Draws `line`; `previous` (the line above) tells whether it continues its sender's group.
fn draw_line(
    ui: &mut egui::Ui,
    state: &AppState,
    thumbnails: &mut Thumbnails,
    (previous, line): (Option<&Line>, &Line),
    actions: &mut Vec<FileAction>,
) {
    match line {
        Line::Notice { when, text } => {
            ui.horizontal_wrapped(|ui| {
                ui.label(RichText::new(format!("{when} · {text}")).italics().weak());
            });
            ui.add_space(2.0);
        }
        Line::NewMessages { count: 0 } => {}
        Line::NewMessages { count } => {
            let plural = if *count == 1 { "" } else { "s" };
            ui.horizontal(|ui| {
                let label = RichText::new(format!("{count} new message{plural}"))
                    .small()
                    .strong()
                    .color(ui.visuals().warn_fg_color);
                let side = ((ui.available_width() - 140.0) / 2.0).max(8.0);
                ui.add_sized([side, 1.0], egui::Separator::default().horizontal());
                ui.label(label);
                ui.add(egui::Separator::default().horizontal());
            });
        }
        Line::Chat { message } => {
            let mine = state.is_mine(message);
            let from = text::name(&message.from);
            let grouped = matches!(previous, Some(Line::Chat { message: above, .. })
                if above.device == message.device
                    && above.from == message.from
                    && (0..GROUPED_WITHIN_MS).contains(&(message.ts - above.ts)));
            let look = Look {
                mine,
                header: !grouped,
                mention: !mine && attention::mentions(&message.text, &state.name),
            };
            let when = if look.header {
                super::state::clock(message.ts)
            } else {
                String::new()
            };
            message_row(ui, &from, &when, look, |ui| {
                if !message.text.is_empty() {
                    text_body(ui, &text::message(&message.text), false);
                }
                if let Some(file) = &message.file {
                    file_card(ui, state, thumbnails, file, mine, actions);
                }
            });
        }
    }
}

/// A message's text, wrapped and selectable; greyed out while pending.
fn text_body(ui: &mut egui::Ui, text: &str, pending: bool) {
    super::markup::show(ui, text, !pending);
}

/// How a message is drawn.
#[derive(Clone, Copy)]
struct Look {
    /// Ours: on a tinted card, "(you)" after the name.
    mine: bool,
    /// Sender and time above the body; not for a message that continues its sender's group.
    header: bool,
    /// It mentions us: marked.
    mention: bool,
}

/// One message: sender and time above its body. Ours sit on a tinted card; one that
/// mentions us on a warm one. `when` is the time shown beside the sender.
fn message_row(
    ui: &mut egui::Ui,
    from: &str,
    when: &str,
    Look {
        mine,
        header,
        mention,
    }: Look,
    body: impl FnOnce(&mut egui::Ui),
) {
    let fill = if mention {
        ui.visuals().warn_fg_color.gamma_multiply(0.18)
    } else if mine {
        ui.visuals().faint_bg_color
    } else {
        Color32::TRANSPARENT
    };
    egui::Frame::new()
        .fill(fill)
        .corner_radius(6.0)
        .inner_margin(egui::Margin::symmetric(8, 4))
        .show(ui, |ui| {
            ui.set_width(ui.available_width());
            if !header {
                return body(ui);
            }
            ui.horizontal(|ui| {
                let who = if mine {
                    format!("{from} (you)")
                } else {
                    from.to_owned()
                };
                let color = if mine {
                    ui.visuals().hyperlink_color
                } else {
                    ui.visuals().strong_text_color()
                };
                ui.label(RichText::new(who).strong().color(color));
                ui.label(RichText::new(when).small().weak());
            });
            body(ui);
        });
    ui.add_space(2.0);
}

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

/// The composer. Enter sends, Shift+Enter adds a line. Returns the text to send, whether
/// the user asked to attach files, and whether they typed.
fn composer(
    ui: &mut egui::Ui,
    chat: &Chat,
    me: &crate::protocol::DeviceId,
    draft: &mut String,
    opened: bool,
) -> (Option<String>, bool, bool) {
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
    let mut attach = false;
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
        ui.add_sized(button, egui::Button::new("Attach…"))
            .on_hover_text("Send files to the room (or drop them on the window)")
            .clicked()
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
