//! Version pointers in a NATS KV bucket, moved by compare-and-set on the KV revision: shared by
//! the stores whose backend has no atomic compare-and-set of its own (the Object Store, S3).

// Filled in by the S3 store change: `KvPointers::open(js, replicas)`, `current`, `set_current`
// (moved here from `media_nats.rs`).
