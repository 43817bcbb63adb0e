//! YAML text → located [`Node`] tree. The only module that knows which YAML library is used.
//!
//! It walks the event stream of `granit_parser` (re-exported by `serde-saphyr`, a pure-Rust YAML
//! 1.2 parser) and builds a tree whose every node and key knows its line and column. Scalars are
//! typed by the YAML 1.2 core schema: `no`, `yes`, `on` and `off` stay strings; only `true`/`false`
//! are booleans. Quoted scalars are always strings.
//!
//! Guard rails against hostile input: one document per file, duplicate keys are rejected, keys must
//! be scalars, nesting is limited to [`MAX_DEPTH`] levels and alias expansion to [`MAX_NODES`]
//! nodes (a "billion laughs" file fails fast instead of eating memory).
//!
//! Small files outside the workspace format that need no located tree (the emulator's seed file)
//! are read straight into a serde type with [`from_str`].

use std::collections::HashMap;

use serde_saphyr::granit_parser::{Event, Marker, Parser, ScalarStyle, Tag};

use super::node::{Entry, Node, Span, Value};

/// Deepest nesting of collections accepted.
pub(crate) const MAX_DEPTH: usize = 64;
/// Most nodes one file may expand to (counting every alias expansion).
pub(crate) const MAX_NODES: usize = 5_000_000;

/// A problem found while reading YAML, located in the file.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct YamlProblem {
    pub span: Span,
    pub message: String,
    /// A second place, e.g. where a duplicated key was first written.
    pub label: Option<(Span, String)>,
    pub hint: Option<String>,
}

impl YamlProblem {
    fn new(span: Span, message: impl Into<String>) -> Self {
        YamlProblem {
            span,
            message: message.into(),
            label: None,
            hint: None,
        }
    }
}

/// The outcome of parsing one file: the tree (`None` if the file is empty or unreadable as YAML)
/// and the problems found. Problems with a tree are not fatal (e.g. a duplicate key: the first
/// value is kept).
pub(crate) struct Parsed {
    pub root: Option<Node>,
    pub problems: Vec<YamlProblem>,
}

/// Reads one YAML document (JSON is YAML too) into `T`. The error says what is wrong and where
/// (line and column), e.g. an unknown field of a `deny_unknown_fields` type.
#[cfg(feature = "emulator")]
pub(crate) fn from_str<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, String> {
    serde_saphyr::from_str(text).map_err(|error| error.to_string())
}

/// Parses one YAML document from `text`.
pub(crate) fn parse(text: &str) -> Parsed {
    let mut builder = Builder::default();
    match builder.run(text) {
        Ok(root) => Parsed {
            root,
            problems: builder.problems,
        },
        Err(fatal) => {
            let mut problems = builder.problems;
            problems.push(fatal);
            Parsed {
                root: None,
                problems,
            }
        }
    }
}

fn span_of(marker: &Marker) -> Span {
    Span::new(
        u32::try_from(marker.line()).unwrap_or(u32::MAX),
        u32::try_from(marker.col() + 1).unwrap_or(u32::MAX),
    )
}

/// Where the tab an error complains about is: the parser may report the character after it,
/// or the end of the line before it. Looks back over the reported line's indentation first, then
/// forward.
fn locate_tab(text: &str, reported: Span) -> Option<Span> {
    let first_line = usize::try_from(reported.line).ok()?.checked_sub(1)?;
    let column = usize::try_from(reported.column).ok()?.saturating_sub(1);
    let mut lines = text.split('\n').enumerate().skip(first_line);
    let (_, line) = lines.next()?;
    let chars: Vec<char> = line.chars().collect();
    let before = &chars[..column.min(chars.len())];
    let indentation = before.iter().rev().take_while(|c| matches!(c, ' ' | '\t'));
    if let Some(back) = indentation.clone().position(|c| *c == '\t') {
        let index = before.len() - 1 - back;
        return Some(Span::new(reported.line, u32::try_from(index + 1).ok()?));
    }
    if let Some(index) = chars.iter().skip(column).position(|c| *c == '\t') {
        return Some(Span::new(
            reported.line,
            u32::try_from(column + index + 1).ok()?,
        ));
    }
    lines.find_map(|(number, line)| {
        let index = line.chars().position(|c| c == '\t')?;
        Some(Span::new(
            u32::try_from(number + 1).ok()?,
            u32::try_from(index + 1).ok()?,
        ))
    })
}

enum Frame {
    Seq {
        span: Span,
        anchor: usize,
        items: Vec<Node>,
    },
    Map {
        span: Span,
        anchor: usize,
        entries: Vec<Entry>,
        key: Option<(String, Span)>,
        /// The pending key is a refused merge key: its value is dropped.
        dropping: bool,
    },
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    nodes: usize,
    problems: Vec<YamlProblem>,
}

impl Builder {
    fn run(&mut self, text: &str) -> Result<Option<Node>, YamlProblem> {
        let mut root = None;
        let mut documents = 0;
        for event in Parser::new_from_str(text) {
            let (event, span) = event.map_err(|error| {
                let mut at = span_of(error.marker());
                if error.info().contains("tab") {
                    at = locate_tab(text, at).unwrap_or(at);
                }
                YamlProblem::new(at, format!("invalid YAML: {}", error.info()))
            })?;
            let at = span_of(&span.start);
            match event {
                Event::DocumentStart(..) => {
                    documents += 1;
                    if documents > 1 {
                        let mut problem =
                            YamlProblem::new(at, "a configuration file holds one YAML document");
                        problem.hint = Some(
                            "split the documents into separate files of a directory workspace"
                                .into(),
                        );
                        return Err(problem);
                    }
                }
                Event::Scalar(text, style, anchor, tag) => {
                    if text == "<<"
                        && style == ScalarStyle::Plain
                        && tag.is_none()
                        && let Some(Frame::Map {
                            key: None,
                            dropping,
                            ..
                        }) = self.stack.last_mut()
                    {
                        // YAML 1.1 merge keys are not part of YAML 1.2; refused with a hint
                        // rather than read as a key named `<<`.
                        *dropping = true;
                        let mut problem =
                            YamlProblem::new(at, "YAML merge keys (`<<`) are not supported");
                        problem.hint = Some(
                            "write the keys out; for jobs, `defaults:` on the project sets `workflow`, `priority_weight` and `type`".into(),
                        );
                        self.problems.push(problem);
                    }
                    let value =
                        resolve_scalar(&text, style, tag.as_deref(), at, &mut self.problems);
                    self.finish(Node::new(value, at), anchor, &mut root, Some(text.as_ref()))?;
                }
                Event::Alias(anchor) => {
                    let Some(node) = self.anchors.get(&anchor).cloned() else {
                        return Err(YamlProblem::new(at, "alias to an unknown anchor"));
                    };
                    self.count(count_nodes(&node), at)?;
                    self.finish(node, 0, &mut root, None)?;
                }
                Event::SequenceStart(_, anchor, tag) => {
                    self.check_collection_tag(tag.as_deref(), "seq", at);
                    self.open(
                        Frame::Seq {
                            span: at,
                            anchor,
                            items: Vec::new(),
                        },
                        at,
                    )?;
                }
                Event::MappingStart(_, anchor, tag) => {
                    self.check_collection_tag(tag.as_deref(), "map", at);
                    self.open(
                        Frame::Map {
                            span: at,
                            anchor,
                            entries: Vec::new(),
                            key: None,
                            dropping: false,
                        },
                        at,
                    )?;
                }
                Event::SequenceEnd => {
                    if let Some(Frame::Seq {
                        span,
                        anchor,
                        items,
                    }) = self.stack.pop()
                    {
                        self.finish(Node::new(Value::Seq(items), span), anchor, &mut root, None)?;
                    }
                }
                Event::MappingEnd => {
                    if let Some(Frame::Map {
                        span,
                        anchor,
                        entries,
                        ..
                    }) = self.stack.pop()
                    {
                        self.finish(
                            Node::new(Value::Map(entries), span),
                            anchor,
                            &mut root,
                            None,
                        )?;
                    }
                }
                _ => {}
            }
        }
        Ok(root)
    }

    fn count(&mut self, added: usize, at: Span) -> Result<(), YamlProblem> {
        self.nodes += added;
        if self.nodes > MAX_NODES {
            return Err(YamlProblem::new(
                at,
                format!("the document expands to more than {MAX_NODES} values (through aliases?)"),
            ));
        }
        Ok(())
    }

    fn open(&mut self, frame: Frame, at: Span) -> Result<(), YamlProblem> {
        if let Some(Frame::Map { key: None, .. }) = self.stack.last() {
            return Err(YamlProblem::new(
                at,
                "mapping keys must be plain values, not lists or mappings",
            ));
        }
        if self.stack.len() >= MAX_DEPTH {
            return Err(YamlProblem::new(
                at,
                format!("nesting deeper than {MAX_DEPTH} levels"),
            ));
        }
        self.count(1, at)?;
        self.stack.push(frame);
        Ok(())
    }

    fn check_collection_tag(&mut self, tag: Option<&Tag>, expected: &str, at: Span) {
        if let Some(tag) = tag
            && !tag.is_yaml_core_schema_tag(expected)
        {
            self.problems.push(YamlProblem::new(
                at,
                format!("unsupported YAML tag `{}`", describe_tag(tag)),
            ));
        }
    }

    /// Places a completed node: as a key, as a value, as an item, or as the document root.
    fn finish(
        &mut self,
        node: Node,
        anchor: usize,
        root: &mut Option<Node>,
        key_text: Option<&str>,
    ) -> Result<(), YamlProblem> {
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        if key_text.is_some() {
            self.count(1, node.span)?;
        }
        match self.stack.last_mut() {
            None => *root = Some(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map {
                entries,
                key,
                dropping,
                ..
            }) => match key.take() {
                None => {
                    let Some(text) = key_text else {
                        return Err(YamlProblem::new(
                            node.span,
                            "mapping keys must be plain values, not aliases",
                        ));
                    };
                    *key = Some((text.to_string(), node.span));
                }
                Some(_) if *dropping => *dropping = false,
                Some((name, key_span)) => {
                    if let Some(first) = entries.iter().find(|entry| entry.key == name) {
                        let mut problem =
                            YamlProblem::new(key_span, format!("duplicate key `{name}`"));
                        problem.label = Some((first.key_span, "first defined here".into()));
                        self.problems.push(problem);
                    } else {
                        entries.push(Entry {
                            key: name,
                            key_span,
                            value: node,
                        });
                    }
                }
            },
        }
        Ok(())
    }
}

fn count_nodes(node: &Node) -> usize {
    match &node.value {
        Value::Seq(items) => 1 + items.iter().map(count_nodes).sum::<usize>(),
        Value::Map(entries) => {
            1 + entries
                .iter()
                .map(|e| 1 + count_nodes(&e.value))
                .sum::<usize>()
        }
        _ => 1,
    }
}

fn describe_tag(tag: &Tag) -> String {
    format!("{}{}", tag.handle(), tag.suffix())
}

/// Types a scalar by the YAML 1.2 core schema (or by its explicit core tag).
fn resolve_scalar(
    text: &str,
    style: ScalarStyle,
    tag: Option<&Tag>,
    at: Span,
    problems: &mut Vec<YamlProblem>,
) -> Value {
    if let Some(tag) = tag {
        let forced = ["str", "null", "bool", "int", "float"]
            .into_iter()
            .find(|suffix| tag.is_yaml_core_schema_tag(suffix));
        return match forced {
            Some("str") => Value::Str(text.to_string()),
            Some(kind) => match resolve_plain(text) {
                value @ Value::Null if kind == "null" => value,
                value @ Value::Bool(_) if kind == "bool" => value,
                value @ Value::Int(_) if kind == "int" => value,
                Value::Int(number) if kind == "float" => Value::Float(number as f64),
                value @ (Value::Float(_) | Value::Decimal(_)) if kind == "float" => value,
                _ => {
                    problems.push(YamlProblem::new(
                        at,
                        format!("`{text}` is not a valid `!!{kind}`"),
                    ));
                    Value::Str(text.to_string())
                }
            },
            None => {
                problems.push(YamlProblem::new(
                    at,
                    format!("unsupported YAML tag `{}`", describe_tag(tag)),
                ));
                Value::Str(text.to_string())
            }
        };
    }
    match style {
        ScalarStyle::Plain => resolve_plain(text),
        _ => Value::Str(text.to_string()),
    }
}

/// The YAML 1.2 core schema resolution of a plain scalar.
fn resolve_plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Value::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Value::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Value::Float(f64::NAN),
        _ => {}
    }
    if let Some(octal) = text.strip_prefix("0o")
        && !octal.is_empty()
        && octal.bytes().all(|b| (b'0'..=b'7').contains(&b))
    {
        return i64::from_str_radix(octal, 8).map_or(Value::Str(text.to_string()), Value::Int);
    }
    if let Some(hex) = text.strip_prefix("0x")
        && !hex.is_empty()
        && hex.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return i64::from_str_radix(hex, 16).map_or(Value::Str(text.to_string()), Value::Int);
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return match text.parse::<i64>() {
            Ok(number) => Value::Int(number),
            Err(_) => Value::BigInt(big_integer(text.starts_with('-'), digits)),
        };
    }
    if is_core_float(digits) {
        return Value::from_decimal_text(text);
    }
    Value::Str(text.to_string())
}

/// The JSON text of a decimal integer too large for 64 bits: no `+`, no leading zeros.
fn big_integer(negative: bool, digits: &str) -> String {
    let digits = digits.trim_start_matches('0');
    let sign = if negative { "-" } else { "" };
    format!("{sign}{digits}")
}

/// `(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?` (sign already stripped).
fn is_core_float(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut index = 0;
    let int_digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    index += int_digits;
    let mut frac_digits = 0;
    if bytes.get(index) == Some(&b'.') {
        index += 1;
        frac_digits = bytes[index..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        index += frac_digits;
    }
    if int_digits == 0 && frac_digits == 0 {
        return false;
    }
    if matches!(bytes.get(index), Some(b'e' | b'E')) {
        index += 1;
        if matches!(bytes.get(index), Some(b'-' | b'+')) {
            index += 1;
        }
        let exp_digits = bytes[index..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        if exp_digits == 0 {
            return false;
        }
        index += exp_digits;
    }
    index == bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_str_reads_serde_types_and_locates_unknown_fields() {
        #[derive(Debug, serde::Deserialize, PartialEq)]
        #[serde(deny_unknown_fields)]
        struct Small {
            name: String,
            #[serde(default)]
            tags: Vec<String>,
        }
        let small: Small = from_str("name: a\ntags: [x, y]\n").unwrap();
        assert_eq!(small.name, "a");
        assert_eq!(small.tags, ["x", "y"]);
        let error = from_str::<Small>("name: a\nnmae: b\n").unwrap_err();
        assert!(error.contains("nmae"), "{error}");
        assert!(error.contains('2'), "the line is named: {error}");
    }

    fn value_of(text: &str) -> Value {
        let parsed = parse(text);
        assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
        parsed.root.unwrap().value
    }

    fn map_values(text: &str) -> Vec<(String, Value)> {
        match value_of(text) {
            Value::Map(entries) => entries
                .into_iter()
                .map(|e| (e.key, e.value.value))
                .collect(),
            other => panic!("not a map: {other:?}"),
        }
    }

    #[test]
    fn scalars_follow_the_yaml_1_2_core_schema() {
        let values = map_values(
            "a: no\nb: yes\nc: off\nd: true\ne: 012\nf: 0x1F\ng: 1.5e3\nh: ~\ni: '5'\nj: .inf\nk: 1_000\nl: 0o17\nm: -7\nn:\n",
        );
        let expected = vec![
            ("a", Value::Str("no".into())),
            ("b", Value::Str("yes".into())),
            ("c", Value::Str("off".into())),
            ("d", Value::Bool(true)),
            ("e", Value::Int(12)),
            ("f", Value::Int(31)),
            ("g", Value::Float(1500.0)),
            ("h", Value::Null),
            ("i", Value::Str("5".into())),
            ("j", Value::Float(f64::INFINITY)),
            ("k", Value::Str("1_000".into())),
            ("l", Value::Int(15)),
            ("m", Value::Int(-7)),
            ("n", Value::Null),
        ];
        let expected: Vec<(String, Value)> = expected
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        assert_eq!(values, expected);
    }

    #[test]
    fn integers_beyond_64_bits_keep_their_digits() {
        let values = map_values(
            "a: 12345678901234567890\nb: -0099999999999999999999\nc: +18446744073709551616\n",
        );
        assert_eq!(values[0].1, Value::BigInt("12345678901234567890".into()));
        assert_eq!(values[1].1, Value::BigInt("-99999999999999999999".into()));
        assert_eq!(values[2].1, Value::BigInt("18446744073709551616".into()));
    }

    #[test]
    fn core_tags_force_the_type() {
        let values = map_values("a: !!str 12\nb: !!float 3\n");
        assert_eq!(values[0].1, Value::Str("12".into()));
        assert_eq!(values[1].1, Value::Float(3.0));
    }

    #[test]
    fn spans_are_one_based_lines_and_columns() {
        let parsed = parse("version: 1\nprojects:\n  p:\n    id: x\n");
        let Value::Map(top) = parsed.root.unwrap().value else {
            panic!()
        };
        assert_eq!(top[1].key_span, Span::new(2, 1));
        let Value::Map(projects) = &top[1].value.value else {
            panic!()
        };
        let Value::Map(project) = &projects[0].value.value else {
            panic!()
        };
        assert_eq!(project[0].key_span, Span::new(4, 5));
        assert_eq!(project[0].value.span, Span::new(4, 9));
    }

    #[test]
    fn duplicate_keys_are_reported_with_the_first_place() {
        let parsed = parse("a: 1\nb: 2\na: 3\n");
        assert_eq!(parsed.problems.len(), 1);
        assert_eq!(parsed.problems[0].message, "duplicate key `a`");
        assert_eq!(parsed.problems[0].span, Span::new(3, 1));
        assert_eq!(
            parsed.problems[0].label.as_ref().unwrap().0,
            Span::new(1, 1)
        );
    }

    #[test]
    fn syntax_errors_are_located() {
        let parsed = parse("a: [1, 2\nb: 3\n");
        assert!(parsed.root.is_none());
        assert!(
            parsed.problems[0].message.starts_with("invalid YAML"),
            "{:?}",
            parsed.problems
        );
    }

    #[test]
    fn aliases_copy_the_anchored_value() {
        let values = map_values("a: &x {k: 1}\nb: *x\n");
        assert_eq!(values[0].1, values[1].1);
    }

    #[test]
    fn alias_bombs_stop_at_the_node_budget() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for level in 1..9 {
            let previous = level - 1;
            text.push_str(&format!("a{level}: &a{level} [*a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}]\n"));
        }
        let parsed = parse(&text);
        assert!(parsed.root.is_none());
        assert!(parsed.problems[0].message.contains("expands to more than"));
    }

    #[test]
    fn deep_nesting_is_refused() {
        let text = format!("{}1{}", "[".repeat(200), "]".repeat(200));
        let parsed = parse(&text);
        assert!(parsed.root.is_none());
        assert!(parsed.problems[0].message.contains("nesting deeper"));
    }

    #[test]
    fn second_document_is_refused() {
        let parsed = parse("a: 1\n---\nb: 2\n");
        assert!(parsed.problems[0].message.contains("one YAML document"));
    }

    #[test]
    fn empty_file_has_no_root() {
        let parsed = parse("# only a comment\n");
        assert!(parsed.root.is_none());
        assert!(parsed.problems.is_empty());
    }

    #[test]
    fn tab_errors_point_at_the_tab() {
        let parsed = parse("version: 1\n\tprojects: {}\n");
        assert_eq!(
            parsed.problems[0].span,
            Span::new(2, 1),
            "{:?}",
            parsed.problems
        );
        let parsed = parse("a:\n  b:\n\tc: 1\n");
        assert_eq!(
            parsed.problems[0].span,
            Span::new(3, 1),
            "{:?}",
            parsed.problems
        );
    }

    #[test]
    fn merge_keys_are_refused_with_a_hint() {
        let parsed = parse("base: &b { x: 1 }\njob:\n  <<: *b\n  y: 2\n");
        assert_eq!(parsed.problems.len(), 1, "{:?}", parsed.problems);
        assert!(parsed.problems[0].message.contains("merge keys"));
        assert_eq!(parsed.problems[0].span, Span::new(3, 3));
        // A quoted `<<` is an ordinary key.
        assert!(parse("'<<': 1\n").problems.is_empty());
    }

    #[test]
    fn complex_keys_are_refused() {
        let parsed = parse("? [a, b]\n: 1\n");
        assert!(parsed.root.is_none());
        assert!(parsed.problems[0].message.contains("mapping keys"));
    }
}
