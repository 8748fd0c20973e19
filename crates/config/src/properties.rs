//! Java `.properties` parsing, as `java.util.Properties.load` reads a `server.properties`.
//!
//! Rules (Java's): a logical line may span several natural lines joined by a trailing odd
//! number of backslashes (leading whitespace of the continuation is dropped); lines whose
//! first non-blank character is `#` or `!` are comments; the key ends at the first
//! unescaped `=`, `:` or whitespace, and one `=`/`:` plus surrounding whitespace separate it
//! from the value; escapes `\t \n \r \f \uXXXX` are decoded and any other `\c` is `c`.
//! Values keep trailing whitespace as Java does; typed parsing in [`crate::defs`] trims.

use crate::ConfigError;

/// Upper bound on the number of natural lines we read: a config file larger than this is
/// a mistake, not a configuration.
const LINES_MAX: usize = 1_000_000;

/// Parses `.properties` text into `(key, value)` pairs in file order. A key repeated later
/// appears twice; callers apply pairs in order so the last one wins (as Java does).
pub fn parse_properties(text: &str) -> Result<Vec<(String, String)>, ConfigError> {
    let mut pairs = Vec::new();
    let mut lines = text.split('\n').enumerate().peekable();
    let mut lines_read = 0usize;
    while let Some((index, raw)) = lines.next() {
        lines_read += 1;
        if lines_read > LINES_MAX {
            return Err(ConfigError::Properties {
                line: index + 1,
                message: format!("more than {LINES_MAX} lines"),
            });
        }
        let first_line = index + 1;
        let line = strip_cr(raw).trim_start_matches(is_properties_whitespace);
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        // Join continuation lines into one logical line.
        let mut logical = String::new();
        let mut current = line;
        loop {
            if ends_with_odd_backslashes(current) {
                logical.push_str(&current[..current.len() - 1]);
                match lines.next() {
                    Some((_, next)) => {
                        lines_read += 1;
                        current = strip_cr(next).trim_start_matches(is_properties_whitespace);
                    }
                    None => break,
                }
            } else {
                logical.push_str(current);
                break;
            }
        }
        let (key, value) = split_key_value(&logical);
        let key = unescape(key).map_err(|message| ConfigError::Properties {
            line: first_line,
            message,
        })?;
        let value = unescape(value).map_err(|message| ConfigError::Properties {
            line: first_line,
            message,
        })?;
        pairs.push((key, value));
    }
    Ok(pairs)
}

fn strip_cr(line: &str) -> &str {
    line.strip_suffix('\r').unwrap_or(line)
}

fn is_properties_whitespace(c: char) -> bool {
    c == ' ' || c == '\t' || c == '\u{c}'
}

fn ends_with_odd_backslashes(line: &str) -> bool {
    line.bytes().rev().take_while(|&b| b == b'\\').count() % 2 == 1
}

/// Splits a logical line (still escaped) into raw key and raw value.
fn split_key_value(line: &str) -> (&str, &str) {
    let bytes = line.as_bytes();
    let mut key_end = bytes.len();
    let mut escaped = false;
    for (i, &b) in bytes.iter().enumerate() {
        if escaped {
            escaped = false;
            continue;
        }
        match b {
            b'\\' => escaped = true,
            b'=' | b':' | b' ' | b'\t' | 0x0c => {
                key_end = i;
                break;
            }
            _ => {}
        }
    }
    let key = &line[..key_end];
    let mut rest = line[key_end..].trim_start_matches(is_properties_whitespace);
    if let Some(stripped) = rest.strip_prefix('=').or_else(|| rest.strip_prefix(':')) {
        rest = stripped.trim_start_matches(is_properties_whitespace);
    }
    (key, rest)
}

fn unescape(raw: &str) -> Result<String, String> {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            None => {} // a lone trailing backslash at end of input is dropped, as Java does
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\u{c}'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                let code = (hex.len() == 4)
                    .then(|| u32::from_str_radix(&hex, 16).ok())
                    .flatten()
                    .ok_or_else(|| format!("malformed \\uxxxx encoding: \\u{hex}"))?;
                // Surrogate halves cannot stand alone in a Rust string: combine a pair.
                if (0xD800..0xDC00).contains(&code) {
                    let rest = chars.as_str();
                    let low = rest
                        .strip_prefix("\\u")
                        .and_then(|r| r.get(..4))
                        .and_then(|h| u32::from_str_radix(h, 16).ok())
                        .filter(|l| (0xDC00..0xE000).contains(l))
                        .ok_or_else(|| format!("unpaired surrogate \\u{hex}"))?;
                    for _ in 0..6 {
                        chars.next();
                    }
                    let combined = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
                    out.push(
                        char::from_u32(combined)
                            .ok_or_else(|| format!("invalid code point \\u{hex}"))?,
                    );
                } else {
                    out.push(
                        char::from_u32(code)
                            .ok_or_else(|| format!("unpaired surrogate \\u{hex}"))?,
                    );
                }
            }
            Some(other) => out.push(other),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Vec<(String, String)> {
        parse_properties(text).unwrap()
    }

    fn pair(k: &str, v: &str) -> (String, String) {
        (k.to_string(), v.to_string())
    }

    #[test]
    fn separators_equals_colon_and_whitespace() {
        let got = parse("a=1\nb:2\nc 3\nd = 4\ne\t:\t5\nf  =  \n");
        assert_eq!(
            got,
            vec![
                pair("a", "1"),
                pair("b", "2"),
                pair("c", "3"),
                pair("d", "4"),
                pair("e", "5"),
                pair("f", "")
            ]
        );
    }

    #[test]
    fn comments_blank_lines_and_leading_whitespace_are_skipped() {
        let got = parse("# comment\n! bang comment\n\n   \n   key=value\n  # indented comment\n");
        assert_eq!(got, vec![pair("key", "value")]);
    }

    #[test]
    fn key_alone_has_empty_value() {
        assert_eq!(parse("lonely\n"), vec![pair("lonely", "")]);
    }

    #[test]
    fn continuation_lines_join_and_drop_leading_whitespace() {
        let got = parse("listeners=PLAINTEXT://a:1,\\\n    CONTROLLER://b:2\nnext=x");
        assert_eq!(
            got,
            vec![
                pair("listeners", "PLAINTEXT://a:1,CONTROLLER://b:2"),
                pair("next", "x")
            ]
        );
    }

    #[test]
    fn even_backslashes_do_not_continue() {
        let got = parse("path=c:\\\\\nnext=x");
        assert_eq!(got, vec![pair("path", "c:\\"), pair("next", "x")]);
    }

    #[test]
    fn comment_ending_in_backslash_does_not_continue() {
        assert_eq!(parse("# comment \\\nkey=v"), vec![pair("key", "v")]);
    }

    #[test]
    fn escapes_and_unicode_are_decoded() {
        let got = parse(
            "tab=a\\tb\nuni=caf\\u00e9\nescaped\\=key=v\\:w\nemoji=\\ud83d\\ude00\nother=\\q",
        );
        assert_eq!(
            got,
            vec![
                pair("tab", "a\tb"),
                pair("uni", "café"),
                pair("escaped=key", "v:w"),
                pair("emoji", "😀"),
                pair("other", "q")
            ]
        );
    }

    #[test]
    fn malformed_unicode_escape_is_an_error_naming_the_line() {
        let err = parse_properties("ok=1\nbad=\\u12\n").unwrap_err();
        assert!(
            matches!(err, ConfigError::Properties { line: 2, .. }),
            "expected a line-2 error, got {err}"
        );
    }

    #[test]
    fn crlf_line_endings_and_trailing_whitespace_kept_like_java() {
        let got = parse("a=1\r\nb=2  \r\n");
        assert_eq!(got, vec![pair("a", "1"), pair("b", "2  ")]);
    }

    #[test]
    fn repeated_keys_are_all_returned_in_order() {
        assert_eq!(parse("a=1\na=2"), vec![pair("a", "1"), pair("a", "2")]);
    }
}
