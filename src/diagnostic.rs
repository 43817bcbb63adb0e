//! Located problems (`file:line:col`) and their rendering (issue #2; placeholder types on main).

use std::fmt;
use std::path::Path;
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Location {
    pub file: Arc<Path>,
    pub line: u32,
    pub column: u32,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

#[derive(Debug, Clone)]
pub struct Diagnostic {
    pub message: String,
    pub location: Option<Location>,
    pub labels: Vec<(Location, String)>,
    pub hints: Vec<String>,
}

impl Diagnostic {
    pub fn error(message: impl Into<String>) -> Self {
        Diagnostic {
            message: message.into(),
            location: None,
            labels: Vec::new(),
            hints: Vec::new(),
        }
    }
    pub fn at(mut self, location: Location) -> Self {
        self.location = Some(location);
        self
    }
    pub fn label(mut self, location: Location, text: impl Into<String>) -> Self {
        self.labels.push((location, text.into()));
        self
    }
    pub fn hint(mut self, text: impl Into<String>) -> Self {
        self.hints.push(text.into());
        self
    }
}

pub type Diagnostics = Vec<Diagnostic>;

pub fn render(diagnostics: &[Diagnostic], _color: bool) -> String {
    let mut out = String::new();
    for diagnostic in diagnostics {
        out.push_str(&format!("error: {}\n", diagnostic.message));
        if let Some(location) = &diagnostic.location {
            out.push_str(&format!("  --> {location}\n"));
        }
    }
    out
}
