//! Earth Engine expressions: the value graph (`Expression{values, result}`) geepipe sends, built from
//! nested `call` templates with placeholders rendered value by value, checked against the algorithm
//! signatures.
//!
//! - [`graph`]: the hash-consed value graph and its encoding, identical to the official client's.
//! - [`template`]: the `call` form users write, placeholder rendering, and building it into a graph.
//! - [`check`]: the offline type check against the 991 algorithm signatures.

pub mod check;
pub mod graph;
pub mod template;

pub use check::{check_layer_image, signature, ExprProblem, Signature};
pub use graph::{canonicalize, Graph, Id, Node, Scalar};
pub use template::{build, Renderer};
