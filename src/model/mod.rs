//! Detector models: their manifests and the checks made before one is used.

pub mod calibration;
pub mod manifest;
