//! Living in the background. Where the desktop has a tray ([`crate::desktop::tray`]),
//! closing the window (or "Keep hosting in the background") hides lanchat to its tray icon:
//! its rooms stay open, messages still arrive, count as unread on the icon and raise
//! notifications; a click on the icon (or its Open) brings the window back, its Quit quits
//! (asking first while people are in rooms we host, as closing the window does without a
//! tray). Where there is no tray, closing quits and "Keep hosting in the background"
//! minimises, as before.

use super::LanchatApp;
use crate::app::attention::{Notification, Target};
use crate::desktop::tray::{Shown, Tray, TrayAction};

/// The window's side of the tray.
pub struct Background {
    /// The tray icon (whether the desktop shows it, it says).
    tray: Tray,
    /// The window is hidden in the tray.
    hidden: bool,
    /// The user was told, the first time, that lanchat went on in the tray.
    told: bool,
}

impl Background {
    pub fn new(tray: Tray) -> Self {
        Self {
            tray,
            hidden: false,
            told: false,
        }
    }

    /// Whether the desktop shows our icon, so the window may hide in it.
    fn in_tray(&mut self) -> bool {
        self.tray.shown() == Shown::Yes
    }

    /// Whether the window is hidden in the tray.
    pub fn hidden(&self) -> bool {
        self.hidden
    }
}

impl LanchatApp {
    /// Whether the window is hidden in the tray (for tests).
    pub fn hidden_in_tray(&self) -> bool {
        self.background.hidden()
    }

    /// What the tray asked, and the unread count it shows: each pass, shown or hidden.
    pub(super) fn tend_tray(&mut self, ctx: &egui::Context) {
        self.leave_if_asked(ctx);
        let tray = &self.background.tray;
        tray.set_unread(self.state.unread_total());
        let actions: Vec<TrayAction> = std::iter::from_fn(|| tray.take_action()).collect();
        if actions.contains(&TrayAction::Open) {
            self.come_back(ctx);
        }
        if actions.contains(&TrayAction::Quit) {
            // The question about the people in our rooms needs the window.
            self.come_back(ctx);
            self.quit(ctx);
        }
    }

    /// "Keep hosting in the background" was pressed: the window goes.
    pub(super) fn leave_if_asked(&mut self, ctx: &egui::Context) {
        if std::mem::take(&mut self.state.to_background) {
            self.go_to_background(ctx);
        }
    }

    /// Shows the window again (from the tray, or minimised), in front.
    pub(super) fn come_back(&mut self, ctx: &egui::Context) {
        self.background.hidden = false;
        ctx.send_viewport_cmd(egui::ViewportCommand::Visible(true));
        ctx.send_viewport_cmd(egui::ViewportCommand::Minimized(false));
        ctx.send_viewport_cmd(egui::ViewportCommand::Focus);
    }

    /// The window goes away, the rooms stay: into the tray where there is one (said once),
    /// minimised otherwise.
    fn go_to_background(&mut self, ctx: &egui::Context) {
        if !self.background.in_tray() {
            ctx.send_viewport_cmd(egui::ViewportCommand::Minimized(true));
            return;
        }
        self.background.hidden = true;
        ctx.send_viewport_cmd(egui::ViewportCommand::Visible(false));
        if !std::mem::replace(&mut self.background.told, true) {
            self.notifier.notify(Notification {
                target: Target::Window,
                title: "lanchat is still running".into(),
                body: "Your rooms stay open and messages still come. Click lanchat's icon in the tray to open it; Quit is in its menu.".into(),
            });
        }
    }

    /// Quits, unless people are in rooms we host: then asks first (the dialog's answer
    /// quits, or not; see [`crate::app::state::Ask::Quit`]).
    fn quit(&mut self, ctx: &egui::Context) {
        if self.state.may_quit() {
            self.state.quitting = true;
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
        }
    }

    /// Closing the window hides it to the tray where there is one; there is none, or
    /// Ctrl+Q, quits (asking first while people are in rooms we host).
    pub(super) fn guard_quit(&mut self, ctx: &egui::Context) {
        let ctrl_q = ctx.input_mut(|i| i.consume_key(egui::Modifiers::COMMAND, egui::Key::Q));
        let close_asked = ctx.input(|i| i.viewport().close_requested());
        if close_asked {
            if self.state.quitting {
                return; // our own Close, or the dialog's "Close my rooms and quit"
            }
            ctx.send_viewport_cmd(egui::ViewportCommand::CancelClose);
            if self.background.in_tray() {
                self.go_to_background(ctx);
            } else {
                self.quit(ctx);
            }
        } else if ctrl_q {
            self.quit(ctx);
        }
    }
}
