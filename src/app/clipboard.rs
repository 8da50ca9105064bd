//! The clipboard shortcuts (Ctrl+X, Ctrl+C, Ctrl+V and the dedicated keys), read here rather
//! than by egui-winit (`NativeOptions::clipboard_shortcuts` is off): on Ctrl+V egui-winit
//! reads only text or a picture, so files a file manager copied, which most offer only as
//! `text/uri-list`, pasted nothing at all. Here a paste is the clipboard's text, else its
//! files (one path a line, which the paste offer takes: [`super::paste`]), else its picture,
//! else an empty paste, so the window can say that nothing could be sent.
//!
//! On Linux arboard reads the X11 clipboard, or Wayland's through its data-control protocol
//! (falling back to XWayland's); on Windows and macOS the system's, files included.

use egui::{ColorImage, Event, Key, Modifiers};
use std::path::PathBuf;
use std::sync::Arc;

/// What a paste can read.
pub trait Source {
    fn text(&mut self) -> Option<String>;
    fn files(&mut self) -> Option<Vec<PathBuf>>;
    fn image(&mut self) -> Option<ColorImage>;
}

/// The system's clipboard, opened at the first paste (`None` where it cannot be).
#[derive(Default)]
pub struct System(Option<Option<arboard::Clipboard>>);

impl System {
    fn board(&mut self) -> Option<&mut arboard::Clipboard> {
        self.0
            .get_or_insert_with(|| {
                arboard::Clipboard::new()
                    .inspect_err(|e| tracing::warn!("no clipboard: {e}"))
                    .ok()
            })
            .as_mut()
    }
}

impl Source for System {
    fn text(&mut self) -> Option<String> {
        self.board()?.get_text().ok()
    }

    fn files(&mut self) -> Option<Vec<PathBuf>> {
        self.board()?.get().file_list().ok()
    }

    fn image(&mut self) -> Option<ColorImage> {
        let image = self.board()?.get_image().ok()?;
        let size = [image.width, image.height];
        Some(ColorImage::from_rgba_unmultiplied(size, &image.bytes))
    }
}

/// Which clipboard action a key press is, as egui-winit tells them (Windows adds
/// Shift+Delete, Ctrl+Insert and Shift+Insert).
fn shortcut(key: Key, modifiers: Modifiers) -> Option<Event> {
    let windows = cfg!(target_os = "windows");
    let command = modifiers.command_only();
    if key == Key::Cut
        || (command && key == Key::X)
        || (windows && modifiers.shift && key == Key::Delete)
    {
        Some(Event::Cut)
    } else if key == Key::Copy
        || (command && key == Key::C)
        || (windows && modifiers.ctrl && key == Key::Insert)
    {
        Some(Event::Copy)
    } else if key == Key::Paste
        || (command && key == Key::V)
        || (windows && modifiers.shift && key == Key::Insert)
    {
        Some(Event::Paste(String::new()))
    } else {
        None
    }
}

/// Turns this frame's clipboard shortcut presses into clipboard events, reading `source`
/// for a paste.
pub fn translate(events: &mut [Event], source: &mut impl Source) {
    for event in events.iter_mut() {
        let Event::Key {
            key,
            pressed: true,
            modifiers,
            ..
        } = event
        else {
            continue;
        };
        *event = match shortcut(*key, *modifiers) {
            Some(Event::Paste(_)) => paste(source),
            Some(action) => action,
            None => continue,
        };
    }
}

/// What a paste brings: text, else files (a path a line), else a picture, else nothing.
fn paste(source: &mut impl Source) -> Event {
    if let Some(text) = source.text().filter(|t| !t.is_empty()) {
        return Event::Paste(text.replace("\r\n", "\n"));
    }
    if let Some(files) = source.files().filter(|f| !f.is_empty()) {
        let lines: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
        return Event::Paste(lines.join("\n"));
    }
    match source.image() {
        Some(image) => Event::PasteImage(Arc::new(image)),
        None => Event::Paste(String::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A clipboard holding what the test says.
    #[derive(Default)]
    struct Held {
        text: Option<String>,
        files: Option<Vec<PathBuf>>,
        image: bool,
    }

    impl Source for Held {
        fn text(&mut self) -> Option<String> {
            self.text.clone()
        }
        fn files(&mut self) -> Option<Vec<PathBuf>> {
            self.files.clone()
        }
        fn image(&mut self) -> Option<ColorImage> {
            self.image
                .then(|| ColorImage::new([2, 2], vec![egui::Color32::RED; 4]))
        }
    }

    use crate::app::keys::press;

    fn pasted(held: &mut Held) -> Event {
        let mut events = vec![press(Key::V, Modifiers::COMMAND)];
        translate(&mut events, held);
        events.remove(0)
    }

    #[test]
    fn a_paste_is_text_else_files_else_a_picture_else_nothing() {
        let files = vec![
            PathBuf::from("/home/ada/a b.txt"),
            PathBuf::from("/tmp/c.png"),
        ];
        let mut held = Held {
            files: Some(files),
            image: true,
            ..Held::default()
        };
        // Only a file list (text/uri-list): the paths, a line each.
        assert_eq!(
            pasted(&mut held),
            Event::Paste("/home/ada/a b.txt\n/tmp/c.png".into())
        );
        held.text = Some("hello\r\nthere".into());
        assert_eq!(pasted(&mut held), Event::Paste("hello\nthere".into()));
        let mut picture = Held {
            image: true,
            ..Held::default()
        };
        assert!(matches!(pasted(&mut picture), Event::PasteImage(_)));
        assert_eq!(pasted(&mut Held::default()), Event::Paste(String::new()));
    }

    #[test]
    fn copy_and_cut_are_told_and_other_keys_left_alone() {
        let mut events = vec![
            press(Key::C, Modifiers::COMMAND),
            press(Key::X, Modifiers::COMMAND),
            press(Key::V, Modifiers::NONE),
            press(Key::C, Modifiers::COMMAND | Modifiers::SHIFT),
        ];
        let before = events[2..].to_vec();
        translate(&mut events, &mut Held::default());
        assert_eq!(events[..2], [Event::Copy, Event::Cut]);
        assert_eq!(events[2..], before[..]);
    }
}
