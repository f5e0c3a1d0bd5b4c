//! Tab completion for the REPL: `:commands`, their arguments (modes, footprints, dtypes,
//! engines, file paths), built-in names, functions (with their opening bracket) and params.

use super::commands::COMMANDS;
use jitfilter::{DType, Engine, Mode};
use rustyline::completion::{Completer, FilenameCompleter, Pair};
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::{Context, Helper};

#[derive(Default)]
pub struct ReplHelper {
    /// Params of the last expression and those set with `:param`.
    pub params: Vec<String>,
    files: FilenameCompleter,
}

const FOOTPRINTS: &[&str] = &[
    "box:", "rect:", "disk:", "diamond:", "ball:", "gauss:", "file:",
];

fn pairs<'a>(prefix: &str, words: impl IntoIterator<Item = (&'a str, String)>) -> Vec<Pair> {
    let mut out: Vec<Pair> = words
        .into_iter()
        .filter(|(w, _)| w.starts_with(prefix))
        .map(|(w, replacement)| Pair {
            display: w.to_string(),
            replacement,
        })
        .collect();
    out.sort_by(|a, b| a.display.cmp(&b.display));
    out.dedup_by(|a, b| a.display == b.display);
    out
}

/// Completions of `line` up to the cursor `pos`: where the completed word starts, and the
/// candidates. Used by rustyline and by the tests.
pub fn candidates(line: &str, pos: usize, params: &[String]) -> (usize, Vec<Pair>) {
    let before = &line[..pos];
    let trimmed = before.trim_start();
    if let Some(rest) = trimmed.strip_prefix(':') {
        let offset = before.len() - trimmed.len();
        match rest.split_once(char::is_whitespace) {
            // The command's name.
            None => {
                let words = COMMANDS.iter().map(|c| {
                    let replacement = if c.1.is_empty() {
                        c.0.to_string()
                    } else {
                        format!("{} ", c.0)
                    };
                    (c.0, replacement)
                });
                return (offset, pairs(trimmed, words));
            }
            Some((name, _)) => {
                let start = before.rfind(char::is_whitespace).map_or(0, |i| i + 1);
                let word = &before[start..];
                // `same` keeps the image's type.
                let dtypes: Vec<&str> = std::iter::once("same")
                    .chain(DType::ALL.iter().map(|d| d.name()))
                    .collect();
                let list: &[&str] = match name {
                    "mode" => &Mode::NAMES,
                    "footprint" | "fp" => FOOTPRINTS,
                    "dtype" => &dtypes,
                    "engine" => &Engine::NAMES,
                    "threads" => &["auto"],
                    "param" => {
                        let words = params.iter().map(|p| (p.as_str(), format!("{p}=")));
                        return (start, pairs(word, words));
                    }
                    _ => &[],
                };
                return (start, pairs(word, list.iter().map(|w| (*w, w.to_string()))));
            }
        }
    }
    let start = before
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_alphanumeric() || *c == '_')
        .last()
        .map_or(pos, |(i, _)| i);
    let word = &before[start..];
    if word.is_empty() || word.starts_with(|c: char| c.is_ascii_digit()) {
        return (start, Vec::new());
    }
    let functions = jitfilter::check::known_functions();
    let names = jitfilter::check::known_names();
    let words = functions
        .iter()
        .map(|f| (*f, format!("{f}(")))
        .chain(names.iter().map(|n| (*n, n.to_string())))
        .chain(
            jitfilter::check::KEYWORDS
                .iter()
                .map(|k| (*k, format!("{k} "))),
        )
        .chain(params.iter().map(|p| (p.as_str(), p.clone())));
    (start, pairs(word, words))
}

impl Completer for ReplHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let trimmed = line.trim_start();
        if let Some((name, _)) = trimmed.split_once(char::is_whitespace) {
            if matches!(name, ":load" | ":save") || name.ends_with("file:") {
                return self.files.complete(line, pos, ctx);
            }
            if matches!(name, ":footprint" | ":fp") && line[..pos].contains("file:") {
                let (start, found) = self.files.complete(line, pos, ctx)?;
                return Ok((start, found));
            }
        }
        Ok(candidates(line, pos, &self.params))
    }
}

impl Hinter for ReplHelper {
    type Hint = String;
}

impl Highlighter for ReplHelper {}

impl Validator for ReplHelper {}

impl Helper for ReplHelper {}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete(line: &str) -> Vec<String> {
        candidates(line, line.len(), &["radius".to_string()])
            .1
            .into_iter()
            .map(|p| p.replacement)
            .collect()
    }

    #[test]
    fn completes() {
        assert_eq!(complete("medi"), ["median("]);
        assert_eq!(complete("max(w) + rad"), ["radius"]);
        assert_eq!(complete(":foot"), [":footprint "]);
        assert_eq!(complete(":he"), [":help"]);
        assert_eq!(complete(":mode ne"), ["nearest"]);
        assert_eq!(complete(":footprint di"), ["diamond:", "disk:"]);
        assert!(complete("3").is_empty());
        assert!(complete("wid").contains(&"width".to_string()));
    }
}
