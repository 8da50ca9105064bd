//! The tray icon: where the desktop has a tray, lanchat lives there while its window is
//! closed (its rooms stay open, its notifications still come), as every LAN messenger does.
//! The icon says how many messages are unread (its tooltip, and a dot on it) and its menu
//! has Open and Quit; a click on it opens the window.
//!
//! Linux and the BSDs: a StatusNotifierItem on the session bus (`ksni`, pure Rust over the
//! zbus that notifications use already), shown by KDE, Xfce, Cinnamon, MATE, LXQt and by GNOME
//! with its AppIndicator extension. Where no tray watches for items (plain GNOME, a bare X
//! server), [`Tray::start`] finds none and the window behaves as without a tray. (tray-icon's
//! own ksni backend assumes a tray is always there, and its updates wait for the bus: hence
//! ksni directly.) Windows and macOS: `tray-icon`, the notification area's icon and the menu
//! bar's status item, made and updated on the window's thread, which macOS requires and
//! whose message loop Windows delivers the icon's clicks through; both always have a tray.

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
    /// The unread count shown: to the tray's thread (Linux), or kept to tell a change.
    unread: tokio::sync::watch::Sender<usize>,
    /// The icon itself, on the window's thread (Windows, macOS); `None` if it could not be made.
    #[cfg(any(windows, target_os = "macos"))]
    native: Option<native::Native>,
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
        // Linux and the BSDs: ksni on a thread of its own (Windows and macOS: below).
        #[cfg(all(unix, not(target_os = "macos")))]
        sni::spawn(ctx, unread_rx, actions_tx, shown_tx);
        // Windows and macOS: tray-icon on this, the window's, thread (Linux: above).
        #[cfg(any(windows, target_os = "macos"))]
        let native = {
            drop(unread_rx);
            let native = native::Native::start(ctx, actions_tx)
                .inspect_err(|e| tracing::warn!("no tray icon: {e}"))
                .ok();
            let _ = shown_tx.send(if native.is_some() {
                Shown::Yes
            } else {
                Shown::No
            });
            native
        };
        Tray {
            unread,
            #[cfg(any(windows, target_os = "macos"))]
            native,
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
        let changed = self.unread.send_if_modified(|shown| {
            let changed = *shown != unread;
            *shown = unread;
            changed
        });
        #[cfg(any(windows, target_os = "macos"))]
        if changed && let Some(native) = &self.native {
            native.show_unread(unread);
        }
        #[cfg(not(any(windows, target_os = "macos")))]
        let _ = changed;
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
        let pairs = [22u32, 32, 48, 64].into_iter().filter_map(super::icon_pair);
        pairs
            .map(|(plain, dotted)| (argb(&plain), argb(&dotted)))
            .unzip()
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

/// lanchat's icon `side` pixels square, and the same with a dot for unread messages; `None`
/// if the icon cannot be read (it is built in: it can).
fn icon_pair(side: u32) -> Option<(image::RgbaImage, image::RgbaImage)> {
    let image = image::load_from_memory(crate::desktop::ICON_PNG).ok()?;
    let plain = image
        .resize_exact(side, side, image::imageops::FilterType::Lanczos3)
        .to_rgba8();
    let mut dotted = plain.clone();
    dot(&mut dotted);
    Some((plain, dotted))
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

#[cfg(any(windows, target_os = "macos"))]
mod native {
    //! The icon through `tray-icon`: made, updated and dropped on the window's thread. Its
    //! clicks and its menu's come through tray-icon's handlers, which may run on another
    //! thread: they only pass the action on and wake the window.

    use super::{TrayAction, icon_pair, unread_words};
    use std::sync::mpsc;
    use tray_icon::menu::{Menu, MenuEvent, MenuItem, PredefinedMenuItem};
    use tray_icon::{
        Icon, MouseButton, MouseButtonState, TrayIcon, TrayIconBuilder, TrayIconEvent,
    };

    /// The icon, and what changes on it.
    pub(super) struct Native {
        icon: TrayIcon,
        /// The menu's line saying how many are unread (not a button).
        unread_line: MenuItem,
        /// The icon, and with the unread dot.
        plain: Icon,
        dotted: Icon,
    }

    impl Native {
        pub(super) fn start(
            ctx: egui::Context,
            actions: mpsc::Sender<TrayAction>,
        ) -> Result<Native, String> {
            let (plain, dotted) = icon_pair(32).ok_or("the icon cannot be read")?;
            let icon = |rgba: image::RgbaImage| {
                let (w, h) = rgba.dimensions();
                Icon::from_rgba(rgba.into_raw(), w, h).map_err(|e| e.to_string())
            };
            let (plain, dotted) = (icon(plain)?, icon(dotted)?);
            let open = MenuItem::new("Open lanchat", true, None);
            let unread_line = MenuItem::new(unread_words(0), false, None);
            let quit = MenuItem::new("Quit", true, None);
            let menu = Menu::new();
            menu.append_items(&[&open, &unread_line, &PredefinedMenuItem::separator(), &quit])
                .map_err(|e| e.to_string())?;
            let (open_id, quit_id) = (open.id().clone(), quit.id().clone());
            let (menu_actions, menu_ctx) = (actions.clone(), ctx.clone());
            MenuEvent::set_event_handler(Some(move |event: MenuEvent| {
                let action = if event.id == open_id {
                    TrayAction::Open
                } else if event.id == quit_id {
                    TrayAction::Quit
                } else {
                    return;
                };
                let _ = menu_actions.send(action);
                menu_ctx.request_repaint();
            }));
            // A left click opens the window; the menu is on the right button (as Windows'
            // notification area does it; on macOS too, rather than the menu on any click).
            TrayIconEvent::set_event_handler(Some(move |event: TrayIconEvent| {
                if let TrayIconEvent::Click {
                    button: MouseButton::Left,
                    button_state: MouseButtonState::Up,
                    ..
                } = event
                {
                    let _ = actions.send(TrayAction::Open);
                    ctx.request_repaint();
                }
            }));
            let icon = TrayIconBuilder::new()
                .with_menu(Box::new(menu))
                .with_menu_on_left_click(false)
                .with_tooltip(format!("lanchat — {}", unread_words(0)))
                .with_icon(plain.clone())
                .build()
                .map_err(|e| e.to_string())?;
            Ok(Native {
                icon,
                unread_line,
                plain,
                dotted,
            })
        }

        /// The icon, its tooltip and its menu say this many are unread.
        pub(super) fn show_unread(&self, unread: usize) {
            let icon = if unread == 0 {
                &self.plain
            } else {
                &self.dotted
            };
            let _ = self.icon.set_icon(Some(icon.clone()));
            let _ = self
                .icon
                .set_tooltip(Some(format!("lanchat — {}", unread_words(unread))));
            self.unread_line.set_text(unread_words(unread));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unread_icon_has_a_dot_at_the_top_right_and_the_count_reads_in_words() {
        let (plain, dotted) = icon_pair(32).expect("the built-in icon");
        assert_eq!(plain.dimensions(), (32, 32));
        assert_eq!(dotted.dimensions(), (32, 32));
        assert_eq!(
            dotted.get_pixel(24, 8).0,
            [0xd3, 0x2f, 0x2f, 0xff],
            "the dot"
        );
        assert_eq!(
            plain.get_pixel(4, 28),
            dotted.get_pixel(4, 28),
            "the rest as it was"
        );
        assert_eq!(unread_words(0), "No unread messages");
        assert_eq!(unread_words(1), "1 unread message");
        assert_eq!(unread_words(12), "12 unread messages");
    }
}
