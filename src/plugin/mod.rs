//! Plugin (stub).
