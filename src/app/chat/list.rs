//! The message list: only the rows in view are drawn, from heights worked out once per
//! line (estimated, then measured), so a room with 100,000 messages scrolls like an empty one.

use super::message::{Look, Sender, draw_line, message_row, text_body};
use crate::app::files::{FileAction, Thumbnails, upload_row};
use crate::app::look::{MARKED_FOR, mark_found};
use crate::app::state::{AppState, Chat, Line, Older};
use crate::protocol::RoomId;
use egui::{Align, RichText, ScrollArea, UiBuilder};

/// Drawing state of the message list: what is known of each row's height, and where the
/// list stands.
#[derive(Default)]
pub(super) struct MessageList {
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
    /// Thumbnails of received images, as textures.
    thumbnails: Thumbnails,
    /// Messages that came in below while the list was scrolled up, for "jump to latest".
    below: usize,
    /// Whether the list showed its end at the last frame.
    at_end: bool,
    /// Brought to the end at every frame until the rows there are measured and the view is
    /// still at the end: set by "jump to latest" and by sending, which must land on the
    /// newest line however far the estimated heights were off.
    follow: bool,
    /// The list's scroll offset at the last frame.
    offset: f32,
    /// The height drawn below the rows at the last frame (our lines being sent, our
    /// uploads), for finding the end before drawing.
    tail: f32,
    /// The id of the first message drawn from, to keep the view still when older ones are
    /// put in above it.
    first_id: Option<u64>,
    /// How far to move the view down at the next frame: the height of older messages put in
    /// above.
    shift: f32,
    /// The rows of the rooms not drawn now, as last measured.
    parked: std::collections::HashMap<RoomId, Rows>,
    /// A search result's message to scroll to at the next pass (the first one from it on,
    /// if it is not there).
    seek: Option<u64>,
    /// The message scrolled to, marked until this time (egui's clock) so the eye finds it.
    marked: Option<(u64, f64)>,
}

/// A room's rows as drawn: what drawing worked out per line.
#[derive(Default)]
struct Rows {
    /// The room's [`Chat::reshaped`] count they belong to.
    reshaped: u64,
    /// [`MessageList::shapes`], kept.
    shapes: Vec<Shape>,
    /// [`MessageList::width`], kept.
    width: u32,
    /// [`MessageList::heights`], kept.
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

/// What one pass of the list draws from.
struct Pass<'a> {
    /// What is known, for the rows to draw.
    state: &'a AppState,
    /// The room drawn, for its uploads.
    room: &'a RoomId,
    /// Its lines.
    chat: &'a Chat,
    /// Where the search result's row starts, and its height: the list scrolls there.
    seek: Option<(f32, f32)>,
    /// The message marked for the eye, if any.
    marked: Option<u64>,
    /// The height of every row together.
    total: f32,
    /// The members' names by how they look, to flag a look-alike sender on each row.
    looks: crate::app::text::Looks,
}

impl MessageList {
    /// Brings the list to its end, and keeps it there until it has settled.
    pub(super) fn follow(&mut self) {
        self.follow = true;
        self.seek = None;
    }

    /// Scrolls to a search result's message at the next pass.
    pub(super) fn seek(&mut self, id: u64) {
        self.seek = Some(id);
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
        (self.below, self.at_end, self.follow, self.first_id) = (0, true, false, None);
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
    pub(super) fn show(
        &mut self,
        ui: &mut egui::Ui,
        state: &AppState,
        room: &RoomId,
    ) -> (Vec<FileAction>, bool) {
        let mut actions = Vec::new();
        let Some(chat) = state.chats.get(room) else {
            return (actions, false);
        };
        let start = self.keep_up(ui, chat, room);
        let seek = self.seek_row(ui, chat);
        let marked = self.marked_now(ui);
        if chat.lines.is_empty()
            && chat.pending.is_empty()
            && state.uploads_to(room).next().is_none()
        {
            no_messages(ui);
            return (actions, false);
        }
        let total: f32 = self.heights.iter().sum();
        let pass = Pass {
            state,
            room,
            chat,
            seek,
            marked,
            total,
            looks: crate::app::text::Looks::of(&chat.members),
        };
        let view = ui.available_height();
        let shown = self
            .scroll_area(room, total, view)
            .show_viewport(ui, |ui, viewport| {
                self.viewport(ui, viewport, &pass, &mut actions)
            });
        let changed = shown.inner;
        self.offset = shown.state.clamped_offset().y;
        self.tail = (shown.content_size.y - total).max(0.0);
        let end = self.offset + shown.inner_rect.height();
        self.at_end = end >= shown.content_size.y - 4.0;
        let settled = start == chat.lines.len() && !changed;
        if self.follow {
            // Until the rows at the end are measured, the end is not where it seemed.
            self.follow = !(settled && self.at_end);
            ui.ctx().request_repaint();
        }
        let earlier = !self.follow && self.older(ui, chat, shown.inner_rect, settled);
        self.jump_button(ui, shown.inner_rect);
        if changed {
            // Measured rows moved the ones below; draw once more with the true heights.
            ui.ctx().request_repaint();
        }
        (actions, earlier)
    }

    /// Brings the rows up to date with the room's lines and the list's width: new lines get
    /// an estimated height, a new width estimates them all again. Returns how many rows there
    /// were before this pass.
    fn keep_up(&mut self, ui: &mut egui::Ui, chat: &Chat, room: &RoomId) -> usize {
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
            // New rows below are drawn on the next pass. At the end, the list follows them
            // itself rather than leave it to the scroll area's stick to the end, which holds
            // only while its offset equals the end exactly (a fraction of a pixel off after
            // a jump or a send, and the lines that come next were counted below instead).
            ui.ctx().request_repaint();
            if self.at_end {
                self.follow = true;
            } else {
                self.below += chat.lines[start..]
                    .iter()
                    .filter(|l| matches!(l, Line::Chat { .. }))
                    .count();
            }
        }
        start
    }

    /// A search result to show: where its row starts and its height, for the list to scroll
    /// to. The message is marked from now on.
    fn seek_row(&mut self, ui: &egui::Ui, chat: &Chat) -> Option<(f32, f32)> {
        self.seek.take().and_then(|id| {
            let at = chat
                .lines
                .iter()
                .position(|l| matches!(l, Line::Chat { message } if message.id >= id))?;
            if let Line::Chat { message } = &chat.lines[at] {
                self.marked = Some((message.id, ui.input(|i| i.time) + MARKED_FOR));
            }
            self.shift = 0.0;
            Some((self.heights[..at].iter().sum::<f32>(), self.heights[at]))
        })
    }

    /// The message marked for the eye, while it is; the window is drawn again when the mark
    /// goes.
    fn marked_now(&self, ui: &egui::Ui) -> Option<u64> {
        let now = ui.input(|i| i.time);
        match self.marked {
            Some((id, until)) if until > now => {
                ui.ctx()
                    .request_repaint_after(std::time::Duration::from_secs_f64(until - now));
                Some(id)
            }
            _ => None,
        }
    }

    /// The list, kept at the bottom; moved to the end while following, or down by what
    /// older messages put in above took. `view` is the list's height on screen.
    fn scroll_area(&mut self, room: &RoomId, total: f32, view: f32) -> ScrollArea {
        let list = ScrollArea::vertical()
            .id_salt(("lines", room))
            .auto_shrink(false)
            .stick_to_bottom(true);
        if self.follow {
            // The end exactly: an offset past it is only clamped after the rows are drawn,
            // and they would be looked for below the last one (a blank frame).
            self.shift = 0.0;
            list.vertical_scroll_offset((total + self.tail - view).max(0.0))
        } else if self.shift > 0.0 {
            list.vertical_scroll_offset(self.offset + std::mem::take(&mut self.shift))
        } else {
            list
        }
    }

    /// The list's content: as tall as all its rows, with only those in `viewport` drawn, and
    /// the messages being sent and our uploads below them. Returns whether a row's measured
    /// height differed from the one known.
    fn viewport(
        &mut self,
        ui: &mut egui::Ui,
        viewport: egui::Rect,
        pass: &Pass,
        actions: &mut Vec<FileAction>,
    ) -> bool {
        ui.set_height(pass.total);
        // The first row that reaches into view, and where it starts.
        let mut first = 0;
        let mut y = 0.0;
        while first < self.heights.len() && y + self.heights[first] < viewport.min.y {
            y += self.heights[first];
            first += 1;
        }
        let top = ui.max_rect().top();
        if let Some((start, height)) = pass.seek {
            let row = egui::Rect::from_x_y_ranges(
                ui.max_rect().x_range(),
                top + start..=top + start + height,
            );
            let at_once = egui::style::ScrollAnimation::none();
            ui.scroll_to_rect_animation(row, Some(Align::Center), at_once);
            ui.ctx().request_repaint();
        }
        let rect =
            egui::Rect::from_x_y_ranges(ui.max_rect().x_range(), top + y..=top + pass.total.max(y));
        let changed = ui
            .scope_builder(UiBuilder::new().max_rect(rect), |ui| {
                self.rows(ui, (first, y), viewport.max.y, pass, actions)
            })
            .inner;
        let below = egui::Rect::from_x_y_ranges(
            ui.max_rect().x_range(),
            top + pass.total..=top + pass.total + 1e4,
        );
        ui.scope_builder(UiBuilder::new().max_rect(below), |ui| {
            pending(ui, pass, actions);
        });
        changed
    }

    /// Draws the rows from `first` (which starts at `y`) until one reaches `bottom`, and
    /// keeps their measured heights. Returns whether one differed from the height known.
    fn rows(
        &mut self,
        ui: &mut egui::Ui,
        (first, mut y): (usize, f32),
        bottom: f32,
        pass: &Pass,
        actions: &mut Vec<FileAction>,
    ) -> bool {
        let lines = &pass.chat.lines;
        let mut changed = false;
        ui.skip_ahead_auto_ids(first);
        let mut i = first;
        while i < lines.len() && y < bottom {
            let before = ui.cursor().top();
            let previous = i.checked_sub(1).map(|p| &lines[p]);
            draw_line(
                ui,
                (pass.state, &pass.looks),
                &mut self.thumbnails,
                (previous, &lines[i]),
                actions,
            );
            if let Line::Chat { message } = &lines[i]
                && pass.marked == Some(message.id)
            {
                mark_found(ui, before);
            }
            let h = ui.cursor().top() - before;
            if (h - self.heights[i]).abs() > 0.5 {
                self.heights[i] = h;
                changed = true;
            }
            y += h;
            i += 1;
        }
        changed
    }

    /// At the top of the list (`list` is where it is on screen): the page before is asked
    /// for, or said to be on its way. Returns whether it is wanted now; by scrolling, only
    /// once the list has `settled`.
    fn older(&self, ui: &mut egui::Ui, chat: &Chat, list: egui::Rect, settled: bool) -> bool {
        let top = egui::Rect::from_center_size(
            list.center_top() + egui::vec2(0.0, 18.0),
            egui::vec2(220.0, 26.0),
        );
        match chat.older {
            Older::Asking(_) => {
                ui.put(
                    top,
                    egui::Label::new(RichText::new("Loading earlier messages…").weak()),
                );
                false
            }
            Older::Unavailable => ui
                .put(top, egui::Button::new("Load earlier messages"))
                .clicked(),
            // Only once the list has settled: in the pass where a page arrives (or rows are
            // measured) the view has not yet been kept at the bottom, and its top is not the
            // reader's doing.
            Older::Maybe => self.offset <= 1.0 && settled,
            Older::Complete => false,
        }
    }

    /// "Jump to latest" over the list's bottom right corner (`list` is where it is on
    /// screen), while messages came in below the part read.
    fn jump_button(&mut self, ui: &mut egui::Ui, list: egui::Rect) {
        if self.at_end {
            self.below = 0;
        } else if self.below > 0 {
            let size = egui::vec2(150.0, 28.0);
            let corner = list.right_bottom() - size - egui::vec2(16.0, 8.0);
            let label = format!("Jump to latest ({} new)", self.below);
            let button = egui::Button::new(RichText::new(label).strong());
            if ui
                .put(egui::Rect::from_min_size(corner, size), button)
                .clicked()
            {
                self.follow();
                ui.ctx().request_repaint();
            }
        }
    }
}

/// What an empty room's list says instead.
fn no_messages(ui: &mut egui::Ui) {
    ui.centered_and_justified(|ui| {
        ui.label(
            RichText::new("No messages yet. Say hello, or drop files here to share them.").weak(),
        );
    });
}

/// Under the last message: ours still being sent, and our uploads under way.
fn pending(ui: &mut egui::Ui, pass: &Pass, actions: &mut Vec<FileAction>) {
    for (_, text) in &pass.chat.pending {
        let look = Look {
            mine: true,
            header: true,
            mention: false,
        };
        let sender = Sender {
            shown: &pass.state.name,
            name: &pass.state.name,
            fingerprint: &pass.state.fingerprint,
        };
        message_row(ui, &sender, "sending…", look, |ui| {
            text_body(ui, text, true)
        });
    }
    for upload in pass.state.uploads_to(pass.room) {
        upload_row(ui, upload, actions);
    }
}
