//! Desktop notifications: handed to the system by a thread of their own, so the window never
//! waits on D-Bus (Linux), the notification centre (macOS) or the toast service (Windows).

use crate::protocol::{DeviceId, RoomId};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc as std_mpsc;

/// At most this many notifications are watched for a click at once (a thread each, until
/// the notification closes); past it, newer ones are shown without.
#[cfg(all(unix, not(target_os = "macos")))]
const MAX_WATCHED: usize = 16;

/// A desktop notification to raise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// What it is about: clicking it opens that.
    pub target: Target,
    /// "Ada in Lab".
    pub title: String,
    /// The start of the message.
    pub body: String,
}

/// A conversation a notification opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Room(RoomId),
    /// The direct messages with this device.
    Direct(DeviceId),
    /// The window itself (lanchat went on in the tray).
    Window,
}

/// Hands notifications to the system. Dropping it ends its thread once the queue is empty.
pub struct Notifier {
    /// Notifications for the thread, in order.
    queue: std_mpsc::Sender<Notification>,
}

/// Called with what a notification the user clicked is about.
pub type Clicked = Arc<dyn Fn(Target) + Send + Sync>;

impl Notifier {
    /// Starts the thread. `clicked` hears what a notification the user clicked is about, where
    /// the system tells (Linux; elsewhere the system brings lanchat forward itself).
    pub fn start(clicked: Clicked) -> Notifier {
        let (queue, notifications) = std_mpsc::channel::<Notification>();
        let started = std::thread::Builder::new()
            .name("lanchat-notify".into())
            .spawn(move || {
                let watching = Arc::new(AtomicUsize::new(0));
                let mut failed = false;
                for notification in notifications {
                    match show(&notification, &clicked, &watching) {
                        Ok(()) => failed = false,
                        // No notification service (a bare X session): said once, not per message.
                        Err(e) if !failed => {
                            failed = true;
                            tracing::info!("desktop notifications are not available: {e}");
                        }
                        Err(_) => {}
                    }
                }
            });
        if let Err(e) = started {
            tracing::warn!("cannot start the notifications thread: {e}");
        }
        Notifier { queue }
    }

    /// A notifier that hands its notifications to the returned receiver instead of the
    /// system: for a test to see what would have been shown.
    pub fn to_channel() -> (Notifier, std_mpsc::Receiver<Notification>) {
        let (queue, notifications) = std_mpsc::channel();
        (Notifier { queue }, notifications)
    }

    /// Queues a notification; never waits.
    pub fn notify(&self, notification: Notification) {
        let _ = self.queue.send(notification);
    }
}

/// The text of a notification's body: freedesktop servers may read it as markup, so what
/// came from the network is escaped, not interpreted (macOS and Windows read plain text).
#[cfg(any(test, all(unix, not(target_os = "macos"))))]
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(all(unix, not(target_os = "macos")))]
fn show(
    notification: &Notification,
    clicked: &Clicked,
    watching: &Arc<AtomicUsize>,
) -> Result<(), notify_rust::error::Error> {
    let handle = notify_rust::Notification::new()
        .appname("lanchat")
        .icon("lanchat")
        .summary(&notification.title)
        .body(&escape(&notification.body))
        .hint(notify_rust::Hint::Category("im.received".into()))
        .hint(notify_rust::Hint::DesktopEntry("lanchat".into()))
        .action("default", "Open")
        .show()?;
    if watching.fetch_add(1, Ordering::AcqRel) >= MAX_WATCHED {
        watching.fetch_sub(1, Ordering::AcqRel);
        return Ok(());
    }
    let (target, clicked, watching) = (
        notification.target.clone(),
        clicked.clone(),
        watching.clone(),
    );
    let watcher = std::thread::Builder::new()
        .name("lanchat-notify-click".into())
        .spawn(move || {
            handle.wait_for_action(|action| {
                if action == "default" {
                    clicked(target.clone());
                }
            });
            watching.fetch_sub(1, Ordering::AcqRel);
        });
    if let Err(e) = watcher {
        tracing::debug!("a notification's click will not be heard: {e}");
    }
    Ok(())
}

#[cfg(any(target_os = "macos", windows))]
fn show(
    notification: &Notification,
    _clicked: &Clicked,
    _watching: &Arc<AtomicUsize>,
) -> Result<(), notify_rust::error::Error> {
    notify_rust::Notification::new()
        .appname("lanchat")
        .summary(&notification.title)
        .body(&notification.body)
        .show()
        .map(drop)
}

#[cfg(test)]
mod tests {
    #[test]
    fn markup_from_the_network_is_shown_as_text() {
        assert_eq!(
            super::escape("<b>hi</b> & <a href=x>"),
            "&lt;b&gt;hi&lt;/b&gt; &amp; &lt;a href=x&gt;"
        );
    }
}
