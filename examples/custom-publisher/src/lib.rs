//! A custom alertkit publisher (work in progress).
