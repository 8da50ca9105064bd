//! Ctrl+V of a picture (a screenshot) or of files copied in a file manager: offered for
//! sending to the open room, with a look at what would go. Pasted text is left to the
//! message field.

use crate::bridge::Command;
use crate::protocol::RoomId;
use egui::{ColorImage, RichText};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::mpsc::UnboundedSender;

/// What was pasted, waiting for the user to send it or not.
pub enum Offer {
    /// A picture, shown as it will be sent (a PNG).
    Image {
        image: Arc<ColorImage>,
        /// Uploaded to the GPU once, for the preview.
        texture: Option<egui::TextureHandle>,
    },
    /// Files copied elsewhere, by path.
    Files(Vec<PathBuf>),
}

/// The paste being offered, and the room it is for.
#[derive(Default)]
pub struct Paste {
    /// What was pasted, with the room it goes to and that room's name (for the question).
    offer: Option<(RoomId, String, Offer)>,
    /// A paste brought nothing that could be sent (an empty clipboard, or something other
    /// than text, files or a picture): said until the user closes it.
    nothing: bool,
}

impl Paste {
    /// Takes pasted pictures and file lists out of this frame's input before the message
    /// field sees them, while a room is open (`room`, with its name).
    pub fn take(&mut self, ctx: &egui::Context, room: Option<(RoomId, String)>) {
        let Some((room, name)) = room else {
            return;
        };
        let (mut offer, mut nothing) = (None, false);
        ctx.input_mut(|i| {
            i.events.retain(|event| match event {
                egui::Event::PasteImage(image) => {
                    offer = Some(Offer::Image {
                        image: image.clone(),
                        texture: None,
                    });
                    false
                }
                egui::Event::Paste(text) if text.is_empty() => {
                    nothing = true;
                    false
                }
                egui::Event::Paste(text) => match copied_files(text) {
                    Some(files) => {
                        offer = Some(Offer::Files(files));
                        false
                    }
                    None => true,
                },
                _ => true,
            })
        });
        if let Some(offer) = offer {
            self.offer = Some((room, name, offer));
        }
        self.nothing |= nothing;
    }

    /// Says that a paste brought nothing to send, until closed.
    fn nothing(&mut self, ctx: &egui::Context) {
        let modal = egui::Modal::new(egui::Id::unique("paste_nothing")).show(ctx, |ui| {
            ui.set_max_width(380.0);
            ui.heading("Nothing to paste");
            ui.label(
                "The clipboard holds no text, files or picture that can be sent. Copy files in \
                 your file manager, or a picture, then paste again.",
            );
            ui.add_space(8.0);
            ui.button("OK").clicked()
        });
        if modal.inner || modal.should_close() {
            self.nothing = false;
        }
    }

    /// The offer's dialog. Sending writes a picture to a file off the UI thread first.
    pub fn show(&mut self, ctx: &egui::Context, commands: &UnboundedSender<Command>) {
        if self.nothing {
            return self.nothing(ctx);
        }
        let Some((_, name, offer)) = &mut self.offer else {
            return;
        };
        let mut send = false;
        let mut cancel = false;
        let modal = egui::Modal::new(egui::Id::unique("paste_dialog")).show(ctx, |ui| {
            ui.set_max_width(420.0);
            offer.show(ui, name);
            ui.add_space(8.0);
            ui.horizontal(|ui| {
                send = ui.button("Send to the room").clicked()
                    || ui.input(|i| i.key_pressed(egui::Key::Enter));
                cancel = ui.button("Cancel").clicked();
            });
        });
        if modal.should_close() {
            cancel = true;
        }
        if !(send || cancel) {
            return;
        }
        let Some((room, _, offer)) = self.offer.take() else {
            return;
        };
        if cancel {
            return;
        }
        offer.send(room, commands);
    }
}

impl Offer {
    /// What would be sent to the room called `name`: the picture, or the files' paths.
    fn show(&mut self, ui: &mut egui::Ui, name: &str) {
        match self {
            Offer::Image { image, texture } => {
                ui.heading(format!("Send this picture to {}?", super::text::name(name)));
                let texture = texture.get_or_insert_with(|| {
                    ui.ctx()
                        .load_texture("pasted", image.clone(), egui::TextureOptions::LINEAR)
                });
                ui.add(
                    egui::Image::new(&*texture)
                        .max_size(egui::vec2(400.0, 260.0))
                        .alt_text("The pasted picture"),
                );
                ui.label(
                    RichText::new(format!(
                        "{} × {} pixels, sent as a PNG file",
                        image.size[0], image.size[1]
                    ))
                    .small()
                    .weak(),
                );
            }
            Offer::Files(files) => {
                let what = if files.len() == 1 {
                    "this file".to_owned()
                } else {
                    format!("these {} files", files.len())
                };
                ui.heading(format!("Send {what} to {}?", super::text::name(name)));
                for file in files.iter().take(8) {
                    ui.label(file.display().to_string());
                }
                if files.len() > 8 {
                    ui.label(RichText::new(format!("and {} more", files.len() - 8)).weak());
                }
            }
        }
    }

    /// Sends the offer to `room`; a picture is written to a file first, on a thread of its
    /// own.
    fn send(self, room: RoomId, commands: &UnboundedSender<Command>) {
        match self {
            Offer::Files(paths) => {
                let _ = commands.send(Command::SendFiles { room, paths });
            }
            Offer::Image { image, .. } => {
                let commands = commands.clone();
                // PNG-encoding a screenshot takes a good part of a second.
                std::thread::spawn(move || match write_png(&image) {
                    Ok(path) => {
                        let _ = commands.send(Command::SendFiles {
                            room,
                            paths: vec![path],
                        });
                    }
                    Err(e) => tracing::warn!("the pasted picture could not be saved: {e}"),
                });
            }
        }
    }
}

/// A pasted text that names only existing files (`file://` addresses, as file managers put
/// them, or absolute paths), one per line: the files.
pub fn copied_files(text: &str) -> Option<Vec<PathBuf>> {
    let mut files = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        // GNOME's "x-special/gnome-copied-files" starts with the action.
        if matches!(line, "copy" | "cut") && files.is_empty() {
            continue;
        }
        let path = match line.strip_prefix("file://") {
            Some(uri) => PathBuf::from(percent_decode(
                uri.strip_prefix("localhost").unwrap_or(uri),
            )?),
            None => PathBuf::from(line),
        };
        if !path.is_absolute() || !path.is_file() {
            return None;
        }
        files.push(path);
    }
    (!files.is_empty()).then_some(files)
}

/// `%20` and friends in a file address back to their characters.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Writes a pasted picture as "Pasted picture <time>.png" in a folder of its own under the
/// system's temporary files.
fn write_png(image: &ColorImage) -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join("lanchat-pasted");
    std::fs::create_dir_all(&dir)?;
    let stamp = chrono::Local::now().format("%Y-%m-%d %H.%M.%S");
    let mut path = dir.join(format!("Pasted picture {stamp}.png"));
    let mut n = 2;
    while path.exists() {
        path = dir.join(format!("Pasted picture {stamp} ({n}).png"));
        n += 1;
    }
    let [w, h] = image.size;
    let rgba: Vec<u8> = image
        .pixels
        .iter()
        .flat_map(|p| p.to_srgba_unmultiplied())
        .collect();
    let buffer = image::RgbaImage::from_raw(w as u32, h as u32, rgba)
        .ok_or_else(|| anyhow::anyhow!("the picture's size does not match its pixels"))?;
    buffer.save_with_format(&path, image::ImageFormat::Png)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copied_files_are_told_from_text() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a b.txt");
        let c = dir.path().join("c.png");
        std::fs::write(&a, "x").unwrap();
        std::fs::write(&c, "y").unwrap();
        let uri = |p: &std::path::Path| format!("file://{}", p.display()).replace(' ', "%20");
        assert_eq!(
            copied_files(&format!("copy\n{}\n{}\n", uri(&a), uri(&c))),
            Some(vec![a.clone(), c.clone()])
        );
        assert_eq!(
            copied_files(&a.display().to_string()),
            Some(vec![a.clone()])
        );
        // Text that only mentions files, or names one that is not there, stays text.
        assert_eq!(copied_files(&format!("see {}", a.display())), None);
        assert_eq!(copied_files("/no/such/file"), None);
        assert_eq!(copied_files("relative.txt"), None);
        assert_eq!(copied_files(""), None);
        assert_eq!(copied_files(&format!("{}\nhello", a.display())), None);
    }
}
