//! framelog-transcoder
