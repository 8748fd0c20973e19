//! Kafka's `sasl.jaas.config` value: `<loginModuleClass> <controlFlag> (<name>=<value>)*;`,
//! one or more entries, tokenized as Java's `StreamTokenizer` does for Kafka's
//! `JaasConfig` (words of letters, digits, `.`, `-`, `_`, `$`; values quoted with `"` or
//! `'` with backslash escapes; `//` and `/* */` comments).

use std::collections::BTreeMap;

/// One login module entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JaasEntry {
    pub login_module: String,
    pub options: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Quoted(String),
    /// A token Java reads as a number: a value that is not quoted and starts with a digit.
    Number(String),
    Char(char),
}

/// Parses a JAAS configuration; the error says what is wrong, never the values.
pub(crate) fn parse(text: &str) -> Result<Vec<JaasEntry>, String> {
    let tokens = tokenize(text)?;
    let mut tokens = tokens.into_iter().peekable();
    let mut entries = Vec::new();
    while let Some(token) = tokens.next() {
        let Token::Word(login_module) = token else {
            return Err("expected a login module class name".into());
        };
        match tokens.next() {
            Some(Token::Word(flag))
                if ["required", "requisite", "sufficient", "optional"]
                    .contains(&flag.to_ascii_lowercase().as_str()) => {}
            Some(Token::Word(flag)) => {
                return Err(format!("invalid login module control flag '{flag}'"))
            }
            _ => return Err("login module control flag not specified".into()),
        }
        let mut options = BTreeMap::new();
        loop {
            match tokens.next() {
                Some(Token::Char(';')) => break,
                Some(Token::Word(key)) | Some(Token::Quoted(key)) => {
                    if tokens.next() != Some(Token::Char('=')) {
                        return Err(format!("value not specified for key '{key}'"));
                    }
                    match tokens.next() {
                        Some(Token::Word(value)) | Some(Token::Quoted(value)) => {
                            options.insert(key, value);
                        }
                        _ => return Err(format!("value not specified for key '{key}'")),
                    }
                }
                None => return Err("JAAS config entry not terminated by semi-colon".into()),
                Some(_) => return Err("expected an option name or ';'".into()),
            }
        }
        entries.push(JaasEntry {
            login_module,
            options,
        });
    }
    if entries.is_empty() {
        return Err("login module not specified in JAAS config".into());
    }
    Ok(entries)
}

fn is_word_start(c: char) -> bool {
    c.is_ascii_alphabetic() || matches!(c, '-' | '_' | '$') || (c as u32) >= 160
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '/' {
            chars.next();
            match chars.next() {
                Some('/') => {
                    for c in chars.by_ref() {
                        if c == '\n' {
                            break;
                        }
                    }
                }
                Some('*') => {
                    let mut previous = ' ';
                    let mut closed = false;
                    for c in chars.by_ref() {
                        if previous == '*' && c == '/' {
                            closed = true;
                            break;
                        }
                        previous = c;
                    }
                    if !closed {
                        return Err("unterminated comment".into());
                    }
                }
                _ => tokens.push(Token::Char('/')),
            }
        } else if c == '"' || c == '\'' {
            chars.next();
            let mut value = String::new();
            let mut closed = false;
            while let Some(c2) = chars.next() {
                match c2 {
                    '\\' => match chars.next() {
                        Some('n') => value.push('\n'),
                        Some('t') => value.push('\t'),
                        Some('r') => value.push('\r'),
                        Some(other) => value.push(other),
                        None => break,
                    },
                    q if q == c => {
                        closed = true;
                        break;
                    }
                    '\n' => break,
                    other => value.push(other),
                }
            }
            if !closed {
                return Err("unterminated quoted value".into());
            }
            tokens.push(Token::Quoted(value));
        } else if is_word_start(c) || c.is_ascii_digit() || c == '.' {
            let mut word = String::new();
            while let Some(&c2) = chars.peek() {
                if is_word_start(c2) || c2.is_ascii_digit() || c2 == '.' {
                    word.push(c2);
                    chars.next();
                } else {
                    break;
                }
            }
            if is_word_start(c) {
                tokens.push(Token::Word(word));
            } else {
                tokens.push(Token::Number(word));
            }
        } else {
            chars.next();
            tokens.push(Token::Char(c));
        }
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plain_login_module_with_users_parses() {
        let entries = parse(
            r#"org.apache.kafka.common.security.plain.PlainLoginModule required
               username="admin" password="admin-secret" // the broker's own
               user_admin="admin-secret" user_alice='a\"b;c' /* alice */ ;"#,
        )
        .expect("a valid JAAS config");
        assert_eq!(entries.len(), 1);
        let e = &entries[0];
        assert_eq!(
            e.login_module,
            "org.apache.kafka.common.security.plain.PlainLoginModule"
        );
        assert_eq!(e.options["user_admin"], "admin-secret");
        assert_eq!(
            e.options["user_alice"], "a\"b;c",
            "quotes and escapes are honoured"
        );
        assert_eq!(e.options["username"], "admin");
    }

    #[test]
    fn malformed_configs_are_refused_with_a_reason() {
        for (bad, why) in [
            ("", "login module not specified"),
            ("Module", "control flag not specified"),
            ("Module sometimes;", "invalid login module control flag"),
            (
                "Module required user_a=\"x\"",
                "not terminated by semi-colon",
            ),
            ("Module required user_a=;", "value not specified"),
            ("Module required user_a=123;", "value not specified"),
            ("Module required user_a=\"x;", "unterminated"),
        ] {
            let e = parse(bad).expect_err(bad);
            assert!(e.contains(why), "`{bad}`: expected `{why}`, got `{e}`");
        }
    }
}
