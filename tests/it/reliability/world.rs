//! The world's own behaviours (tests/support), each shown to work.
