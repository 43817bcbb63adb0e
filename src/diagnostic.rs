//! Located problems and their rendering (issue #2).
