//! Job templates of `jobs_from`: every string in a generator that holds template syntax is a
//! minijinja template, compiled once and rendered per manifest row.
//!
//! In scope: `row` (the manifest row: CSV columns by header name, or the JSONL object) and
//! `row_number` (1-based); for a bucket listing (`list:`), `object` instead (its [`OBJECT_FIELDS`]:
//! `object.key`, `object.url`, …). A string that is exactly one `{{ expression }}` keeps the expression's
//! native value (a JSONL list stays a list, a number stays a number); any other template renders to
//! a string. The function (and filter) `content_hash(value, …)` returns the hex SHA-256 of its
//! arguments' text joined by `\n`, a stable way to derive a `reference_id` from content:
//! `{{ content_hash(row.url) }}` equals `printf %s "$url" | sha256sum`.
//!
//! The common leaf `{{ row.column }}` (or `{{ object.field }}`) is read straight from the row, without the template engine:
//! that is most of the work of a million-row manifest.
//!
//! Budget: each evaluation (one template string, one row) runs with [`TEMPLATE_FUEL`]
//! instructions (minijinja's fuel) and may give at most [`MAX_TEMPLATE_OUTPUT_BYTES`]; going over
//! either is a problem of that row, marked `over_budget`. Filters, tests and functions a template
//! uses are checked against the environment once, before any row ([`check_callables`]): a
//! misspelt filter is found even when the manifest is empty.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use minijinja::value::{Enumerator, Object, Rest};
use minijinja::{
    Environment, Error, ErrorKind, Expression, Template, UndefinedBehavior, Value as JinjaValue,
};
use sha2::{Digest, Sha256};

use super::manifest::BigInteger;
use super::node::{Entry, Node, Span, Value};

/// Instructions one evaluation of a template string may run (minijinja's fuel): far more than a
/// job template needs, far less than a second of CPU.
pub(crate) const TEMPLATE_FUEL: u64 = 1_000_000;
/// Most bytes one evaluation may give (a rendered string, or the text of an expression's value).
pub(crate) const MAX_TEMPLATE_OUTPUT_BYTES: usize = 4 << 20;

/// Builds the environment templates run in: strict about undefined values, with `content_hash`,
/// a fuel budget, and `int` / `float` filters that say which text is not a number.
pub(crate) fn environment<'source>() -> Environment<'source> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(TEMPLATE_FUEL));
    env.add_filter(
        "int",
        |state: &minijinja::State<'_, '_>, value: JinjaValue| {
            minijinja::filters::int(state, &value).map_err(|_| not_a_number(&value, "an integer"))
        },
    );
    env.add_filter(
        "float",
        |state: &minijinja::State<'_, '_>, value: JinjaValue| {
            minijinja::filters::float(state, &value).map_err(|_| not_a_number(&value, "a number"))
        },
    );
    env.add_function("content_hash", content_hash);
    env.add_filter(
        "content_hash",
        |value: JinjaValue, rest: Rest<JinjaValue>| {
            let mut values = vec![value];
            values.extend(rest.0);
            content_hash(Rest(values))
        },
    );
    env
}

/// "`abc` is not an integer", for the `int` and `float` filters.
fn not_a_number(value: &JinjaValue, what: &str) -> Error {
    let shown = match value.as_str() {
        Some(text) => format!("`{text}`"),
        None => format!("a value of kind {}", value.kind()),
    };
    Error::new(
        ErrorKind::InvalidOperation,
        format!("{shown} is not {what}"),
    )
}

/// `content_hash(a, b, …)`: hex SHA-256 of the arguments' text joined by `\n`. Strings hash as
/// their UTF-8 bytes; other values as their JSON text.
fn content_hash(values: Rest<JinjaValue>) -> Result<String, Error> {
    if values.0.is_empty() {
        return Err(Error::new(
            ErrorKind::MissingArgument,
            "content_hash needs at least one value",
        ));
    }
    let mut hasher = Sha256::new();
    for (index, value) in values.0.iter().enumerate() {
        if index > 0 {
            hasher.update(b"\n");
        }
        if value.is_undefined() {
            return Err(Error::new(
                ErrorKind::UndefinedError,
                "content_hash of an undefined value",
            ));
        }
        match value.as_str() {
            Some(text) => hasher.update(text.as_bytes()),
            None => {
                let json = serde_json::to_string(value).map_err(|error| {
                    Error::new(
                        ErrorKind::InvalidOperation,
                        format!("cannot hash value: {error}"),
                    )
                })?;
                hasher.update(json.as_bytes());
            }
        }
    }
    Ok(crate::hex::encode(&hasher.finalize()))
}

/// Whether a string uses template syntax.
pub(crate) fn is_template(text: &str) -> bool {
    text.contains("{{") || text.contains("{%") || text.contains("{#")
}

/// The inner expression of a string that is exactly `{{ expression }}`.
fn sole_expression(text: &str) -> Option<&str> {
    let inner = text.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    if inner.contains("{{")
        || inner.contains("}}")
        || inner.contains("{%")
        || inner.contains("%}")
        || inner.starts_with('-')
        || inner.ends_with('-')
    {
        return None;
    }
    Some(inner.trim())
}

/// What templates of a bucket listing read about each object: `object.key` (`week-48/0001.jpg`),
/// `object.url` (`s3://bucket/week-48/0001.jpg`), `object.name` (`0001.jpg`), `object.stem`
/// (`0001`), `object.extension` (`jpg`, empty without one), `object.size` (bytes),
/// `object.last_modified` (RFC 3339, UTC).
pub(crate) const OBJECT_FIELDS: &[&str] = &[
    "key",
    "url",
    "name",
    "stem",
    "extension",
    "size",
    "last_modified",
];

/// The column of `root.name`, `root["name"]` or `root['name']` (`root`: `row` or `object`).
fn plain_column<'e>(expression: &'e str, root: &str) -> Option<&'e str> {
    let rest = expression.strip_prefix(root)?;
    if let Some(name) = rest.strip_prefix('.') {
        let mut chars = name.chars();
        let first = chars.next()?;
        return ((first.is_ascii_alphabetic() || first == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .then_some(name);
    }
    let inner = rest.strip_prefix('[')?.strip_suffix(']')?.trim();
    let name = inner
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .or_else(|| inner.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')))?;
    (!name.contains(['"', '\'', '\\'])).then_some(name)
}

/// A problem found while compiling or rendering, at the template string's place.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TemplateProblem {
    pub span: Span,
    pub message: String,
    pub hint: Option<String>,
    /// The evaluation ran out of fuel or gave too much output.
    pub over_budget: bool,
}

impl TemplateProblem {
    pub(super) fn new(span: Span, message: impl Into<String>) -> Self {
        TemplateProblem {
            span,
            message: message.into(),
            hint: None,
            over_budget: false,
        }
    }

    pub(super) fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// A compiled job template: the generator's YAML with its template strings compiled.
pub(crate) enum Part<'env> {
    /// No template below: copied into every job.
    Const(Node),
    /// `{{ row.name }}`: read from the row directly.
    Column {
        name: String,
        index: Option<usize>,
        span: Span,
    },
    /// `{{ expression }}`: keeps the value's type.
    Expression {
        expression: Expression<'env, 'env>,
        source: &'env str,
        span: Span,
    },
    /// Any other template: renders to a string.
    Render {
        template: Template<'env, 'env>,
        span: Span,
    },
    Seq {
        items: Vec<Part<'env>>,
        span: Span,
    },
    Map {
        entries: Vec<(String, Span, Part<'env>)>,
        span: Span,
    },
}

/// What templates may read, known before the first row.
pub(crate) struct Columns<'a> {
    /// CSV header names (`None` for JSONL, whose rows are free-form, and for listings).
    pub header: Option<&'a HashMap<String, usize>>,
    /// The rows are listed objects (`object`), not manifest rows (`row`, `row_number`).
    pub objects: bool,
}

impl Columns<'_> {
    /// The name templates read a row by.
    pub(crate) fn root(&self) -> &'static str {
        if self.objects { "object" } else { "row" }
    }
}

/// Compiles every template string below `node`, checking column names against the CSV header.
pub(crate) fn compile<'env>(
    env: &'env Environment<'env>,
    node: &'env Node,
    columns: &Columns<'_>,
    problems: &mut Vec<TemplateProblem>,
) -> Part<'env> {
    if !contains_template(node) {
        return Part::Const(node.clone());
    }
    match &node.value {
        Value::Str(text) => compile_string(env, text, node.span, columns, problems)
            .unwrap_or(Part::Const(Node::new(Value::Null, node.span))),
        Value::Seq(items) => Part::Seq {
            items: items
                .iter()
                .map(|item| compile(env, item, columns, problems))
                .collect(),
            span: node.span,
        },
        Value::Map(entries) => Part::Map {
            entries: entries
                .iter()
                .map(|entry| {
                    (
                        entry.key.clone(),
                        entry.key_span,
                        compile(env, &entry.value, columns, problems),
                    )
                })
                .collect(),
            span: node.span,
        },
        _ => Part::Const(node.clone()),
    }
}

/// Filters minijinja has built in, for "did you mean" hints only (the environment decides what
/// exists).
const KNOWN_FILTERS: &[&str] = &[
    "abs",
    "attr",
    "batch",
    "bool",
    "capitalize",
    "content_hash",
    "count",
    "default",
    "dictsort",
    "escape",
    "first",
    "float",
    "format",
    "groupby",
    "indent",
    "int",
    "items",
    "join",
    "last",
    "length",
    "lines",
    "list",
    "lower",
    "map",
    "max",
    "min",
    "pprint",
    "reject",
    "rejectattr",
    "replace",
    "reverse",
    "round",
    "safe",
    "select",
    "selectattr",
    "slice",
    "sort",
    "split",
    "string",
    "sum",
    "title",
    "tojson",
    "trim",
    "unique",
    "upper",
    "urlencode",
];

/// What a template calls by name.
#[derive(Default)]
struct Called {
    filters: BTreeSet<String>,
    tests: BTreeSet<String>,
    functions: BTreeSet<String>,
}

/// The filters, tests and functions `text` calls (macros it defines itself excluded).
fn called(text: &str) -> Result<Called, Error> {
    use minijinja::machinery::{CodeGenerator, Instruction, WhitespaceConfig, parse, parse_expr};
    let mut generator = CodeGenerator::new("<template>", text);
    match sole_expression(text) {
        Some(expression) => generator.compile_expr(&parse_expr(expression)?),
        None => generator.compile_stmt(&parse(
            text,
            "<template>",
            Default::default(),
            WhitespaceConfig::default(),
        )?),
    }
    let (instructions, blocks) = generator.finish();
    let mut called = Called::default();
    let mut local = BTreeSet::new();
    for code in std::iter::once(&instructions).chain(blocks.values()) {
        for index in 0..code.len() {
            let Some(instruction) = u32::try_from(index).ok().and_then(|i| code.get(i)) else {
                continue;
            };
            match instruction {
                Instruction::ApplyFilter(name, ..) => {
                    called.filters.insert((*name).to_string());
                }
                Instruction::PerformTest(name, ..) => {
                    called.tests.insert((*name).to_string());
                }
                Instruction::CallFunction(name, ..) => {
                    called.functions.insert((*name).to_string());
                }
                Instruction::StoreLocal(name) => {
                    local.insert((*name).to_string());
                }
                _ => {}
            }
        }
    }
    called.functions.retain(|name| {
        !local.contains(name) && !matches!(name.as_str(), "loop" | "caller" | "super" | "self")
    });
    Ok(called)
}

/// Reports every filter, test or function the templates below `node` use that the environment
/// lacks, once, at the template string, before any row is read. (Syntax errors are left to
/// [`compile`].)
pub(crate) fn check_callables(
    env: &Environment<'_>,
    node: &Node,
    problems: &mut Vec<TemplateProblem>,
) {
    match &node.value {
        Value::Str(text) if is_template(text) => {
            let Ok(called) = called(text) else {
                return;
            };
            let state = env.empty_state();
            for filter in &called.filters {
                let missing = state
                    .apply_filter(filter, &[])
                    .is_err_and(|error| error.kind() == ErrorKind::UnknownFilter);
                if missing {
                    let hint = match super::decode::closest(filter, KNOWN_FILTERS.iter().copied()) {
                        Some(suggestion) => format!("did you mean `{suggestion}`?"),
                        None => "see minijinja's built-in filters (`upper`, `lower`, `int`, `replace`, `default`, …) and `content_hash`".to_string(),
                    };
                    problems.push(
                        TemplateProblem::new(node.span, format!("unknown filter `{filter}`"))
                            .with_hint(hint),
                    );
                }
            }
            for test in &called.tests {
                let missing = state
                    .perform_test(test, &[])
                    .is_err_and(|error| error.kind() == ErrorKind::UnknownTest);
                if missing {
                    problems.push(TemplateProblem::new(
                        node.span,
                        format!("unknown test `{test}`"),
                    ));
                }
            }
            for function in &called.functions {
                if !env.globals().any(|(name, _)| name == function) {
                    let known: Vec<&str> = env.globals().map(|(name, _)| name).collect();
                    let hint = match super::decode::closest(function, known.iter().copied()) {
                        Some(suggestion) => format!("did you mean `{suggestion}`?"),
                        None => format!("the functions are {}", super::decode::one_of(&known)),
                    };
                    problems.push(
                        TemplateProblem::new(node.span, format!("unknown function `{function}`"))
                            .with_hint(hint),
                    );
                }
            }
        }
        Value::Seq(items) => {
            for item in items {
                check_callables(env, item, problems);
            }
        }
        Value::Map(entries) => {
            for entry in entries {
                check_callables(env, &entry.value, problems);
            }
        }
        _ => {}
    }
}

fn contains_template(node: &Node) -> bool {
    match &node.value {
        Value::Str(text) => is_template(text),
        Value::Seq(items) => items.iter().any(contains_template),
        Value::Map(entries) => entries.iter().any(|entry| contains_template(&entry.value)),
        _ => false,
    }
}

fn compile_string<'env>(
    env: &'env Environment<'env>,
    text: &'env str,
    span: Span,
    columns: &Columns<'_>,
    problems: &mut Vec<TemplateProblem>,
) -> Option<Part<'env>> {
    let invalid = |error: Error| {
        TemplateProblem::new(
            span,
            format!("invalid template: {}", describe_error(&error)),
        )
    };
    let (part, variables) = if let Some(expression) = sole_expression(text) {
        if let Some(name) = plain_column(expression, columns.root()) {
            let index = columns.header.and_then(|header| header.get(name).copied());
            let part = Part::Column {
                name: name.to_string(),
                index,
                span,
            };
            let variables = [format!("{}.{name}", columns.root())].into_iter().collect();
            (part, variables)
        } else {
            let compiled = env.compile_expression(expression).map_err(invalid);
            let compiled = match compiled {
                Ok(compiled) => compiled,
                Err(problem) => {
                    problems.push(problem);
                    return None;
                }
            };
            let variables = compiled.undeclared_variables(true);
            (
                Part::Expression {
                    expression: compiled,
                    source: expression,
                    span,
                },
                variables,
            )
        }
    } else {
        let compiled = match env.template_from_str(text).map_err(invalid) {
            Ok(compiled) => compiled,
            Err(problem) => {
                problems.push(problem);
                return None;
            }
        };
        let variables = compiled.undeclared_variables(true);
        (
            Part::Render {
                template: compiled,
                span,
            },
            variables,
        )
    };
    let before = problems.len();
    // Functions are checked by `check_callables`; here only data is.
    let functions = called(text)
        .map(|called| called.functions)
        .unwrap_or_default();
    let mut variables: Vec<String> = variables.into_iter().collect();
    variables.sort();
    for variable in variables {
        let root = variable.split('.').next().unwrap_or(&variable);
        if functions.contains(root) {
            continue;
        }
        check_variable(env, &variable, span, columns, problems);
    }
    (problems.len() == before).then_some(part)
}

fn check_variable(
    env: &Environment<'_>,
    variable: &str,
    span: Span,
    columns: &Columns<'_>,
    problems: &mut Vec<TemplateProblem>,
) {
    let (root, column) = variable
        .split_once('.')
        .map_or((variable, None), |(root, rest)| (root, Some(rest)));
    match root {
        "object" if columns.objects => {
            let field = column.map(|rest| rest.split('.').next().unwrap_or(rest));
            if let Some(field) = field
                && !OBJECT_FIELDS.contains(&field)
            {
                let hint = match super::decode::closest(field, OBJECT_FIELDS.iter().copied()) {
                    Some(suggestion) => format!("did you mean `object.{suggestion}`?"),
                    None => format!(
                        "a listed object has {}",
                        super::decode::one_of(OBJECT_FIELDS)
                    ),
                };
                problems.push(
                    TemplateProblem::new(span, format!("a listed object has no `{field}`"))
                        .with_hint(hint),
                );
            }
        }
        "row" if !columns.objects => {
            if let (Some(header), Some(column)) = (columns.header, column)
                && !header.contains_key(column)
            {
                let mut names: Vec<&str> = header.keys().map(String::as_str).collect();
                names.sort_unstable();
                let hint = match super::decode::closest(column, names.iter().copied()) {
                    Some(suggestion) => format!("did you mean `row.{suggestion}`?"),
                    None => format!(
                        "the manifest's columns are {}",
                        super::decode::one_of(&names)
                    ),
                };
                problems.push(
                    TemplateProblem::new(span, format!("the manifest has no column `{column}`"))
                        .with_hint(hint),
                );
            }
        }
        "row_number" if !columns.objects => {}
        _ if env.globals().any(|(name, _)| name == root) => {}
        _ => {
            let known: &[&str] = if columns.objects {
                &["object"]
            } else {
                &["row", "row_number"]
            };
            let hint = match super::decode::closest(root, known.iter().copied()) {
                Some(suggestion) => format!("did you mean `{suggestion}`?"),
                None if columns.objects => {
                    "templates of a listing can use `object` (the listed object: `object.key`, `object.url`, …)".to_string()
                }
                None => "templates can use `row` (the manifest row) and `row_number`".to_string(),
            };
            problems.push(
                TemplateProblem::new(span, format!("unknown template variable `{root}`"))
                    .with_hint(hint),
            );
        }
    }
}

/// A minijinja error as one line: "undefined value", "syntax error: unexpected `}`", …
pub(crate) fn describe_error(error: &Error) -> String {
    match error.detail() {
        Some(detail) => format!("{}: {detail}", error.kind()),
        None => error.kind().to_string(),
    }
}

/// One manifest row, as templates see it.
pub(crate) enum Row {
    Csv {
        header: Arc<CsvHeader>,
        record: csv::StringRecord,
    },
    Json(JinjaValue),
}

/// The header of a CSV manifest.
pub(crate) struct CsvHeader {
    pub names: Vec<String>,
    pub index: HashMap<String, usize>,
}

/// A CSV row as a template object (`row.column`, `row["column"]`, iteration over the names).
#[derive(Debug)]
struct CsvRowObject {
    header: Arc<CsvHeader>,
    record: csv::StringRecord,
}

impl std::fmt::Debug for CsvHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(&self.names).finish()
    }
}

impl Object for CsvRowObject {
    fn get_value(self: &Arc<Self>, key: &JinjaValue) -> Option<JinjaValue> {
        let index = *self.header.index.get(key.as_str()?)?;
        self.record.get(index).map(JinjaValue::from)
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(
            self.header
                .names
                .iter()
                .map(|name| JinjaValue::from(name.as_str()))
                .collect(),
        )
    }
}

/// The template context: `row` and `row_number` (or `object` for a listing), built once per row
/// and only when needed.
#[derive(Debug)]
struct RowContext {
    /// `row` or `object`.
    root: &'static str,
    row: JinjaValue,
    row_number: u64,
}

impl Object for RowContext {
    fn get_value(self: &Arc<Self>, key: &JinjaValue) -> Option<JinjaValue> {
        match key.as_str()? {
            name if name == self.root => Some(self.row.clone()),
            "row_number" if self.root == "row" => Some(JinjaValue::from(self.row_number)),
            _ => None,
        }
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        if self.root == "row" {
            Enumerator::Str(&["row", "row_number"])
        } else {
            Enumerator::Str(&["object"])
        }
    }
}

/// Renders a compiled template for one row into a node tree (spans are the template's).
pub(crate) struct Instantiator {
    /// `row` or `object` ([`Columns::root`]).
    root: &'static str,
    context: Option<JinjaValue>,
}

impl Instantiator {
    pub(super) fn new(columns: &Columns<'_>) -> Self {
        Instantiator {
            root: columns.root(),
            context: None,
        }
    }

    /// Renders `part` for `row`.
    pub(super) fn run(
        &mut self,
        part: &Part<'_>,
        row: &Row,
        row_number: u64,
    ) -> Result<Node, TemplateProblem> {
        self.context = None;
        self.instantiate(part, row, row_number)
    }

    fn context(&mut self, row: &Row, row_number: u64) -> JinjaValue {
        self.context
            .get_or_insert_with(|| {
                let row = match row {
                    Row::Csv { header, record } => JinjaValue::from_object(CsvRowObject {
                        header: header.clone(),
                        record: record.clone(),
                    }),
                    Row::Json(value) => value.clone(),
                };
                JinjaValue::from_object(RowContext {
                    root: self.root,
                    row,
                    row_number,
                })
            })
            .clone()
    }

    fn instantiate(
        &mut self,
        part: &Part<'_>,
        row: &Row,
        row_number: u64,
    ) -> Result<Node, TemplateProblem> {
        match part {
            Part::Const(node) => Ok(node.clone()),
            Part::Column { name, index, span } => {
                let found = match (row, index) {
                    (Row::Csv { record, .. }, Some(index)) => record
                        .get(*index)
                        .map(|text| Node::new(Value::Str(text.to_string()), *span)),
                    (Row::Csv { .. }, None) => None,
                    (Row::Json(value), _) => match value.get_attr(name) {
                        Ok(value) if !value.is_undefined() => Some(to_node(&value, *span)?),
                        _ => None,
                    },
                };
                found.ok_or_else(|| TemplateProblem::new(*span, format!("the row has no `{name}`")))
            }
            Part::Expression {
                expression,
                source,
                span,
            } => {
                let context = self.context(row, row_number);
                let value = expression
                    .eval(context)
                    .map_err(|error| render_problem(&error, *span))?;
                if value.is_undefined() {
                    return Err(TemplateProblem::new(
                        *span,
                        format!("`{source}` is undefined for this row"),
                    ));
                }
                to_node(&value, *span)
            }
            Part::Render { template, span } => {
                let context = self.context(row, row_number);
                let mut output = BoundedOutput(Vec::new());
                // `render_captured_to`, its replacement, builds a self-referential state per call;
                // this runs once per row of a million-row manifest.
                #[allow(deprecated)]
                template
                    .render_to_write(context, &mut output)
                    .map_err(|error| render_problem(&error, *span))?;
                let text = String::from_utf8(output.0).map_err(|_| {
                    TemplateProblem::new(*span, "the template gave text that is not UTF-8")
                })?;
                Ok(Node::new(Value::Str(text), *span))
            }
            Part::Seq { items, span } => {
                let items = items
                    .iter()
                    .map(|item| self.instantiate(item, row, row_number))
                    .collect::<Result<_, _>>()?;
                Ok(Node::new(Value::Seq(items), *span))
            }
            Part::Map { entries, span } => {
                let mut out = Vec::with_capacity(entries.len());
                for (key, key_span, part) in entries {
                    out.push(Entry {
                        key: key.clone(),
                        key_span: *key_span,
                        value: self.instantiate(part, row, row_number)?,
                    });
                }
                Ok(Node::new(Value::Map(out), *span))
            }
        }
    }
}

fn render_problem(error: &Error, span: Span) -> TemplateProblem {
    if error.kind() == ErrorKind::OutOfFuel {
        return over_budget(
            span,
            format!("the template ran more than {TEMPLATE_FUEL} instructions"),
        );
    }
    if error.kind() == ErrorKind::WriteFailure {
        return output_too_big(span);
    }
    TemplateProblem::new(span, format!("template failed: {}", describe_error(error)))
}

fn over_budget(span: Span, message: String) -> TemplateProblem {
    let mut problem = TemplateProblem::new(span, message)
        .with_hint("a job template may run about a million instructions and give at most 4 MiB");
    problem.over_budget = true;
    problem
}

fn output_too_big(span: Span) -> TemplateProblem {
    over_budget(
        span,
        format!(
            "the template gave more than {} bytes",
            MAX_TEMPLATE_OUTPUT_BYTES
        ),
    )
}

/// A writer that refuses to grow past [`MAX_TEMPLATE_OUTPUT_BYTES`].
struct BoundedOutput(Vec<u8>);

impl std::io::Write for BoundedOutput {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if self.0.len() + bytes.len() > MAX_TEMPLATE_OUTPUT_BYTES {
            return Err(std::io::Error::other("template output over the limit"));
        }
        self.0.extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Converts a template value to a node (all at the template string's place).
fn to_node(value: &JinjaValue, span: Span) -> Result<Node, TemplateProblem> {
    let mut remaining = MAX_TEMPLATE_OUTPUT_BYTES;
    to_node_at_depth(value, span, 0, &mut remaining)
}

/// Takes `bytes` (and one for the value itself) from the output budget.
fn spend(remaining: &mut usize, bytes: usize, span: Span) -> Result<(), TemplateProblem> {
    *remaining = remaining
        .checked_sub(bytes.saturating_add(1))
        .ok_or_else(|| output_too_big(span))?;
    Ok(())
}

/// Converts `value`, counting the bytes of its text against `remaining` (the output budget).
fn to_node_at_depth(
    value: &JinjaValue,
    span: Span,
    depth: usize,
    remaining: &mut usize,
) -> Result<Node, TemplateProblem> {
    use minijinja::value::ValueKind;
    let fail = |message: String| TemplateProblem::new(span, message);
    if depth > super::yaml::MAX_DEPTH {
        return Err(fail(format!(
            "value nested deeper than {} levels",
            super::yaml::MAX_DEPTH
        )));
    }
    if let Some(big) = value.downcast_object_ref::<BigInteger>() {
        spend(remaining, big.0.len(), span)?;
        return Ok(Node::new(Value::BigInt(big.0.clone()), span));
    }
    spend(remaining, value.as_str().map_or(0, str::len), span)?;
    let converted = match value.kind() {
        ValueKind::Undefined => return Err(fail("undefined value".into())),
        ValueKind::None => Value::Null,
        ValueKind::Bool => Value::Bool(value.is_true()),
        ValueKind::Number => match value.as_i64() {
            Some(number) if value.is_integer() => Value::Int(number),
            None if value.is_integer() => Value::BigInt(value.to_string()),
            _ => Value::Float(
                f64::try_from(value.clone()).map_err(|error| fail(describe_error(&error)))?,
            ),
        },
        ValueKind::String => Value::Str(value.as_str().unwrap_or_default().to_string()),
        ValueKind::Bytes => {
            Value::Str(String::from_utf8_lossy(value.as_bytes().unwrap_or_default()).into_owned())
        }
        ValueKind::Seq | ValueKind::Iterable => {
            let iter = value
                .try_iter()
                .map_err(|error| fail(describe_error(&error)))?;
            Value::Seq(
                iter.map(|item| to_node_at_depth(&item, span, depth + 1, remaining))
                    .collect::<Result<_, _>>()?,
            )
        }
        ValueKind::Map => {
            let iter = value
                .try_iter()
                .map_err(|error| fail(describe_error(&error)))?;
            let mut entries = Vec::new();
            for key in iter {
                let item = value
                    .get_item(&key)
                    .map_err(|error| fail(describe_error(&error)))?;
                let key = key.as_str().map_or_else(|| key.to_string(), str::to_string);
                spend(remaining, key.len(), span)?;
                entries.push(Entry {
                    key,
                    key_span: span,
                    value: to_node_at_depth(&item, span, depth + 1, remaining)?,
                });
            }
            Value::Map(entries)
        }
        _ => {
            return Err(fail(format!(
                "a template gave a value of kind `{}`",
                value.kind()
            )));
        }
    };
    Ok(Node::new(converted, span))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(source: &str) -> String {
        let env = environment();
        env.render_str(source, ()).unwrap()
    }

    #[test]
    fn content_hash_is_sha256_of_the_text() {
        // Known SHA-256 test vector.
        assert_eq!(
            hash("{{ content_hash('abc') }}"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hash("{{ 'abc' | content_hash }}"),
            hash("{{ content_hash('abc') }}")
        );
        assert_eq!(
            hash("{{ content_hash('a', 'b') }}"),
            hash("{{ content_hash('a\\nb') }}")
        );
        assert_eq!(
            hash("{{ content_hash(1) }}"),
            hash("{{ content_hash('1') }}")
        );
        assert_ne!(
            hash("{{ content_hash('abc') }}"),
            hash("{{ content_hash('abd') }}")
        );
    }

    #[test]
    fn sole_expressions_are_recognised() {
        assert_eq!(sole_expression("{{ row.id }}"), Some("row.id"));
        assert_eq!(sole_expression(" {{row.id}} "), Some("row.id"));
        assert_eq!(sole_expression("{{ row.a }}-{{ row.b }}"), None);
        assert_eq!(sole_expression("cam-{{ row.a }}"), None);
        assert_eq!(sole_expression("{{- row.a }}"), None);
    }

    #[test]
    fn plain_columns_are_recognised() {
        assert_eq!(plain_column("row.url", "row"), Some("url"));
        assert_eq!(plain_column("row[\"image url\"]", "row"), Some("image url"));
        assert_eq!(plain_column("row['x']", "row"), Some("x"));
        assert_eq!(plain_column("row.url | upper", "row"), None);
        assert_eq!(plain_column("rows.url", "row"), None);
        assert_eq!(plain_column("row.1a", "row"), None);
        assert_eq!(plain_column("object.key", "object"), Some("key"));
        assert_eq!(plain_column("object.key", "row"), None);
    }

    fn csv_row(names: &[&str], values: &[&str]) -> Row {
        let header = CsvHeader {
            names: names.iter().map(|s| s.to_string()).collect(),
            index: names
                .iter()
                .enumerate()
                .map(|(i, s)| (s.to_string(), i))
                .collect(),
        };
        Row::Csv {
            header: Arc::new(header),
            record: csv::StringRecord::from(values.to_vec()),
        }
    }

    fn render_leaf(source: &str, row: &Row) -> Result<Node, TemplateProblem> {
        let env = environment();
        let node = Node::new(Value::Str(source.to_string()), Span::new(1, 1));
        let mut problems = Vec::new();
        let header = match row {
            Row::Csv { header, .. } => Some(header.index.clone()),
            Row::Json(_) => None,
        };
        let columns = Columns {
            header: header.as_ref(),
            objects: false,
        };
        let part = compile(&env, &node, &columns, &mut problems);
        if let Some(problem) = problems.pop() {
            return Err(problem);
        }
        Instantiator::new(&columns).run(&part, row, 7)
    }

    fn render_object(source: &str, object: serde_json::Value) -> Result<Node, TemplateProblem> {
        let env = environment();
        let node = Node::new(Value::Str(source.to_string()), Span::new(1, 1));
        let mut problems = Vec::new();
        let columns = Columns {
            header: None,
            objects: true,
        };
        let part = compile(&env, &node, &columns, &mut problems);
        if let Some(problem) = problems.pop() {
            return Err(problem);
        }
        Instantiator::new(&columns).run(&part, &Row::Json(JinjaValue::from_serialize(&object)), 1)
    }

    #[test]
    fn listing_templates_read_the_object_and_nothing_else() {
        let object = serde_json::json!({ "key": "a/b.jpg", "stem": "b", "size": 12 });
        assert_eq!(
            render_object("{{ object.key }}", object.clone())
                .unwrap()
                .value,
            Value::Str("a/b.jpg".into())
        );
        assert_eq!(
            render_object("cam-{{ object.stem | upper }}", object.clone())
                .unwrap()
                .value,
            Value::Str("cam-B".into())
        );
        assert_eq!(
            render_object("{{ object.size }}", object.clone())
                .unwrap()
                .value,
            Value::Int(12)
        );
        let problem = render_object("{{ object.kye }}", object.clone()).unwrap_err();
        assert_eq!(problem.message, "a listed object has no `kye`");
        assert_eq!(problem.hint.as_deref(), Some("did you mean `object.key`?"));
        let problem = render_object("{{ row.url }}", object.clone()).unwrap_err();
        assert_eq!(problem.message, "unknown template variable `row`");
        let problem = render_object("x-{{ row_number }}", object).unwrap_err();
        assert_eq!(problem.message, "unknown template variable `row_number`");
    }

    #[test]
    fn leaves_render_per_row() {
        let row = csv_row(&["id", "url"], &["0001", "https://x/1.jpg"]);
        assert_eq!(
            render_leaf("{{ row.id }}", &row).unwrap().value,
            Value::Str("0001".into())
        );
        assert_eq!(
            render_leaf("cam-{{ row.id }}-{{ row_number }}", &row)
                .unwrap()
                .value,
            Value::Str("cam-0001-7".into())
        );
        assert_eq!(
            render_leaf("{{ row.id | int }}", &row).unwrap().value,
            Value::Int(1)
        );
        let hashed = render_leaf("{{ content_hash(row.url)[:8] }}", &row).unwrap();
        assert!(matches!(hashed.value, Value::Str(ref s) if s.len() == 8));
    }

    #[test]
    fn json_rows_keep_native_values() {
        let row =
            Row::Json(serde_json::from_str(r#"{"frames": [{"frame_id": "f1"}], "n": 3}"#).unwrap());
        let node = render_leaf("{{ row.frames }}", &row).unwrap();
        assert_eq!(
            serde_json::to_string(&node).unwrap(),
            r#"[{"frame_id":"f1"}]"#
        );
        assert_eq!(
            render_leaf("{{ row.n }}", &row).unwrap().value,
            Value::Int(3)
        );
        assert_eq!(
            render_leaf("{{ row.n + 0.5 }}", &row).unwrap().value,
            Value::Float(3.5)
        );
    }

    #[test]
    fn unknown_columns_are_found_before_any_row() {
        let row = csv_row(&["id", "url"], &["1", "u"]);
        let problem = render_leaf("{{ row.ulr }}", &row).unwrap_err();
        assert_eq!(problem.message, "the manifest has no column `ulr`");
        assert_eq!(problem.hint.as_deref(), Some("did you mean `row.url`?"));
        let problem = render_leaf("x-{{ rw.id }}", &row).unwrap_err();
        assert_eq!(problem.message, "unknown template variable `rw`");
    }

    #[test]
    fn missing_json_keys_fail_per_row() {
        let row = Row::Json(serde_json::from_str(r#"{"a": 1}"#).unwrap());
        assert_eq!(
            render_leaf("{{ row.b }}", &row).unwrap_err().message,
            "the row has no `b`"
        );
        assert!(
            render_leaf("x{{ row.b }}", &row)
                .unwrap_err()
                .message
                .starts_with("template failed: undefined value")
        );
    }

    #[test]
    fn syntax_errors_are_reported_at_compile_time() {
        let row = csv_row(&["id"], &["1"]);
        let problem = render_leaf("{{ row.id ", &row).unwrap_err();
        assert!(
            problem
                .message
                .starts_with("invalid template: syntax error"),
            "{}",
            problem.message
        );
    }
}
