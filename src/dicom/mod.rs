//! DICOM: reading radiographs and writing the result objects.

pub mod codes;
pub mod codestream;
pub mod decode;
pub mod gsps;
pub mod guard;
pub mod sr;
pub mod uid;
