//! The message list: only the rows in view are drawn, from heights worked out once per
//! line (estimated, then measured), so a room with 100,000 messages scrolls like an empty one.

use super::ChatView;
use super::message::{Look, draw_line, message_row, text_body};
use crate::app::files::{FileAction, upload_row};
use crate::app::state::{AppState, Line, Older};
use crate::protocol::RoomId;
use egui::{Align, RichText, ScrollArea, UiBuilder};

/// How long a search result's message stays marked, in seconds.
const MARKED_FOR: f64 = 4.0;

/// A room's rows as drawn: what drawing worked out per line.
#[derive(Default)]
pub(super) struct Rows {
    /// The room's [`Chat::reshaped`](crate::app::state::Chat::reshaped) count they belong to.
    reshaped: u64,
    shapes: Vec<Shape>,
    width: u32,
    heights: Vec<f32>,
}

/// What a line's height depends on, so a new width costs arithmetic, not a text scan.
#[derive(Debug, Clone, Copy)]
pub(super) struct Shape {
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
    pub(super) fn lines(
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
