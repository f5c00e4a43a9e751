//! Exposition encoders. Metric state knows nothing of text; an encoder
//! knows its format and MIME type.

pub mod text;
