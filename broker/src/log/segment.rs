//! `LogSegment`: one `<base offset>.log` file with its offset and time indexes.
