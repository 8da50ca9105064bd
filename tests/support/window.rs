//! The real window driven through egui_kittest with a real runtime behind it, for UI tests.
//! Waiting for something means stepping the UI each time the runtime wakes the window, until
//! it shows, or a deadline passes.

#![allow(dead_code)]

use egui::{Key, Modifiers};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use lanchat::app::LanchatApp;
use lanchat::app::state::AppState;
use lanchat::bridge::{self, EventSender};
use lanchat::runtime::{RuntimeOptions, RuntimeThread};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(20);

pub struct TestWindow {
    pub harness: Harness<'static, LanchatApp>,
    /// Lets a test play discovery: events sent here reach the app as if from the runtime.
    pub inject: EventSender,
    /// A tick for each event the runtime sends the window.
    wakes: mpsc::Receiver<()>,
    /// The runtime behind the window, waited for by [`TestWindow::close`].
    runtime: Option<RuntimeThread>,
    /// The desktop notifications the window raised.
    pub notifications: mpsc::Receiver<lanchat::app::attention::Notification>,
}

/// A runtime for a window of Ada's, with its profile in `dir`: on loopback, without
/// discovery.
pub fn adas_options(dir: &std::path::Path) -> RuntimeOptions {
    let settings = lanchat::store::Settings {
        name: Some("Ada".into()),
        ..Default::default()
    };
    let paths = lanchat::store::Paths::resolve(Some(dir.into())).unwrap();
    RuntimeOptions {
        downloads: None,
        name: None,
        discovery: None,
        bind: Some(std::net::Ipv4Addr::LOCALHOST.into()),
        ..RuntimeOptions::profile(paths, settings).unwrap()
    }
}

impl TestWindow {
    /// Opens the window on the runtime `options` describe (their settings are the app's).
    pub fn open(options: RuntimeOptions) -> TestWindow {
        Self::open_sized(options, [1000.0, 700.0])
    }

    /// The same, at a size of the test's choosing.
    pub fn open_sized(options: RuntimeOptions, size: [f32; 2]) -> TestWindow {
        let state = AppState::new(&options.settings, options.identity.device(), None);
        let (front, back) = bridge::channel();
        let inject = back.events.clone();
        let runtime = RuntimeThread::spawn(back, options).unwrap();
        let (wake, wakes) = mpsc::channel();
        let (notifier, notifications) = lanchat::desktop::Notifier::to_channel();
        // The runtime's events wake the window at any time: a few more passes than egui's
        // default before `run` calls the window unsettled.
        let harness = Harness::builder()
            .with_size(size)
            .with_max_steps(16)
            .build_eframe(move |cc| {
                // As the app would, plus a tick for the test (the app's own waker then stays unset).
                let ctx = cc.egui_ctx.clone();
                front.set_waker(move || {
                    ctx.request_repaint();
                    let _ = wake.send(());
                });
                LanchatApp::new(&cc.egui_ctx, front, state).with_notifier(notifier)
            });
        TestWindow {
            harness,
            inject,
            wakes,
            runtime: Some(runtime),
            notifications,
        }
    }

    /// Steps the UI until `done` holds, each time the runtime has said something.
    pub fn until(&mut self, what: &str, done: impl Fn(&Harness<'static, LanchatApp>) -> bool) {
        self.until_within(DEADLINE, what, done);
    }

    /// [`TestWindow::until`], for something that may take up to `limit`.
    pub fn until_within(
        &mut self,
        limit: Duration,
        what: &str,
        done: impl Fn(&Harness<'static, LanchatApp>) -> bool,
    ) {
        let start = Instant::now();
        loop {
            let _ = self.harness.try_run();
            if done(&self.harness) {
                return;
            }
            let left = limit.saturating_sub(start.elapsed());
            if left.is_zero() {
                panic!(
                    "timed out waiting for {what}; the window shows:\n{:#?}",
                    self.harness.root()
                );
            }
            // The runtime's events wake the window; a thread of the window's own (a folder
            // read for the picker, the tray) only asks egui for a repaint, which no test
            // hears: look again every so often too.
            let _ = self.wakes.recv_timeout(left.min(Duration::from_millis(50)));
            while self.wakes.try_recv().is_ok() {}
        }
    }

    /// Waits until a label with this text is on screen.
    pub fn shows(&mut self, label: &str) {
        self.until(label, |h| h.query_all_by_label(label).next().is_some());
    }

    /// Waits until a message we sent is on screen and the host has stored it (no longer
    /// pending, which is drawn with the same text).
    pub fn shows_stored(&mut self, text: &str) {
        self.until(&format!("{text} stored"), |h| {
            h.query_all_by_label(text).next().is_some()
                && h.state().state.chats.values().all(|c| c.pending.is_empty())
        });
    }

    /// Runs `frames` frames as eframe does: the app's `raw_input_hook` sees each frame's input
    /// first (egui_kittest does not call it). For events a test puts in one frame by hand.
    pub fn run_as_eframe(&mut self, frames: usize) {
        for _ in 0..frames {
            let ctx = self.harness.ctx.clone();
            let mut raw = self.harness.input().clone();
            eframe::App::raw_input_hook(self.harness.state_mut(), &ctx, &mut raw);
            *self.harness.input_mut() = raw;
            self.harness.step();
        }
    }

    /// The system's close button (or the window manager) asks the window to close; returns
    /// what the window told the system in that frame.
    pub fn ask_to_close(&mut self) -> Vec<egui::ViewportCommand> {
        self.harness
            .input_mut()
            .viewports
            .entry(egui::ViewportId::ROOT)
            .or_default()
            .events
            .push(egui::ViewportEvent::Close);
        self.harness.step();
        let commands = self.harness.output().viewport_output[&egui::ViewportId::ROOT]
            .commands
            .clone();
        self.harness.run();
        commands
    }

    pub fn replace_text(&mut self, field: &str, text: &str) {
        self.harness.get_by_label(field).focus();
        self.harness.step();
        self.harness.key_press_modifiers(Modifiers::COMMAND, Key::A);
        self.harness.get_by_label(field).type_text(text);
        self.harness.step();
    }

    /// Closes the window as a user would, and waits for the runtime's goodbyes as the
    /// process does once its window has gone.
    pub fn close(mut self) {
        eframe::App::on_exit(self.harness.state_mut());
        if let Some(runtime) = self.runtime.take() {
            runtime.join();
        }
    }
}
