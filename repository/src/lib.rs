//! Profile repositories (issue 6).
