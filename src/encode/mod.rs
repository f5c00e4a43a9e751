//! Exposition encoders. Metric state knows nothing of text; an encoder
//! knows its format and MIME type.

pub(crate) mod floor;
pub(crate) mod put;
pub mod text;
