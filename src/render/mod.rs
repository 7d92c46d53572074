//! Pictures: reading PNG radiographs and drawing the result over the radiograph.

pub mod font;
pub mod overlay;
pub mod png;
