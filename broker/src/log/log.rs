//! `Log`: one partition's segmented log (Kafka's `UnifiedLog`, local part).
