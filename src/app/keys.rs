//! Keystrokes kept in order across a change of focus.
//!
//! egui gives a frame's keyboard events to whichever field has the keyboard when that field
//! is drawn, and a field handles its keys before the click that lands on it. So keys typed
//! in the same frame as something that moves the keyboard went astray: after Ctrl+F they
//! reached no field ("private" became "vate"); after a click into the message field they
//! went in before the cursor the click then placed (" you there @Bobsee"); after Enter they
//! were cleared with the line just sent. A person typing fast, or a slow frame, makes that
//! happen. Here, before egui sees a frame's input (eframe's `raw_input_hook`), the keys on
//! the far side of such an event wait for the next frame, so each frame holds at most one
//! change of focus and the keys are handled by the field that has the keyboard when they
//! were typed. Nothing is dropped and the order of the keys is kept; a pointer event may
//! move a frame later, which nobody sees.

use egui::{Event, Key};

/// How long keys typed while a mouse button is held may wait for it to be let go, in
/// seconds: a release the window never heard of (the button let go outside it) must not
/// keep them for ever.
const HELD_BUTTON_WAIT: f64 = 0.5;

/// The keyboard events waiting for the next frame.
#[derive(Default)]
pub struct KeysInOrder {
    /// Events taken out of a frame's input, in the order they came, for the next frame.
    waiting: Vec<Event>,
    /// Since when (egui's input time) keys have waited for a held button, if they do.
    held_since: Option<f64>,
}

impl KeysInOrder {
    /// Sorts one frame's `events`: the waiting ones go first, and those on the far side of
    /// a change of focus are taken out for the next frame. `button_down` is whether a
    /// mouse button was held at the end of the last frame, `now` the input's time. Returns
    /// whether some wait (the window must then draw another frame).
    pub fn sort(&mut self, events: &mut Vec<Event>, button_down: bool, now: f64) -> bool {
        let mut all = std::mem::take(&mut self.waiting);
        all.append(events);
        let (this_frame, next_frame) = if button_down && !self.waited_long(now) {
            while_held(all)
        } else {
            at_focus_change(all)
        };
        *events = this_frame;
        self.waiting = next_frame;
        self.held_since = match (self.waiting.is_empty(), button_down) {
            (false, true) => self.held_since.or(Some(now)),
            _ => None,
        };
        !self.waiting.is_empty()
    }

    fn waited_long(&self, now: f64) -> bool {
        self.held_since
            .is_some_and(|since| now - since >= HELD_BUTTON_WAIT)
    }
}

/// Keys typed while a mouse button is held would be moved by the drag (a field being
/// clicked selects from the press to the pointer): they wait until it is let go, and come
/// in the frame after the release.
fn while_held(all: Vec<Event>) -> (Vec<Event>, Vec<Event>) {
    let release = all
        .iter()
        .position(|e| matches!(e, Event::PointerButton { pressed: false, .. }))
        .unwrap_or(all.len());
    let (mut now, mut later) = (Vec::new(), Vec::new());
    for (i, event) in all.into_iter().enumerate() {
        if i > release || is_keyboard(&event) {
            later.push(event);
        } else {
            now.push(event);
        }
    }
    (now, later)
}

/// The frame ends at the first change of focus: before it if keys came first (they belong
/// to the field that has the keyboard now), else just after it if keys follow (they belong
/// to the field it gives the keyboard to).
fn at_focus_change(mut all: Vec<Event>) -> (Vec<Event>, Vec<Event>) {
    let Some(at) = all.iter().position(moves_focus) else {
        return (all, Vec::new());
    };
    let cut = if all[..at].iter().any(is_keyboard) {
        at
    } else if all[at + 1..].iter().any(is_keyboard) {
        at + 1
    } else {
        return (all, Vec::new());
    };
    let later = all.split_off(cut);
    (all, later)
}

/// Events a field with the keyboard takes.
fn is_keyboard(event: &Event) -> bool {
    matches!(
        event,
        Event::Text(_)
            | Event::Key { .. }
            | Event::Paste(_)
            | Event::Copy
            | Event::Cut
            | Event::Ime(_)
    )
}

/// Events that may give the keyboard to another field, or act on what was typed: a mouse
/// button, Tab, Enter (which sends), Escape, and shortcuts (Ctrl+F finds).
fn moves_focus(event: &Event) -> bool {
    match event {
        Event::PointerButton { .. } => true,
        Event::Key {
            key,
            pressed: true,
            modifiers,
            ..
        } => {
            matches!(key, Key::Tab | Key::Enter | Key::Escape)
                || modifiers.command
                || modifiers.ctrl
                || modifiers.alt
                || modifiers.mac_cmd
        }
        _ => false,
    }
}

/// A key pressed, as egui-winit tells it (for the tests of this module and the clipboard's).
#[cfg(test)]
pub(super) fn press(key: Key, modifiers: egui::Modifiers) -> Event {
    Event::Key {
        key,
        physical_key: None,
        pressed: true,
        repeat: false,
        modifiers,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use egui::{Modifiers, PointerButton, pos2};

    fn text(s: &str) -> Event {
        Event::Text(s.into())
    }

    use super::press as key;

    fn button(pressed: bool) -> Event {
        Event::PointerButton {
            pos: pos2(10.0, 10.0),
            button: PointerButton::Primary,
            pressed,
            modifiers: Modifiers::NONE,
        }
    }

    /// Runs frames until nothing waits; returns each frame's events.
    fn frames(
        keys: &mut KeysInOrder,
        first: Vec<Event>,
        down: impl Fn(&[Event]) -> bool,
    ) -> Vec<Vec<Event>> {
        let mut out = Vec::new();
        let mut events = first;
        let mut button_down = false;
        for frame in 0..20 {
            let more = keys.sort(&mut events, button_down, frame as f64 * 0.016);
            button_down = down(&events) || (button_down && !events.contains(&button(false)));
            out.push(std::mem::take(&mut events));
            if !more {
                return out;
            }
        }
        panic!("keys still waiting after 20 frames: {out:?}");
    }

    fn pressed_last(events: &[Event]) -> bool {
        events.iter().rev().find_map(|e| match e {
            Event::PointerButton { pressed, .. } => Some(*pressed),
            _ => None,
        }) == Some(true)
    }

    #[test]
    fn keys_after_a_shortcut_come_a_frame_later_and_keys_before_it_stay() {
        let mut keys = KeysInOrder::default();
        let find = key(Key::F, Modifiers::COMMAND);
        let got = frames(
            &mut keys,
            vec![text("ab"), find.clone(), text("pri"), text("vate")],
            pressed_last,
        );
        assert_eq!(
            got,
            vec![
                vec![text("ab")],
                vec![find],
                vec![text("pri"), text("vate")]
            ]
        );
    }

    #[test]
    fn keys_typed_with_a_click_come_after_the_press_and_the_release() {
        let mut keys = KeysInOrder::default();
        let got = frames(
            &mut keys,
            vec![button(true), button(false), text("see")],
            pressed_last,
        );
        assert_eq!(
            got,
            vec![vec![button(true)], vec![button(false)], vec![text("see")]]
        );
    }

    #[test]
    fn keys_wait_while_a_button_is_held_but_not_for_ever() {
        let mut keys = KeysInOrder::default();
        let mut events = vec![text("a")];
        assert!(keys.sort(&mut events, true, 0.0));
        assert!(events.is_empty());
        let mut events = vec![text("b")];
        assert!(keys.sort(&mut events, true, 0.1));
        assert!(events.is_empty());
        // The release never came: after a while the keys go in, in order.
        let mut events = vec![];
        assert!(!keys.sort(&mut events, true, 0.1 + HELD_BUTTON_WAIT));
        assert_eq!(events, vec![text("a"), text("b")]);
    }

    #[test]
    fn plain_typing_is_not_held() {
        let mut keys = KeysInOrder::default();
        let mut events = vec![
            text("hello"),
            key(Key::Backspace, Modifiers::NONE),
            text("o"),
        ];
        let before = events.clone();
        assert!(!keys.sort(&mut events, false, 0.0));
        assert_eq!(events, before);
    }
}
