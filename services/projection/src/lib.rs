//! framelog-projection
