//! Typed accessors generated from fixture profiles (issue 7).
