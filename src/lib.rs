//! geepipe: zonal statistics for thousands of polygons from Google Earth Engine, from one checked-in
//! pipeline file.
//!
//! The modules follow the pipeline's stages:
//! [`pipeline`] (raw model, load, schema, compile) → [`sites`] → [`catalog`] / [`expr`] → [`plan`] →
//! [`ee`] (REST client) → [`executor`] with its [`journal`] → [`results`]; [`local`] computes the same
//! statistics on GeoTIFFs without Earth Engine.

// First: the print macros every later module uses (never panicking on a closed stream).
#[macro_use]
mod stdio;

pub mod catalog;
pub mod cli;
pub mod crs;
pub mod diag;
pub mod ee;
pub mod error;
pub mod executor;
pub mod exit;
pub mod expr;
pub mod journal;
pub mod local;
pub mod net;
pub mod pipeline;
pub mod plan;
pub mod probe;
pub mod report;
pub mod results;
pub mod sites;
pub mod store;
pub mod suggest;
