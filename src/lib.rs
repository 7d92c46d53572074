//! rajoints: finds the PIP/IP and MCP joints of both hands on a rheumatoid-arthritis hand
//! radiograph and labels ankylosis and subluxation/dislocation, by the two-detector SSD
//! ensemble of the reference paper, and reports them as DICOM SR and GSPS.
//!
//! Data flows one way: [`dicom::decode`] (or [`render::png`] for PNG input) gives a
//! grayscale [`image::Radiograph`]; [`pipeline`] scales it, cuts windows, runs the two
//! detectors, selects, merges (Algorithm 1) and names joints, giving an
//! [`analysis::Analysis`]; reports are written from that plain data ([`report`], [`render`],
//! [`dicom::sr`], [`dicom::gsps`]). The node ([`node`]) keeps analysed films in the
//! [`review`] store, where people check and correct them in the browser ([`web`]).

pub mod analysis;
pub mod annotations;
pub mod batch;
pub mod change;
pub mod config;
pub mod crashpoint;
pub mod dicom;
pub mod eval;
pub mod heap;
pub mod image;
pub mod input;
pub mod labels;
pub mod model;
pub mod node;
pub mod phantom;
pub mod pipeline;
pub mod render;
pub mod report;
pub mod review;
pub mod runtime;
pub mod spool;
pub mod web;
