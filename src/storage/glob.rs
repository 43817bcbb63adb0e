//! `match:` globs over object keys, matched against the key relative to the listed prefix.
//!
//! `*` matches within one path segment (no `/`), `**` matches across segments (`**/` also matches
//! no directory at all, so `**/*.jpg` matches `a.jpg` and `x/y/a.jpg`), `?` one character other
//! than `/`, `[abc]`, `[a-z]` and `[!abc]` one character of (or not of) a set, and `{jpg,png}`
//! one of several alternatives. Matching is linear in the key length times the pattern length:
//! no pattern can make it take exponential time.

use std::fmt;

/// Longest pattern accepted, in characters.
const MAX_PATTERN_CHARS: usize = 1024;
/// Most alternatives `{…}` groups may expand to.
const MAX_ALTERNATIVES: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Literal(char),
    /// `?`
    One,
    /// `*`
    Star,
    /// `**` not followed by `/`
    Deep,
    /// `**/`: zero or more whole directories
    Dirs,
    /// `[…]`
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// A compiled glob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    source: String,
    alternatives: Vec<Vec<Token>>,
}

/// Why a glob does not compile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid glob `{pattern}`: {reason}")]
pub struct GlobError {
    pub pattern: String,
    pub reason: String,
}

impl Glob {
    pub fn new(pattern: &str) -> Result<Glob, GlobError> {
        let error = |reason: &str| GlobError {
            pattern: pattern.to_owned(),
            reason: reason.to_owned(),
        };
        if pattern.chars().count() > MAX_PATTERN_CHARS {
            return Err(error("longer than 1,024 characters"));
        }
        let expanded = expand_braces(pattern).map_err(|reason| error(&reason))?;
        let alternatives = expanded
            .iter()
            .map(|alternative| compile(alternative).map_err(|reason| error(&reason)))
            .collect::<Result<_, _>>()?;
        Ok(Glob {
            source: pattern.to_owned(),
            alternatives,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    pub fn matches(&self, text: &str) -> bool {
        let text: Vec<char> = text.chars().collect();
        self.alternatives
            .iter()
            .any(|tokens| matches_tokens(tokens, &text))
    }
}

impl fmt::Display for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// `a{b,c}d{e,f}` → `abde`, `abdf`, `acde`, `acdf`. No nesting.
fn expand_braces(pattern: &str) -> Result<Vec<String>, String> {
    let mut results = vec![String::new()];
    let mut rest = pattern;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}').map(|at| open + at) else {
            return Err("`{` without a closing `}`".into());
        };
        let inner = &rest[open + 1..close];
        if inner.contains('{') {
            return Err("nested `{` groups are not supported".into());
        }
        let options: Vec<&str> = inner.split(',').collect();
        if results.len() * options.len() > MAX_ALTERNATIVES {
            return Err("`{…}` groups expand to more than 64 alternatives".into());
        }
        let head = &rest[..open];
        results = results
            .iter()
            .flat_map(|done| {
                options
                    .iter()
                    .map(move |option| format!("{done}{head}{option}"))
            })
            .collect();
        rest = &rest[close + 1..];
    }
    if rest.contains('}') {
        return Err("`}` without an opening `{`".into());
    }
    for result in &mut results {
        result.push_str(rest);
    }
    Ok(results)
}

fn compile(pattern: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut tokens = Vec::with_capacity(chars.len());
    let mut at = 0;
    while at < chars.len() {
        match chars[at] {
            '*' if chars.get(at + 1) == Some(&'*') => {
                if chars.get(at + 2) == Some(&'/') {
                    tokens.push(Token::Dirs);
                    at += 3;
                } else {
                    tokens.push(Token::Deep);
                    at += 2;
                    while chars.get(at) == Some(&'*') {
                        at += 1;
                    }
                }
            }
            '*' => {
                tokens.push(Token::Star);
                at += 1;
            }
            '?' => {
                tokens.push(Token::One);
                at += 1;
            }
            '[' => {
                let mut end = at + 1;
                let negated = matches!(chars.get(end), Some('!') | Some('^'));
                if negated {
                    end += 1;
                }
                let start = end;
                // A `]` right after `[` (or `[!`) is a member, not the end.
                if chars.get(end) == Some(&']') {
                    end += 1;
                }
                while end < chars.len() && chars[end] != ']' {
                    end += 1;
                }
                if end >= chars.len() {
                    return Err("`[` without a closing `]`".into());
                }
                let members = &chars[start..end];
                let mut ranges = Vec::new();
                let mut index = 0;
                while index < members.len() {
                    if index + 2 < members.len() && members[index + 1] == '-' {
                        let (low, high) = (members[index], members[index + 2]);
                        if low > high {
                            return Err(format!("the range `{low}-{high}` is backwards"));
                        }
                        ranges.push((low, high));
                        index += 3;
                    } else {
                        ranges.push((members[index], members[index]));
                        index += 1;
                    }
                }
                tokens.push(Token::Class { negated, ranges });
                at = end + 1;
            }
            '\\' if at + 1 < chars.len() => {
                tokens.push(Token::Literal(chars[at + 1]));
                at += 2;
            }
            c => {
                tokens.push(Token::Literal(c));
                at += 1;
            }
        }
    }
    Ok(tokens)
}

/// Dynamic programming over (token, position), one row per token from the last: `next[j]` says
/// whether the tokens after the current one match `text[j..]`.
fn matches_tokens(tokens: &[Token], text: &[char]) -> bool {
    let length = text.len();
    let mut next = vec![false; length + 1];
    next[length] = true;
    let mut row = vec![false; length + 1];
    for token in tokens.iter().rev() {
        let mut reachable_dir_end = false;
        for j in (0..=length).rev() {
            let here = text.get(j).copied();
            row[j] = match token {
                Token::Literal(c) => here == Some(*c) && next[j + 1],
                Token::One => here.is_some_and(|c| c != '/') && next[j + 1],
                Token::Class { negated, ranges } => {
                    here.is_some_and(|c| {
                        c != '/'
                            && ranges.iter().any(|&(low, high)| low <= c && c <= high) != *negated
                    }) && next[j + 1]
                }
                Token::Star => next[j] || (here.is_some_and(|c| c != '/') && row[j + 1]),
                Token::Deep => next[j] || (here.is_some() && row[j + 1]),
                Token::Dirs => {
                    // Ends after a `/` at some k > j, or matches nothing.
                    if here == Some('/') && next[j + 1] {
                        reachable_dir_end = true;
                    }
                    next[j] || (reachable_dir_end && here.is_some())
                }
            };
        }
        std::mem::swap(&mut row, &mut next);
    }
    next[0]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glob(pattern: &str) -> Glob {
        Glob::new(pattern).unwrap()
    }

    #[test]
    fn star_stays_within_a_segment() {
        assert!(glob("*.jpg").matches("0001.jpg"));
        assert!(!glob("*.jpg").matches("cam/0001.jpg"));
        assert!(!glob("*.jpg").matches("0001.jpeg"));
        assert!(glob("cam-*/*.jpg").matches("cam-1/0001.jpg"));
        assert!(glob("*").matches(""));
    }

    #[test]
    fn double_star_crosses_segments() {
        assert!(glob("**/*.jpg").matches("a.jpg"));
        assert!(glob("**/*.jpg").matches("x/y/a.jpg"));
        assert!(!glob("**/*.jpg").matches("x/y/a.png"));
        assert!(glob("**.jpg").matches("x/y/a.jpg"));
        assert!(glob("a/**/b").matches("a/b"));
        assert!(glob("a/**/b").matches("a/x/y/b"));
        assert!(!glob("a/**/b").matches("a/xb"));
        assert!(glob("**").matches("anything/at/all"));
    }

    #[test]
    fn question_marks_classes_and_alternatives() {
        assert!(glob("img-??.png").matches("img-01.png"));
        assert!(!glob("img-??.png").matches("img-1.png"));
        assert!(!glob("a?b").matches("a/b"));
        assert!(glob("[0-9][!a-z].jpg").matches("1X.jpg"));
        assert!(!glob("[0-9][!a-z].jpg").matches("1x.jpg"));
        assert!(glob("[]x]").matches("]"));
        assert!(glob("*.{jpg,png}").matches("a.png"));
        assert!(glob("{cam,lidar}/*.{jpg,pcd}").matches("lidar/1.pcd"));
        assert!(!glob("*.{jpg,png}").matches("a.gif"));
        assert!(glob("a\\*b").matches("a*b"));
        assert!(!glob("a\\*b").matches("axb"));
    }

    #[test]
    fn bad_patterns_are_refused_with_a_reason() {
        for pattern in ["[abc", "a{b,c", "a}b", "{a{b}}", "[z-a]"] {
            let error = Glob::new(pattern).unwrap_err();
            assert_eq!(error.pattern, pattern);
        }
        assert!(Glob::new(&"{a,b}".repeat(7)).is_err(), "2^7 alternatives");
        assert!(Glob::new(&"a".repeat(2000)).is_err());
    }

    #[test]
    fn pathological_patterns_match_in_bounded_time() {
        let pattern = glob(&"*a".repeat(50));
        let text = "a".repeat(40) + "b";
        assert!(!pattern.matches(&text));
        let deep = glob(&"**/a".repeat(30));
        assert!(!deep.matches(&"a/".repeat(200)));
    }
}
