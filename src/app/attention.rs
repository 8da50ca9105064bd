//! What asks for the user's attention, and how much: unread counts, mentions, desktop
//! notifications and the window's title. Decided here, apart from drawing; the window shows
//! the counts and hands notifications to [`crate::desktop::Notifier`].

/// What a notification is and opens: the desktop's types, worded here.
pub use crate::desktop::notify::{Notification, Target};
use crate::protocol::{ChatMessage, DeviceId, RoomId};
use crate::store::Alerts;

/// How much of a message a notification shows.
const PREVIEW_CHARS: usize = 120;

impl Notification {
    /// The notification for `message` in the room called `room_name`, from the person shown
    /// as `from` (flagged if their name could pass for another's).
    pub fn of(room: &RoomId, room_name: &str, from: &str, message: &ChatMessage) -> Notification {
        let body = match &message.file {
            Some(file) => format!("shared {}", super::text::name(&file.name)),
            None => preview(&message.text),
        };
        Notification {
            target: Target::Room(room.clone()),
            title: format!("{from} in {}", super::text::name(room_name)),
            body,
        }
    }

    /// The notification for a direct message from `peer`, whose user is `name`.
    pub fn direct(peer: &DeviceId, name: &str, text: &str) -> Notification {
        Notification {
            target: Target::Direct(peer.clone()),
            title: format!("{} (direct message)", super::text::name(name)),
            body: preview(text),
        }
    }
}

/// The start of a text, on one line, cut at a character boundary with "…".
fn preview(text: &str) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(PREVIEW_CHARS) {
        Some((cut, _)) => format!("{}…", &flat[..cut]),
        None => flat,
    }
}

/// Whether `text` mentions the person called `name`: `@name`, in any case, not inside a
/// word on either side ("@Ada," and "@ada" do; "@Adam" and "ada@example.org" do not).
/// Names may hold spaces.
pub fn mentions(text: &str, name: &str) -> bool {
    let name = name.trim();
    if name.is_empty() {
        return false;
    }
    let (text, name) = (text.to_lowercase(), name.to_lowercase());
    let wordy = |c: char| c.is_alphanumeric() || c == '_';
    text.match_indices('@').any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = &text[at + 1..];
        !before.is_some_and(wordy)
            && after
                .strip_prefix(name.as_str())
                .is_some_and(|tail| !tail.chars().next().is_some_and(wordy))
    })
}

/// Most names offered at once while typing a mention.
const MAX_SUGGESTIONS: usize = 5;

/// While a mention is being typed at the end of `draft` ("… @Bo"): the names of `names` it
/// could be, in order, and where the `@` is.
pub fn suggest<'a>(draft: &str, names: impl IntoIterator<Item = &'a str>) -> (usize, Vec<&'a str>) {
    let Some(at) = draft.rfind('@') else {
        return (0, Vec::new());
    };
    let partial = draft[at + 1..].to_lowercase();
    let starts_word = !draft[..at]
        .chars()
        .next_back()
        .is_some_and(|c| c.is_alphanumeric() || c == '_');
    if !starts_word || partial.contains('\n') {
        return (at, Vec::new());
    }
    let mut found: Vec<&str> = Vec::new();
    for name in names {
        let lower = name.to_lowercase();
        if lower.starts_with(&partial) && lower != partial && !found.contains(&name) {
            found.push(name);
        }
    }
    found.sort_by_key(|n| n.to_lowercase());
    found.truncate(MAX_SUGGESTIONS);
    (at, found)
}

/// `draft` with the mention being typed at byte `at` completed to `name`.
pub fn complete(draft: &str, at: usize, name: &str) -> String {
    format!("{}@{name} ", &draft[..at])
}

/// Whether a message that arrived unseen interrupts the user, by the room's setting.
pub fn interrupts(alerts: Alerts, mention: bool) -> bool {
    match alerts {
        Alerts::All => true,
        Alerts::Mentions => mention,
        Alerts::Nothing => false,
    }
}

/// The window's title: the open room's name, after the unread total when there is one.
pub fn title(open_room: Option<&str>, unread: usize) -> String {
    let base = match open_room {
        Some(name) => format!("{name} — lanchat"),
        None => "lanchat".to_owned(),
    };
    match unread {
        0 => base,
        n => format!("({n}) {base}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mention_is_the_name_after_an_at_sign_and_not_more_of_a_word() {
        assert!(mentions("hi @Ada", "Ada"));
        assert!(mentions("@ada, look", "Ada"));
        assert!(mentions("ping @Ada Lovelace!", "Ada Lovelace"));
        assert!(mentions("@Zoë?", "zoë"));
        assert!(!mentions("hi @Adam", "Ada"));
        assert!(!mentions("hi Ada", "Ada"));
        assert!(!mentions("mail ada@example.org", "example"));
        assert!(mentions("a@b @ada", "Ada"));
        assert!(!mentions("@", ""));
    }

    #[test]
    fn a_mention_being_typed_offers_the_names_it_could_be() {
        let names = ["Bob", "bobby", "Ada", "Bob"];
        assert_eq!(suggest("hi @bo", names), (3, vec!["Bob", "bobby"]));
        assert_eq!(suggest("@", names).1, vec!["Ada", "Bob", "bobby"]);
        assert!(suggest("hi @bob", ["Bob"]).1.is_empty(), "typed in full");
        assert!(
            suggest("mail me@b", names).1.is_empty(),
            "not inside a word"
        );
        assert!(suggest("no at sign", names).1.is_empty());
        assert!(suggest("@bo\nx", names).1.is_empty());
        assert_eq!(complete("hi @bo", 3, "Bob"), "hi @Bob ");
    }

    #[test]
    fn previews_are_one_line_and_cut_on_a_character() {
        assert_eq!(preview("two\nlines  here"), "two lines here");
        let long = "é".repeat(200);
        let cut = preview(&long);
        assert_eq!(cut.chars().count(), PREVIEW_CHARS + 1);
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn the_title_leads_with_the_unread_total() {
        assert_eq!(title(Some("Lab"), 0), "Lab — lanchat");
        assert_eq!(title(Some("Lab"), 3), "(3) Lab — lanchat");
        assert_eq!(title(None, 1), "(1) lanchat");
    }
}
