//! Fills the results store of a pipeline as if every cell it needs had been computed (for
//! `scripts/bench-incremental.sh`): the store is then what a finished run of 40,000 sites × 14 years leaves,
//! without running 800 export tasks first. Each categorical layer-year of each site gets one class (code 3,
//! 1 ha, 10 pixels); the values do not matter to planning, only which cells are stored.
//!
//! `cargo run --release --example bench_incremental -- <pipeline.yaml>`; prints the cells written.

use geepipe::pipeline::LayerKind;
use geepipe::plan::cells;
use geepipe::store::{CellValue, Origin, Store};

fn main() {
    let path = std::env::args().nth(1).expect("usage: bench_incremental <pipeline.yaml>");
    let (p, _) = geepipe::pipeline::load(std::path::Path::new(&path), &Default::default())
        .unwrap_or_else(|d| panic!("{}", d.iter().map(|d| d.message.clone()).collect::<Vec<_>>().join("; ")));
    let zonal = geepipe::cli::incremental::zonal(&p, None).expect("the layers render");
    let store_path = geepipe::store::path_for_journal(&geepipe::journal::Journal::default_path(&p));
    let mut store = Store::open(&store_path).expect("the store opens");
    let binding = store.bind(&zonal.model, true).expect("the store binds");
    let model = &zonal.model;
    let mut w = store.writer(false).expect("a transaction");
    let origin = w.origin(&Origin { kind: "bench".into(), ..Default::default() }).expect("an origin");
    let mut written = 0u64;
    geepipe::sites::for_each(&p.sites, |site| {
        let row = w.site(&site.id, &cells::site_key(&site)).expect("a site row");
        for (l, lc) in model.layers.iter().enumerate() {
            for s in 0..lc.slots.len() {
                for m in &lc.measures {
                    let v = match lc.kind {
                        LayerKind::Categorical => CellValue::Classes(vec![(3, 1.0, 10.0)]),
                        LayerKind::Continuous => CellValue::Number(Some(0.5)),
                    };
                    if w.cell(row, binding.expr(l, s), m, &v, origin).expect("a cell") {
                        written += 1;
                    }
                }
            }
        }
        Ok(())
    })
    .expect("the site file reads");
    w.finish_origin(origin, written).expect("the origin");
    w.commit().expect("the commit");
    println!("{written}");
}
