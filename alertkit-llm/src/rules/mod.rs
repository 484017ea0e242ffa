//! The rule classifier (work in progress).
