//! Compiling a generator's template strings once: a `{{ row.column }}` leaf read straight from
//! the row, a sole `{{ expression }}` that keeps its value's type, any other template rendered
//! to a string; every variable checked against the manifest's columns or the listed object's
//! fields before any row.

use std::collections::HashMap;

use minijinja::{Environment, Error, Expression, Template};

use super::callables::called;
use super::{
    OBJECT_FIELDS, TemplateProblem, describe_error, is_template, plain_column, sole_expression,
};
use crate::config::decode;
use crate::config::node::{Node, Span, Value};

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
                let hint = match crate::text::closest(field, OBJECT_FIELDS.iter().copied()) {
                    Some(suggestion) => format!("did you mean `object.{suggestion}`?"),
                    None => format!("a listed object has {}", decode::one_of(OBJECT_FIELDS)),
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
                let hint = match crate::text::closest(column, names.iter().copied()) {
                    Some(suggestion) => format!("did you mean `row.{suggestion}`?"),
                    None => format!("the manifest's columns are {}", decode::one_of(&names)),
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
            let hint = match crate::text::closest(root, known.iter().copied()) {
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
