//! Rendering a compiled template for one manifest row (or listed object) into a node tree at
//! the template's places: the row as template objects, built once per row and only when an
//! expression needs them, and template values converted to nodes within the output budget.

use std::collections::HashMap;
use std::sync::Arc;

use minijinja::value::{Enumerator, Object};
use minijinja::{Error, ErrorKind, Value as JinjaValue};

use super::budget::{
    BoundedOutput, MAX_TEMPLATE_OUTPUT_BYTES, TEMPLATE_FUEL, output_too_big, over_budget, spend,
};
use super::compile::{Columns, Part};
use super::{TemplateProblem, describe_error};
use crate::config::manifest::ExactNumber;
use crate::config::node::{Entry, Node, Span, Value};
use crate::config::yaml;

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
    pub(in crate::config) fn new(columns: &Columns<'_>) -> Self {
        Instantiator {
            root: columns.root(),
            context: None,
        }
    }

    /// Renders `part` for `row`.
    pub(in crate::config) fn run(
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

/// Converts a template value to a node (all at the template string's place).
fn to_node(value: &JinjaValue, span: Span) -> Result<Node, TemplateProblem> {
    let mut remaining = MAX_TEMPLATE_OUTPUT_BYTES;
    to_node_at_depth(value, span, 0, &mut remaining)
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
    if depth > yaml::MAX_DEPTH {
        return Err(fail(format!(
            "value nested deeper than {} levels",
            yaml::MAX_DEPTH
        )));
    }
    if let Some(exact) = value.downcast_object_ref::<ExactNumber>() {
        spend(remaining, exact.0.len(), span)?;
        let text = exact.0.clone();
        let value = if text.contains(['.', 'e', 'E']) {
            Value::Decimal(text)
        } else {
            Value::BigInt(text)
        };
        return Ok(Node::new(value, span));
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
