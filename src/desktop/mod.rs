//! Handing things to the system: a file once it is here (a thumbnail for images, opening it
//! or showing it in its folder), desktop notifications ([`notify`]), the tray icon
//! ([`tray`]) and starting at login ([`autostart`]).

/// lanchat's icon, for the window and the tray (the packages carry the other sizes from
/// `icons/`).
pub const ICON_PNG: &[u8] = include_bytes!("../../icons/lanchat-256.png");

pub mod autostart;
pub mod notify;
pub mod tray;
pub use notify::Notifier;

use crate::bridge::{Event, EventSender, Thumbnail};
use crate::protocol::FileHash;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Images larger than this get no thumbnail (decoding would take too long).
const MAX_THUMBNAIL_SOURCE: u64 = 64 << 20;
/// The longest side of a thumbnail, in pixels.
const THUMBNAIL_SIDE: u32 = 320;

/// Makes a thumbnail of an image file, off the async threads, and sends it to the front end.
pub(crate) fn spawn_thumbnail(events: EventSender, hash: FileHash, path: PathBuf) {
    let image = matches!(
        path.extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("png" | "jpg" | "jpeg" | "gif" | "webp" | "bmp")
    );
    if !image {
        return;
    }
    tokio::task::spawn_blocking(move || match std::fs::metadata(&path) {
        Ok(meta) if meta.len() > MAX_THUMBNAIL_SOURCE => {}
        Err(e) => tracing::debug!("no thumbnail for {}: {e}", path.display()),
        Ok(_) => match thumbnail(&path) {
            Ok(image) => events.send(Event::Thumbnail {
                hash,
                image: Arc::new(image),
            }),
            Err(e) => tracing::debug!("no thumbnail for {}: {e}", path.display()),
        },
    });
}

/// Decodes an image file and scales it to fit [`THUMBNAIL_SIDE`].
pub fn thumbnail(path: &Path) -> Result<Thumbnail, image::ImageError> {
    let image = image::ImageReader::open(path)?
        .with_guessed_format()?
        .decode()?;
    let small = image.thumbnail(THUMBNAIL_SIDE, THUMBNAIL_SIDE).into_rgba8();
    Ok(Thumbnail {
        width: small.width(),
        height: small.height(),
        rgba: small.into_raw(),
    })
}

/// Opens a file with the system's default app, without waiting for it.
pub fn open(path: &Path) -> std::io::Result<()> {
    open::that_detached(path)
}

/// Shows a file in the system's file manager (its folder, where the manager cannot select it).
pub fn reveal(path: &Path) -> std::io::Result<()> {
    #[cfg(target_os = "windows")]
    {
        // Explorer parses its own command line: `/select,"C:\a b\c.txt"` must reach it as
        // one piece, quoted, which `Command::arg`'s escaping does not give.
        use std::os::windows::process::CommandExt;
        std::process::Command::new("explorer")
            .raw_arg(format!("/select,\"{}\"", path.display()))
            .spawn()
            .map(drop)
    }
    #[cfg(target_os = "macos")]
    {
        std::process::Command::new("open")
            .arg("-R")
            .arg(path)
            .spawn()
            .map(drop)
    }
    // Elsewhere the folder is opened with xdg-open and the like, waiting for their answer:
    // with no file manager they fail, and the window then says so (a detached launch would
    // report nothing). Called off the async threads.
    #[cfg(not(any(target_os = "windows", target_os = "macos")))]
    {
        open::that(path.parent().unwrap_or(path))
    }
}
