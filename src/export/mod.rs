//! Renderers of the ladder model and of connection summaries. They only
//! read the model; no layout decision is made twice.

pub mod json;
pub mod stream;
pub mod text;
