//! The local GT Studio emulator (issue #3).
