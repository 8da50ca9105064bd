//! Files in the chat view: the card a shared file is shown as (with its download's progress,
//! or Open and Show in folder once saved, and a thumbnail for images), and the rows of our
//! own uploads under way.

use super::state::AppState;
use crate::bridge::{Thumbnail, Transfer, TransferId, TransferState, human_duration, human_size};
use crate::protocol::{FileHash, FileRef};
use egui::{Color32, RichText};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// What the user asked of a file while the view was drawn; applied after drawing.
pub enum FileAction {
    /// Fetch a shared file (again).
    Download(FileRef),
    /// Stop a transfer.
    Cancel(TransferId),
    /// Open a saved file with the system.
    Open(PathBuf),
    /// Show a saved file in its folder.
    Reveal(PathBuf),
    /// Forget a failed upload's row.
    Dismiss(TransferId),
    /// Make the picture of a saved file shown (once).
    Picture(FileHash, PathBuf),
}

impl FileAction {
    pub fn apply(self, state: &mut AppState) {
        match self {
            FileAction::Download(file) => state.download(&file),
            FileAction::Cancel(id) => state.cancel(id),
            FileAction::Open(path) => state.open_file(path),
            FileAction::Reveal(path) => state.reveal_file(path),
            FileAction::Dismiss(id) => state.files.dismiss(id),
            FileAction::Picture(hash, path) => state.want_picture(&hash, &path),
        }
    }
}

/// Thumbnails uploaded to the GPU, made once per image.
#[derive(Default)]
pub struct Thumbnails {
    /// One texture per image, kept while the window runs.
    textures: HashMap<FileHash, egui::TextureHandle>,
}

impl Thumbnails {
    fn get(
        &mut self,
        ctx: &egui::Context,
        hash: &FileHash,
        image: &Thumbnail,
    ) -> &egui::TextureHandle {
        self.textures.entry(hash.clone()).or_insert_with(|| {
            let size = [image.width as usize, image.height as usize];
            let pixels = egui::ColorImage::from_rgba_unmultiplied(size, &image.rgba);
            ctx.load_texture(
                format!("thumbnail-{hash}"),
                pixels,
                egui::TextureOptions::LINEAR,
            )
        })
    }
}

/// A shared file inside its message.
pub fn file_card(
    ui: &mut egui::Ui,
    state: &AppState,
    thumbnails: &mut Thumbnails,
    file: &FileRef,
    mine: bool,
    actions: &mut Vec<FileAction>,
) {
    let name = crate::files::shown_path(&file.name);
    egui::Frame::group(ui.style()).show(ui, |ui| {
        ui.horizontal(|ui| {
            ui.label(RichText::new("📄").size(18.0));
            ui.label(RichText::new(&name).strong());
            ui.label(RichText::new(human_size(file.size)).weak());
        });
        if let Some(image) = state.files.thumbnails.get(&file.hash) {
            let texture = thumbnails.get(ui.ctx(), &file.hash, image);
            let size = texture.size_vec2();
            ui.add(
                egui::Image::new(texture)
                    .max_size(size)
                    .alt_text(format!("Picture: {name}")),
            );
        }
        let transfer = state.files.download_of(file);
        // Saved now, or by an earlier run.
        let saved = match transfer.map(|t| &t.state) {
            Some(TransferState::Done {
                path: Some(path), ..
            }) => Some(path),
            Some(_) => None,
            None => state.files.saved.get(&file.hash),
        };
        match saved {
            Some(path) => {
                if !state.files.thumbnails.contains_key(&file.hash)
                    && !state.files.pictures_asked.contains(&file.hash)
                {
                    actions.push(FileAction::Picture(file.hash.clone(), path.clone()));
                }
                saved_row(
                    ui,
                    (path, state.files.downloads_dir.as_deref()),
                    mine,
                    actions,
                )
            }
            None => not_saved(ui, state, (file, transfer), mine, actions),
        }
    });
}

/// A saved file's Open and Show in folder, and the name it was saved as: inside the
/// `downloads` folder, its path there (a folder's file is in that folder); or, for a file
/// we sent, that we did.
fn saved_row(
    ui: &mut egui::Ui,
    (path, downloads): (&Path, Option<&Path>),
    mine: bool,
    actions: &mut Vec<FileAction>,
) {
    ui.horizontal(|ui| {
        if ui
            .button("Open")
            .on_hover_text(path.display().to_string())
            .clicked()
        {
            actions.push(FileAction::Open(path.to_path_buf()));
        }
        if ui.button("Show in folder").clicked() {
            actions.push(FileAction::Reveal(path.to_path_buf()));
        }
        let inside = downloads.and_then(|d| path.strip_prefix(d).ok());
        let name = match inside {
            Some(inside) => inside
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/"),
            None => path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        };
        let said = if mine {
            "You sent this file".to_owned()
        } else {
            format!("saved as {name}")
        };
        ui.label(RichText::new(said).small().weak());
    });
}

/// A file not saved here: its download under way or failed, our upload of it (`mine`), or
/// the Download button.
fn not_saved(
    ui: &mut egui::Ui,
    state: &AppState,
    (file, transfer): (&FileRef, Option<&Transfer>),
    mine: bool,
    actions: &mut Vec<FileAction>,
) {
    match transfer.map(|t| &t.state) {
        Some(TransferState::Running | TransferState::Preparing) => {
            let t = transfer.expect("matched");
            ui.horizontal(|ui| under_way(ui, t, "Stop this download", actions));
        }

        Some(TransferState::Failed(why)) => {
            ui.colored_label(ui.visuals().error_fg_color, format!("Not received: {why}"));
            if ui.button("Try again").clicked() {
                actions.push(FileAction::Download(file.clone()));
            }
        }
        _ if mine => match state.files.upload_of(file) {
            Some(t) => {
                ui.horizontal(|ui| under_way(ui, t, "Stop sending this file", actions));
            }
            None => {
                ui.label(RichText::new("You sent this file").small().weak());
            }
        },
        _ => {
            if let Some(arrival) = state.files.arriving.get(&file.hash) {
                // Sent to our room and still on its way: it can be saved as it comes.
                let part = arrival.done as f32 / arrival.size.max(1) as f32;
                let said = format!(
                    "Arriving: {} of {}",
                    human_size(arrival.done),
                    human_size(arrival.size)
                );
                ui.add(egui::ProgressBar::new(part).text(said));
            }
            if ui
                .button("Download")
                .on_hover_text("Save it in your downloads folder")
                .clicked()
            {
                actions.push(FileAction::Download(file.clone()));
            }
        }
    }
}

/// One of our uploads under way (or failed), below the room's messages.
pub fn upload_row(ui: &mut egui::Ui, t: &Transfer, actions: &mut Vec<FileAction>) {
    egui::Frame::group(ui.style())
        .fill(ui.visuals().faint_bg_color)
        .show(ui, |ui| {
            ui.set_width(ui.available_width());
            ui.horizontal(|ui| {
                ui.label(RichText::new("📤").size(18.0));
                ui.label(RichText::new(crate::files::shown_path(&t.name)).strong());
                ui.label(RichText::new(human_size(t.size)).weak());
            });
            ui.horizontal(|ui| match &t.state {
                TransferState::Failed(why) => {
                    ui.colored_label(ui.visuals().error_fg_color, format!("Not sent: {why}"));
                    if ui.button("Dismiss").clicked() {
                        actions.push(FileAction::Dismiss(t.id));
                    }
                }
                _ => under_way(ui, t, "Stop sending this file", actions),
            });
        });
    ui.add_space(2.0);
}

/// A transfer under way: its progress, and Cancel (`hint` says what it stops).
fn under_way(ui: &mut egui::Ui, t: &Transfer, hint: &str, actions: &mut Vec<FileAction>) {
    progress(ui, t);
    if ui.button("Cancel").on_hover_text(hint).clicked() {
        actions.push(FileAction::Cancel(t.id));
    }
}

/// A progress bar that says how far, how fast, and how long is left.
fn progress(ui: &mut egui::Ui, t: &Transfer) {
    let fraction = if t.size == 0 {
        1.0
    } else {
        t.done as f32 / t.size as f32
    };
    let text = match t.state {
        TransferState::Preparing => "Preparing…".to_owned(),
        _ if t.retrying.is_some() => format!(
            "{} of {} · trying again ({})",
            human_size(t.done),
            human_size(t.size),
            t.retrying.as_deref().unwrap_or_default()
        ),
        _ => {
            let mut text = format!("{} of {}", human_size(t.done), human_size(t.size));
            if t.rate > 0.0 {
                text.push_str(&format!(" · {}/s", human_size(t.rate as u64)));
            }
            if let Some(eta) = t.eta() {
                text.push_str(&format!(" · {} left", human_duration(eta)));
            }
            text
        }
    };
    let bar = egui::ProgressBar::new(fraction.clamp(0.0, 1.0))
        .desired_width(ui.available_width().min(360.0) - 70.0)
        .fill(Color32::from_rgb(60, 130, 200))
        .text(text);
    ui.add(bar);
}
