//! The filters, tests and functions a template calls, found in its compiled code and checked
//! against the environment once, before any row: a misspelt filter is reported even when the
//! manifest is empty.

use std::collections::BTreeSet;

use minijinja::{Environment, Error, ErrorKind};

use super::{TemplateProblem, is_template, sole_expression};
use crate::config::decode;
use crate::config::node::{Node, Value};

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
pub(super) struct Called {
    filters: BTreeSet<String>,
    tests: BTreeSet<String>,
    pub(super) functions: BTreeSet<String>,
}

/// The filters, tests and functions `text` calls (macros it defines itself excluded).
pub(super) fn called(text: &str) -> Result<Called, Error> {
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
                    let hint = match crate::text::closest(filter, KNOWN_FILTERS.iter().copied()) {
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
                    let hint = match crate::text::closest(function, known.iter().copied()) {
                        Some(suggestion) => format!("did you mean `{suggestion}`?"),
                        None => format!("the functions are {}", decode::one_of(&known)),
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
