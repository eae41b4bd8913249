//! Earth Engine expressions: the value graph (`Expression{values, result}`) geepipe sends, built from
//! nested `call` templates with placeholders rendered value by value, checked against the algorithm
//! signatures.
//!
//! - [`graph`]: the hash-consed value graph and its encoding, identical to the official client's.
//! - [`template`]: the `call` form users write, placeholder rendering, and building it into a graph.
//! - [`check`]: the offline check of names and arguments against the 991 algorithm signatures.
//! - [`types`]: type inference over the graph (with the official client's promotions) and image grids.

pub mod check;
pub mod graph;
pub mod template;
pub mod types;

pub use check::{check_layer_image, signature, ExprProblem, Signature};
pub use graph::{canonicalize, Graph, Id, Node, Scalar, Template};
pub use template::{build, Renderer};
