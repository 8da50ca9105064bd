//! Chat lines from stdin, and what each asks for.

use anyhow::Context;
use tokio::io::{AsyncBufReadExt, BufReader};

/// Chat lines from stdin: `Ok(None)` at its end; a read error ends the command.
pub(super) struct Input {
    /// `None` once stdin has ended.
    lines: Option<tokio::io::Lines<BufReader<tokio::io::Stdin>>>,
}

/// What a line of stdin asks for.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Line {
    /// `/name NICK`: to be called NICK from now on (for this run, with `--name`).
    Rename(String),
    /// Anything else: a message.
    Post(String),
}

impl Line {
    pub(super) fn of(line: String) -> Line {
        match line.strip_prefix("/name ").map(str::trim) {
            Some(name) if !name.is_empty() => Line::Rename(name.to_owned()),
            _ => Line::Post(line),
        }
    }
}

impl Input {
    pub(super) fn new() -> Self {
        Input {
            lines: Some(BufReader::new(tokio::io::stdin()).lines()),
        }
    }

    pub(super) fn open(&self) -> bool {
        self.lines.is_some()
    }

    /// The next non-blank line; pends forever once stdin has ended.
    pub(super) async fn next(&mut self) -> anyhow::Result<Option<String>> {
        let Some(lines) = &mut self.lines else {
            return std::future::pending().await;
        };
        loop {
            match lines.next_line().await.context("reading stdin")? {
                Some(line) if line.trim().is_empty() => continue,
                Some(line) => return Ok(Some(line)),
                None => {
                    self.lines = None;
                    return Ok(None);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_line_renames_and_every_other_line_is_a_message() {
        assert_eq!(
            Line::of("/name  Ada B ".into()),
            Line::Rename("Ada B".into())
        );
        for post in [
            "/name",
            "/name   ",
            "/names are fun",
            "hello /name x",
            " /name x",
        ] {
            assert_eq!(Line::of(post.into()), Line::Post(post.into()), "{post:?}");
        }
    }
}
