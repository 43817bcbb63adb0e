//! IAM wildcard patterns: `*` (any run of characters, `/` included) and `?` (one character), as
//! in `Action` and `Resource`; and, in a policy of version 2012-10-17 only, the escapes `${*}`,
//! `${?}` and `${$}`, which stand for the literal characters (under 2008-10-17, or without a
//! `Version`, `${` is plain text and the `*` or `?` inside it a wildcard).

/// One element of a compiled pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Literal(char),
    /// `?`
    One,
    /// `*`
    Any,
}

/// A policy pattern, compiled once and matched many times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    source: String,
    tokens: Vec<Token>,
}

/// A `${…}` in a pattern other than the three escapes: a policy variable whose value depends on
/// the request (e.g. `${aws:username}`), which a static check cannot know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownVariable(pub String);

impl Pattern {
    /// Compiles `text`; `fold_case` lowercases it (actions are case-insensitive, resources not);
    /// `variables`: the policy is of version 2012-10-17, where `${…}` is a policy variable.
    pub fn new(text: &str, fold_case: bool, variables: bool) -> Result<Pattern, UnknownVariable> {
        let mut tokens = Vec::with_capacity(text.len());
        let mut rest = text;
        while let Some(character) = rest.chars().next() {
            if let Some(after) = rest.strip_prefix("${").filter(|_| variables) {
                let Some(end) = after.find('}') else {
                    return Err(UnknownVariable(rest.to_owned()));
                };
                match &after[..end] {
                    "*" => tokens.push(Token::Literal('*')),
                    "?" => tokens.push(Token::Literal('?')),
                    "$" => tokens.push(Token::Literal('$')),
                    other => return Err(UnknownVariable(format!("${{{other}}}"))),
                }
                rest = &after[end + 1..];
                continue;
            }
            tokens.push(match character {
                '*' => Token::Any,
                '?' => Token::One,
                c if fold_case => Token::Literal(c.to_ascii_lowercase()),
                c => Token::Literal(c),
            });
            rest = &rest[character.len_utf8()..];
        }
        Ok(Pattern {
            source: text.to_owned(),
            tokens,
        })
    }

    /// Whether the pattern holds a `?` wildcard.
    pub fn has_single_wildcard(&self) -> bool {
        self.tokens.contains(&Token::One)
    }

    /// The text the pattern was compiled from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether the pattern matches all of `text` (lowercase `text` first for a case-folded
    /// pattern). Greedy with one backtracking point per `*`: linear on the patterns policies use.
    pub fn matches(&self, text: &str) -> bool {
        let text: Vec<char> = text.chars().collect();
        let (mut p, mut t) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while t < text.len() {
            match self.tokens.get(p) {
                Some(Token::Any) => {
                    star = Some((p, t));
                    p += 1;
                }
                Some(Token::One) => {
                    p += 1;
                    t += 1;
                }
                Some(Token::Literal(c)) if *c == text[t] => {
                    p += 1;
                    t += 1;
                }
                _ => match star {
                    Some((star_p, star_t)) => {
                        p = star_p + 1;
                        t = star_t + 1;
                        star = Some((star_p, star_t + 1));
                    }
                    None => return false,
                },
            }
        }
        self.tokens[p..].iter().all(|token| *token == Token::Any)
    }
}

impl Pattern {
    /// The token positions the pattern can be at after reading `prefix`, with every `*` taken
    /// as matching nothing as well (an empty set: no text starting with `prefix` matches).
    fn states_after(&self, prefix: &str) -> Vec<bool> {
        let mut states = vec![false; self.tokens.len() + 1];
        states[0] = true;
        self.close_over_stars(&mut states);
        for character in prefix.chars() {
            let mut next = vec![false; states.len()];
            for (at, token) in self.tokens.iter().enumerate() {
                if !states[at] {
                    continue;
                }
                match token {
                    Token::Any => next[at] = true,
                    Token::One => next[at + 1] = true,
                    Token::Literal(c) if *c == character => next[at + 1] = true,
                    Token::Literal(_) => {}
                }
            }
            self.close_over_stars(&mut next);
            states = next;
        }
        states
    }

    fn close_over_stars(&self, states: &mut [bool]) {
        for at in 0..self.tokens.len() {
            if states[at] && self.tokens[at] == Token::Any {
                states[at + 1] = true;
            }
        }
    }

    /// Whether the pattern matches every text that starts with `prefix` (e.g. `b/week-48/*`
    /// and `b/*` match every key under `b/week-48/`; `b/week-48/*.jpg` does not).
    pub fn matches_every_extension(&self, prefix: &str) -> bool {
        let states = self.states_after(prefix);
        (0..self.tokens.len())
            .any(|at| states[at] && self.tokens[at..].iter().all(|token| *token == Token::Any))
    }

    /// Whether the pattern matches some text that starts with `prefix`.
    pub fn matches_some_extension(&self, prefix: &str) -> bool {
        self.states_after(prefix).iter().any(|state| *state)
    }
}

/// `text` of a 2012-10-17 policy with its escapes `${*}`, `${?}` and `${$}` read as the
/// characters; any other `${…}` is a policy variable whose value a static check cannot know.
pub fn resolve_escapes(text: &str) -> Result<String, UnknownVariable> {
    let mut resolved = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("${") {
        resolved.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        let Some(end) = after.find('}') else {
            return Err(UnknownVariable(rest[at..].to_owned()));
        };
        match &after[..end] {
            escaped @ ("*" | "?" | "$") => resolved.push_str(escaped),
            other => return Err(UnknownVariable(format!("${{{other}}}"))),
        }
        rest = &after[end + 1..];
    }
    resolved.push_str(rest);
    Ok(resolved)
}

/// `text` as a literal in a policy pattern: `*`, `?` and `$` become `${*}`, `${?}` and `${$}`.
pub fn escape_literal(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '*' | '?' | '$' => {
                escaped.push_str("${");
                escaped.push(character);
                escaped.push('}');
            }
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, text: &str) -> bool {
        Pattern::new(pattern, false, true).unwrap().matches(text)
    }

    #[test]
    fn star_spans_slashes_and_question_mark_is_one_character() {
        assert!(matches("arn:aws:s3:::b/*", "arn:aws:s3:::b/a/b/c.jpg"));
        assert!(matches(
            "arn:aws:s3:::b/*/c.jpg",
            "arn:aws:s3:::b/a/b/c.jpg"
        ));
        assert!(matches("arn:aws:s3:::b/?.jpg", "arn:aws:s3:::b/c.jpg"));
        assert!(!matches("arn:aws:s3:::b/?.jpg", "arn:aws:s3:::b/cc.jpg"));
        assert!(!matches("arn:aws:s3:::b", "arn:aws:s3:::b/c.jpg"));
        assert!(matches("*", ""));
        assert!(matches("a*b*c", "aXXbYYbc"));
        assert!(!matches("a*b*c", "aXXbYYb"));
        assert!(
            !matches("arn:aws:s3:::B/*", "arn:aws:s3:::b/x"),
            "case-sensitive"
        );
    }

    #[test]
    fn prefixes_are_covered_wholly_partly_or_not_at_all() {
        let every = |pattern: &str, prefix: &str| {
            Pattern::new(pattern, false, true)
                .unwrap()
                .matches_every_extension(prefix)
        };
        let some = |pattern: &str, prefix: &str| {
            Pattern::new(pattern, false, true)
                .unwrap()
                .matches_some_extension(prefix)
        };
        assert!(every("b/week-48/*", "b/week-48/"));
        assert!(every("b/*", "b/week-48/"));
        assert!(every("b/week-*", "b/week-48/"));
        assert!(every("*", ""));
        assert!(every("b/w?ek-48/*", "b/week-48/"));
        assert!(!every("b/week-48/*.jpg", "b/week-48/"));
        assert!(!every("b/week-48/a", "b/week-48/"));
        assert!(!every("b/week-49/*", "b/week-48/"));
        assert!(!every("b/week-48${*}", "b/week-48/"));
        assert!(some("b/week-48/*.jpg", "b/week-48/"));
        assert!(some("b/week-48/cam-00*", "b/week-48/"));
        assert!(some("b/*/x", "b/week-48/"));
        assert!(some("b/week-48/a", "b/week-48/"));
        assert!(some("b/week", "b/we"));
        assert!(!some("b/week-49/*", "b/week-48/"));
        assert!(!some("b/week", "b/week-48/"));
        assert!(!some("c/*", "b/week-48/"));
    }

    #[test]
    fn folded_patterns_ignore_case() {
        let pattern = Pattern::new("S3:Get*", true, true).unwrap();
        assert!(pattern.matches("s3:getobject"));
        assert!(!pattern.matches("s3:putobject"));
    }

    #[test]
    fn escapes_are_literal_and_other_variables_are_unknown() {
        assert!(matches("b/a${*}b", "b/a*b"));
        assert!(!matches("b/a${*}b", "b/aXb"));
        assert!(matches("b/${?}${$}", "b/?$"));
        assert_eq!(
            Pattern::new("b/${aws:username}/*", false, true),
            Err(UnknownVariable("${aws:username}".into()))
        );
        assert_eq!(escape_literal("a*b?c$d"), "a${*}b${?}c${$}d");
        let key = "weird*name?$.jpg";
        assert!(matches(&escape_literal(key), key));
        assert!(!matches(&escape_literal(key), "weirdXnameY$.jpg"));
    }

    #[test]
    fn without_variables_a_dollar_brace_is_text_and_its_star_a_wildcard() {
        let pattern = Pattern::new("b/a${*}b", false, false).unwrap();
        assert!(pattern.matches("b/a${anything}b"));
        assert!(!pattern.matches("b/a*b"));
        assert!(
            Pattern::new("b/${aws:username}", false, false)
                .unwrap()
                .matches("b/${aws:username}")
        );
    }
}
