//! Names and messages from the network, made safe to look at: characters that reorder text or
//! take no room are shown as a visible mark instead of working unseen, and member names that
//! look alike (Unicode confusables, hidden characters) are found so the list can flag them.

use crate::protocol::{DeviceId, Member, MemberId};
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

/// What a neutralized character is shown as: visible, and in the window's emoji font.
pub const MARK: char = '❔';

/// Bidirectional controls: they reorder the text around them (an "exe.txt" that is really
/// "txt.exe"), so they never work in what others wrote.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Characters that take no room: they make two strings differ unseen.
fn is_zero_width(c: char) -> bool {
    matches!(
        c,
        '\u{200B}' | '\u{2060}' | '\u{FEFF}' | '\u{180E}' | '\u{200C}' | '\u{200D}'
    )
}

/// The joiners some scripts and emoji need inside a message (not in a name).
fn is_joiner(c: char) -> bool {
    matches!(c, '\u{200C}' | '\u{200D}')
}

/// A name as shown: every bidi control and zero-width character becomes [`MARK`].
pub fn name(name: &str) -> Cow<'_, str> {
    replace(name, |c| is_bidi_control(c) || is_zero_width(c))
}

/// A message as shown: bidi controls and zero-width characters become [`MARK`], but for the
/// joiners that scripts and emoji sequences need.
pub fn message(text: &str) -> Cow<'_, str> {
    replace(text, |c| {
        is_bidi_control(c) || (is_zero_width(c) && !is_joiner(c))
    })
}

fn replace(s: &str, hide: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !s.chars().any(&hide) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(s.chars().map(|c| if hide(c) { MARK } else { c }).collect())
}

/// What a name looks like, for comparing: its UTS #39 skeleton (which folds confusables such
/// as Cyrillic "а" into Latin "a" and drops invisible characters), ignoring case.
fn looks(name: &str) -> String {
    unicode_security::skeleton(name.trim())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Whether `name` mixes scripts (a Latin name with a Cyrillic letter, say): how a look-alike
/// is made, flagged even with nobody to pass for.
pub fn mixes_scripts(name: &str) -> bool {
    use unicode_security::MixedScript;
    !name.is_single_script()
}

/// The names in use in a room by how they look, worked out once (a skeleton per member) for
/// telling whether a name could pass for another's: a drawn pass of the message list asks
/// for each row.
pub struct Looks(HashMap<String, Vec<(DeviceId, String)>>);

impl Looks {
    pub fn of(members: &[Member]) -> Self {
        let mut by_look: HashMap<String, Vec<(DeviceId, String)>> = HashMap::new();
        for m in members {
            let entry = (m.device.clone(), m.name.clone());
            by_look.entry(looks(&m.name)).or_default().push(entry);
        }
        Looks(by_look)
    }

    /// Whether `name` (on `device`) could pass for another member's: it looks like one of
    /// theirs without being it, or it mixes scripts.
    pub fn passes_for_another(&self, name: &str, device: &DeviceId) -> bool {
        mixes_scripts(name)
            || self
                .0
                .get(&looks(name))
                .is_some_and(|alike| alike.iter().any(|(d, n)| d != device && n != name))
    }

    /// `name` (on `device`) as shown where a look-alike could pass for it (see [`who`]).
    pub fn who(&self, name: &str, device: &DeviceId) -> String {
        who(name, device, self.passes_for_another(name, device))
    }
}

/// A person's name as shown wherever a look-alike could pass for them (on their messages,
/// in "joined" lines, in notifications): when `flagged`, ⚠ and the first group of their
/// fingerprint beside it.
pub fn who(name: &str, device: &DeviceId, flagged: bool) -> String {
    let shown = self::name(name);
    match device.fingerprint() {
        Some(fingerprint) if flagged => {
            let group = fingerprint.split('-').next().unwrap_or_default();
            format!("⚠ {shown} · {group}")
        }
        _ if flagged => format!("⚠ {shown}"),
        _ => shown.into_owned(),
    }
}

/// How the member list tells look-alike members apart.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct LookAlikes {
    /// Members whose name is another member's exactly: shown with their fingerprint.
    pub same_name: HashSet<MemberId>,
    /// Members whose name only looks like another's (other characters that look the same):
    /// flagged, since that is how someone would pretend to be someone else.
    pub confusable: HashSet<MemberId>,
}

/// Finds the members whose names others could mistake for another member's.
pub fn look_alikes(members: &[Member]) -> LookAlikes {
    let mut by_look: HashMap<String, Vec<&Member>> = HashMap::new();
    for member in members {
        by_look.entry(looks(&member.name)).or_default().push(member);
    }
    let mut found = LookAlikes::default();
    // A name mixing scripts is flagged even alone: it is made to look like another.
    for member in members {
        if mixes_scripts(&member.name) {
            found.confusable.insert(member.id);
        }
    }
    for group in by_look.values().filter(|g| g.len() > 1) {
        for member in group {
            let twins = group.iter().filter(|o| o.id != member.id);
            if twins.clone().any(|o| o.name != member.name) {
                found.confusable.insert(member.id);
            } else {
                found.same_name.insert(member.id);
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::DeviceId;

    fn member(id: MemberId, name: &str) -> Member {
        Member {
            id,
            name: name.into(),
            device: DeviceId::parse(&format!("d{id}")).unwrap(),
            host: false,
            away: false,
            key: None,
        }
    }

    #[test]
    fn controls_and_invisible_characters_are_shown_not_obeyed() {
        assert_eq!(name("Ada"), "Ada");
        assert!(matches!(name("Ada"), Cow::Borrowed(_)));
        assert_eq!(name("Ad\u{200B}a"), "Ad❔a");
        assert_eq!(message("invoice\u{202E}txt.exe"), "invoice❔txt.exe");
        // A family emoji keeps its joiners in a message; a name shows them.
        let family = "\u{1F468}\u{200D}\u{1F469}";
        assert_eq!(message(family), family);
        assert_eq!(name(family), "\u{1F468}❔\u{1F469}");
    }

    #[test]
    fn the_marks_the_window_uses_have_glyphs() {
        let ctx = egui::Context::default();
        let mut output = ctx.run_ui(Default::default(), |_| {});
        output.textures_delta.clear();
        for family in [egui::FontFamily::Proportional, egui::FontFamily::Monospace] {
            let font = egui::FontId::new(14.0, family);
            for mark in [MARK, '✔', '⚠', '🔒', '🔑', '✖', '•', '·', '—'] {
                assert!(
                    ctx.fonts_mut(|f| f.has_glyph(&font, mark)),
                    "{mark:?} in {font:?}"
                );
            }
        }
    }

    #[test]
    fn look_alike_names_are_flagged_and_twins_told_apart() {
        let members = [
            member(1, "Ada"),
            member(2, "\u{0410}da"), // Cyrillic А
            member(3, "Bob"),
            member(4, "Bob"),
            member(5, "Cat"),
            member(6, "Ca\u{200B}t"),
        ];
        let found = look_alikes(&members);
        assert_eq!(found.confusable, HashSet::from([1, 2, 5, 6]));
        assert_eq!(found.same_name, HashSet::from([3, 4]));
    }
}
