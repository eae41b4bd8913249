//! The expressions of a zonal plan's requests, written from one template per shape: chunks computing the
//! same layer parts over sites grouped by the same first years differ only in their sites, so the rest of
//! their expression (each layer's images and reducers and the cells' mapping, more than half of a body)
//! is built and encoded once ([`crate::expr::Template`]) and each request only builds and encodes its
//! sites. The bytes are those of building the whole computation ([`compute::computation`]) and encoding
//! it, which is what is done instead when the template declines a chunk (its sites share a value with the
//! rest, such as a property equal to a band name) or a shape has been seen only once (a template costs
//! about one encoding of the rest, so shapes met once, as chunks of sites with many different first
//! years can be, do not get one).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::expr::{Graph, Id, Template};
use crate::pipeline::Pipeline;
use crate::plan::cells::Part;
use crate::plan::compute::{self, BuildError, Features, PreparedLayer};
use crate::sites::Site;

/// A shape: the parts computed and the first year of each group of sites, in order.
type Shape = (Vec<Part>, Vec<Option<i32>>);

#[derive(Debug)]
enum Slot {
    /// Seen once: a template is made the next time.
    Seen,
    Ready(Arc<Template>),
    /// The shape's expression has no usable template.
    None,
}

/// The templates of a plan's shapes (shared by the clones of a [`super::Zonal`]).
#[derive(Debug, Default)]
pub struct Templates {
    slots: Mutex<HashMap<Shape, Slot>>,
}

impl Templates {
    /// Shapes kept at most (a plan has a few; past that all are forgotten and templates made again).
    const MAX_SHAPES: usize = 256;

    /// Appends to `out` the expression computing `layers` (cut to `parts`) over `sites`.
    pub fn expression(
        &self,
        pipeline: &Pipeline,
        parts: &[Part],
        layers: &[PreparedLayer],
        sites: &[&Site],
        out: &mut Vec<u8>,
    ) -> Result<(), BuildError> {
        let groups = compute::first_year_groups(pipeline, layers, sites);
        let shape: Shape = (parts.to_vec(), groups.iter().map(|(from, _)| *from).collect());
        let template = self.template(pipeline, layers, shape);
        let points: usize = sites.iter().flat_map(|s| s.polygons.iter().flatten()).map(Vec::len).sum();
        let mut g = Graph::with_capacity(3 * points + 16 * sites.len() + 1024);
        let fills: Vec<Id> =
            groups.iter().map(|(_, group)| compute::features(&mut g, pipeline, Features::Inline(group))).collect();
        if template.is_some_and(|t| t.fill(&g, &fills, out)) {
            return Ok(());
        }
        // Encoded whole: the same graph `compute::computation` builds, its sites' collections made above.
        let root =
            compute::reduced(&mut g, pipeline, layers, groups.iter().map(|(from, _)| *from).zip(fills).collect())?;
        g.encode_to(root, out);
        Ok(())
    }

    /// The template of `shape`, made when the shape is seen the second time. It is built without the lock,
    /// so the other workers go on meanwhile (two that meet a shape at once may both build it: the same
    /// template, kept once).
    fn template(&self, pipeline: &Pipeline, layers: &[PreparedLayer], shape: Shape) -> Option<Arc<Template>> {
        {
            let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            match slots.get(&shape) {
                Some(Slot::Ready(t)) => return Some(t.clone()),
                Some(Slot::None) => return None,
                Some(Slot::Seen) => {}
                None => {
                    if slots.len() >= Self::MAX_SHAPES {
                        slots.clear();
                    }
                    slots.insert(shape, Slot::Seen);
                    return None;
                }
            }
        }
        let mut g = Graph::with_capacity(1024);
        let holes = shape.1.iter().enumerate().map(|(n, from)| (*from, g.hole(n as u32))).collect();
        let made = compute::reduced(&mut g, pipeline, layers, holes)
            .ok()
            .and_then(|root| Template::new(g, root))
            .map(Arc::new);
        let slot = match &made {
            Some(t) => Slot::Ready(t.clone()),
            None => Slot::None,
        };
        self.slots.lock().unwrap_or_else(|e| e.into_inner()).insert(shape, slot);
        made
    }
}
