//! Pictures: reading PNG radiographs and drawing the result over the radiograph.

pub mod draw;
/// The phantom's lead markers (src/phantom) are drawn with this bitmap font.
pub mod font;
pub mod overlay;
pub mod png;
pub mod summary;
