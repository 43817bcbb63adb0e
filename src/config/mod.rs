//! Loading and validating a workspace (issue #2).
