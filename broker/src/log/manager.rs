//! `LogManager`: every partition log in the configured log dirs.
