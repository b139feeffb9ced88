//! framelog-ingest
