//! The chunked job's plan and result types in one place for [`crate::assemble`] and
//! [`crate::sheets`]: the plan from [`crate::chunks`], the results from
//! [`crate::range_encode`].

pub use crate::chunks::{ChunkPlan, RangeSpec};
pub use crate::range_encode::{RangeOutput, RungOutput, SegmentOut};
