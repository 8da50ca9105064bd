//! The little formatting a message has: web links (opened only when clicked), `code` in
//! backticks and ``` fenced blocks in monospace. Everything else is plain text: no HTML, no
//! images, nothing fetched from the network.

/// One run of a message's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span<'a> {
    Plain(&'a str),
    /// Between single backticks, on one line.
    Code(&'a str),
    /// Between ``` fences (the fences, and a language name after the opening one, dropped).
    Block(&'a str),
    /// An http or https address.
    Link(&'a str),
}

/// Whether a text has anything but plain text (most messages do not: they skip the rest).
pub fn has_markup(text: &str) -> bool {
    text.contains('`') || text.contains("http://") || text.contains("https://")
}

/// Splits a message into its runs, in order; together they hold all of its text but the
/// backticks and fences.
pub fn spans(text: &str) -> Vec<Span<'_>> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("```") {
        let after = &rest[open + 3..];
        let Some(close) = after.find("```") else {
            break;
        };
        inline(&rest[..open], &mut out);
        let block = &after[..close];
        // "```rust\n…": the first line names the language when it is one word.
        let block = match block.split_once('\n') {
            Some((first, body)) if !first.contains(char::is_whitespace) => body,
            _ => block,
        };
        out.push(Span::Block(block.trim_end_matches('\n')));
        rest = &after[close + 3..];
        rest = rest.strip_prefix('\n').unwrap_or(rest);
    }
    inline(rest, &mut out);
    out
}

/// Code in single backticks (closed on the same line), and links in what is around it.
fn inline<'a>(text: &'a str, out: &mut Vec<Span<'a>>) {
    let mut rest = text;
    while let Some(open) = rest.find('`') {
        let after = &rest[open + 1..];
        match after.find(['`', '\n']) {
            Some(close) if after.as_bytes()[close] == b'`' && close > 0 => {
                links(&rest[..open], out);
                out.push(Span::Code(&after[..close]));
                rest = &after[close + 1..];
            }
            _ => {
                // A lone backtick is just a character.
                links(&rest[..open + 1], out);
                rest = after;
            }
        }
    }
    links(rest, out);
}

/// Web addresses, up to the next space; punctuation that ends a sentence is not part of
/// them, nor a closing bracket the address did not open.
fn links<'a>(text: &'a str, out: &mut Vec<Span<'a>>) {
    let mut rest = text;
    loop {
        let start = ["https://", "http://"]
            .iter()
            .filter_map(|scheme| rest.find(scheme))
            .min();
        let Some(start) = start else {
            break;
        };
        let tail = &rest[start..];
        let mut end = tail.find(char::is_whitespace).unwrap_or(tail.len());
        loop {
            let url = &tail[..end];
            let Some(last) = url.chars().last() else {
                break;
            };
            let unopened = (last == ')' && url.matches('(').count() < url.matches(')').count())
                || (last == ']' && url.matches('[').count() < url.matches(']').count());
            if matches!(last, '.' | ',' | ';' | ':' | '!' | '?' | '\'' | '"' | '>') || unopened {
                end -= last.len_utf8();
            } else {
                break;
            }
        }
        let url = &tail[..end];
        // "http://" alone is not an address.
        if url.len() <= "https://".len() || !url.contains("://") || url.ends_with("://") {
            push_plain(&rest[..start + end.max(1)], out);
            rest = &rest[start + end.max(1)..];
            continue;
        }
        push_plain(&rest[..start], out);
        out.push(Span::Link(url));
        rest = &tail[end..];
    }
    push_plain(rest, out);
}

/// Adds plain text, joined to the plain text before it.
fn push_plain<'a>(text: &'a str, out: &mut Vec<Span<'a>>) {
    if text.is_empty() {
        return;
    }
    out.push(Span::Plain(text));
}

/// Draws a message's text with its links and code; `enabled: false` greys it (a post not yet
/// stored).
pub fn show(ui: &mut egui::Ui, text: &str, enabled: bool) {
    use egui::RichText;
    if !has_markup(text) {
        let body = egui::Label::new(text).wrap().selectable(true);
        ui.add_enabled(enabled, body);
        return;
    }
    ui.add_enabled_ui(enabled, |ui| {
        ui.horizontal_wrapped(|ui| {
            ui.spacing_mut().item_spacing.x = 0.0;
            for span in spans(text) {
                match span {
                    Span::Plain(t) => {
                        ui.add(egui::Label::new(t).wrap().selectable(true));
                    }
                    Span::Code(t) => {
                        ui.add(egui::Label::new(RichText::new(t).code()).selectable(true));
                    }
                    Span::Link(url) => {
                        ui.hyperlink_to(url, url)
                            .on_hover_text(format!("Open {url}"));
                    }
                    Span::Block(t) => {
                        ui.end_row();
                        egui::Frame::new()
                            .fill(ui.visuals().code_bg_color)
                            .corner_radius(4.0)
                            .inner_margin(egui::Margin::symmetric(6, 4))
                            .show(ui, |ui| {
                                ui.add(
                                    egui::Label::new(RichText::new(t).monospace())
                                        .wrap()
                                        .selectable(true),
                                );
                            });
                        ui.end_row();
                    }
                }
            }
        });
    });
}

#[cfg(test)]
mod tests {
    use super::Span::*;
    use super::*;

    #[test]
    fn links_code_and_blocks_are_found_and_the_rest_is_plain() {
        assert_eq!(spans("just words"), [Plain("just words")]);
        assert_eq!(
            spans("see https://example.com/a?b=1, then `cargo test`."),
            [
                Plain("see "),
                Link("https://example.com/a?b=1"),
                Plain(", then "),
                Code("cargo test"),
                Plain("."),
            ]
        );
        assert_eq!(
            spans("(docs at http://host/x_(y)) and [http://h/z]"),
            [
                Plain("(docs at "),
                Link("http://host/x_(y)"),
                Plain(") and ["),
                Link("http://h/z"),
                Plain("]"),
            ]
        );
        assert_eq!(
            spans("run:\n```sh\nmake\nmake install\n```\ndone"),
            [Plain("run:\n"), Block("make\nmake install"), Plain("done")]
        );
        assert_eq!(spans("```one line```"), [Block("one line")]);
    }

    /// The runs with neighbouring plain text joined, as the eye sees them.
    fn seen(text: &str) -> Vec<(char, String)> {
        let mut out: Vec<(char, String)> = Vec::new();
        for span in spans(text) {
            let (kind, t) = match span {
                Plain(t) => ('p', t),
                Code(t) => ('c', t),
                Block(t) => ('b', t),
                Link(t) => ('l', t),
            };
            match out.last_mut() {
                Some(('p', before)) if kind == 'p' => before.push_str(t),
                _ => out.push((kind, t.to_owned())),
            }
        }
        out
    }

    #[test]
    fn odd_input_stays_text() {
        let plain = |t: &str| vec![('p', t.to_owned())];
        // Lone and unclosed marks, a bare scheme, a backtick pair broken by a line.
        for text in [
            "it`s",
            "``",
            "```open",
            "http:// nothing",
            "a `b\nc` d",
            "javascript:alert(1)",
            "ftp://not.a.web/link",
        ] {
            assert_eq!(seen(text), plain(text), "{text:?}");
        }
        assert!(!has_markup("plain words"));
    }

    #[test]
    fn no_text_is_lost_but_the_marks() {
        for text in [
            "a `b` c https://x.y/z. ```\nq\n``` end",
            "```lang\n```",
            "http://a http://b",
        ] {
            let kept: String = spans(text)
                .iter()
                .map(|s| match s {
                    Plain(t) | Code(t) | Block(t) | Link(t) => *t,
                })
                .collect();
            let without: String = text.chars().filter(|c| *c != '`').collect();
            for word in kept.split_whitespace() {
                assert!(without.contains(word), "{word} from {text}");
            }
        }
    }
}
