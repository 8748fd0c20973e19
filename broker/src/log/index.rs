//! `OffsetIndex` and `TimeIndex`: sparse indexes beside each segment.
