//! The tray icon: where the desktop has a tray, lanchat lives there while its window is
//! closed (its rooms stay open, its notifications still come), as every LAN messenger does.
//! The icon says how many messages are unread (its tooltip, and a dot on it) and its menu
//! has Open and Quit; a click on it opens the window.
//!
//! Linux and the BSDs: a StatusNotifierItem on the session bus (`ksni`, pure Rust over the
//! zbus that notifications use already), shown by KDE, Xfce, Cinnamon, MATE, LXQt and by GNOME
//! with its AppIndicator extension. Where no tray watches for items (plain GNOME, a bare X
//! server), [`Tray::start`] finds none and the window behaves as without a tray. Windows
//! and macOS have no tray here yet: `tray-icon` is the crate for them, and needs building
//! there (the release workflow of issue 21); until then closing the window quits, or
//! "Keep hosting in the background" minimises it, as before.

use std::sync::mpsc;

/// What the user asked of the tray icon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrayAction {
    /// Show the window (a click on the icon, or Open in its menu).
    Open,
    /// Quit lanchat (its menu's Quit): asked like closing the window while hosting.
    Quit,
}

/// Whether the desktop shows our icon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    /// Still being asked (the session bus answers within moments).
    Asking,
    /// In the tray.
    Yes,
    /// There is no tray: the window must not hide itself, nobody could bring it back.
    No,
}

/// The tray icon, as the window holds it. Nothing here waits: what the window says goes to
/// the tray's own thread, and what the user does there comes back on a channel (with a
/// repaint, so a hidden window hears it).
pub struct Tray {
    /// The unread count to show, to the tray's thread.
    #[cfg_attr(not(all(unix, not(target_os = "macos"))), allow(dead_code))]
    unread: tokio::sync::watch::Sender<usize>,
    /// What the user asked of the icon.
    actions: mpsc::Receiver<TrayAction>,
    /// Whether it is shown, as the tray's thread found out.
    shown: mpsc::Receiver<Shown>,
    /// The last of those.
    state: Shown,
}

impl Tray {
    /// Puts lanchat's icon in the tray, on a thread of its own; `ctx` is woken for each
    /// click. Returns at once: [`Tray::shown`] says, moments later, whether there is a tray.
    pub fn start(ctx: egui::Context) -> Tray {
        let (unread, unread_rx) = tokio::sync::watch::channel(0);
        let (actions_tx, actions) = mpsc::channel();
        let (shown_tx, shown) = mpsc::channel();
        #[cfg(all(unix, not(target_os = "macos")))]
        sni::spawn(ctx, unread_rx, actions_tx, shown_tx);
        // Windows and macOS: no tray yet (see the module's notes).
        #[cfg(not(all(unix, not(target_os = "macos"))))]
        {
            drop((ctx, unread_rx, actions_tx));
            let _ = shown_tx.send(Shown::No);
        }
        Tray {
            unread,
            actions,
            shown,
            state: Shown::Asking,
        }
    }

    /// Whether the desktop shows the icon.
    pub fn shown(&mut self) -> Shown {
        while let Ok(state) = self.shown.try_recv() {
            self.state = state;
        }
        self.state
    }

    /// Shows this many unread messages on the icon (only a change reaches the tray).
    pub fn set_unread(&self, unread: usize) {
        self.unread.send_if_modified(|shown| {
            let changed = *shown != unread;
            *shown = unread;
            changed
        });
    }

    /// The next thing the user asked of the icon.
    pub fn take_action(&self) -> Option<TrayAction> {
        self.actions.try_recv().ok()
    }
}

/// The tooltip's words for an unread count.
pub fn unread_words(unread: usize) -> String {
    match unread {
        0 => "No unread messages".to_owned(),
        1 => "1 unread message".to_owned(),
        n => format!("{n} unread messages"),
    }
}

#[cfg(all(unix, not(target_os = "macos")))]
mod sni {
    //! The StatusNotifierItem, through `ksni` (whose own thread serves the bus), kept up to
    //! date from a thread of ours.

    use super::{Shown, TrayAction, unread_words};
    use ksni::TrayMethods;
    use std::sync::mpsc;

    /// The item as the desktop reads it.
    struct Item {
        unread: usize,
        /// The icon, ARGB32, and the same with the unread dot.
        icon: Vec<ksni::Icon>,
        icon_unread: Vec<ksni::Icon>,
        actions: mpsc::Sender<TrayAction>,
        ctx: egui::Context,
    }

    impl Item {
        fn act(&self, action: TrayAction) {
            let _ = self.actions.send(action);
            self.ctx.request_repaint();
        }
    }

    impl ksni::Tray for Item {
        fn id(&self) -> String {
            "lanchat".into()
        }

        fn title(&self) -> String {
            match self.unread {
                0 => "lanchat".into(),
                n => format!("lanchat ({n})"),
            }
        }

        fn category(&self) -> ksni::Category {
            ksni::Category::Communications
        }

        fn status(&self) -> ksni::Status {
            match self.unread {
                0 => ksni::Status::Active,
                _ => ksni::Status::NeedsAttention,
            }
        }

        fn icon_pixmap(&self) -> Vec<ksni::Icon> {
            self.icon.clone()
        }

        fn attention_icon_pixmap(&self) -> Vec<ksni::Icon> {
            self.icon_unread.clone()
        }

        fn tool_tip(&self) -> ksni::ToolTip {
            ksni::ToolTip {
                title: "lanchat".into(),
                description: unread_words(self.unread),
                ..Default::default()
            }
        }

        fn activate(&mut self, _x: i32, _y: i32) {
            self.act(TrayAction::Open);
        }

        fn menu(&self) -> Vec<ksni::MenuItem<Self>> {
            use ksni::menu::StandardItem;
            vec![
                StandardItem {
                    label: "Open lanchat".into(),
                    activate: Box::new(|item: &mut Item| item.act(TrayAction::Open)),
                    ..Default::default()
                }
                .into(),
                StandardItem {
                    label: unread_words(self.unread),
                    enabled: false,
                    ..Default::default()
                }
                .into(),
                ksni::MenuItem::Separator,
                StandardItem {
                    label: "Quit".into(),
                    activate: Box::new(|item: &mut Item| item.act(TrayAction::Quit)),
                    ..Default::default()
                }
                .into(),
            ]
        }
    }

    /// Starts the item on a thread of its own and keeps its unread count up to date; says
    /// on `shown` whether the desktop has a tray to show it in.
    pub(super) fn spawn(
        ctx: egui::Context,
        mut unread: tokio::sync::watch::Receiver<usize>,
        actions: mpsc::Sender<TrayAction>,
        shown: mpsc::Sender<Shown>,
    ) {
        let started = std::thread::Builder::new()
            .name("lanchat-tray".into())
            .spawn(move || {
                futures::executor::block_on(async move {
                    let (icon, icon_unread) = icons();
                    let item = Item {
                        unread: 0,
                        icon,
                        icon_unread,
                        actions,
                        ctx: ctx.clone(),
                    };
                    let handle = match item.spawn().await {
                        Ok(handle) => handle,
                        Err(e) => {
                            tracing::info!("no tray to put lanchat's icon in: {e}");
                            let _ = shown.send(Shown::No);
                            ctx.request_repaint();
                            return;
                        }
                    };
                    let _ = shown.send(Shown::Yes);
                    ctx.request_repaint();
                    // Until the window (and with it the sender) is gone.
                    while unread.changed().await.is_ok() {
                        let n = *unread.borrow_and_update();
                        handle.update(|item| item.unread = n).await;
                    }
                    handle.shutdown().await;
                });
            });
        if let Err(e) = started {
            tracing::warn!("no tray icon: {e}");
        }
    }

    /// The icon at the sizes trays use, as ARGB32 in network byte order; and the same with a
    /// dot for unread messages.
    fn icons() -> (Vec<ksni::Icon>, Vec<ksni::Icon>) {
        let Ok(image) = image::load_from_memory(crate::desktop::ICON_PNG) else {
            return (Vec::new(), Vec::new());
        };
        let mut plain = Vec::new();
        let mut dotted = Vec::new();
        for side in [22u32, 32, 48, 64] {
            let rgba = image
                .resize_exact(side, side, image::imageops::FilterType::Lanczos3)
                .to_rgba8();
            plain.push(argb(&rgba));
            let mut marked = rgba.clone();
            dot(&mut marked);
            dotted.push(argb(&marked));
        }
        (plain, dotted)
    }

    /// A red dot in the top right corner, with a white ring so it shows on any panel.
    fn dot(image: &mut image::RgbaImage) {
        let side = image.width() as f32;
        let (cx, cy, r) = (side * 0.75, side * 0.25, side * 0.22);
        for (x, y, px) in image.enumerate_pixels_mut() {
            let d = ((x as f32 + 0.5 - cx).powi(2) + (y as f32 + 0.5 - cy).powi(2)).sqrt();
            if d <= r {
                *px = image::Rgba([0xd3, 0x2f, 0x2f, 0xff]);
            } else if d <= r + side * 0.06 {
                *px = image::Rgba([0xff, 0xff, 0xff, 0xff]);
            }
        }
    }

    fn argb(rgba: &image::RgbaImage) -> ksni::Icon {
        let data = rgba
            .pixels()
            .flat_map(|p| [p[3], p[0], p[1], p[2]])
            .collect();
        ksni::Icon {
            width: rgba.width() as i32,
            height: rgba.height() as i32,
            data,
        }
    }
}
