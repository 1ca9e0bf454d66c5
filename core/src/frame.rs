//! The frame codec (in progress).
