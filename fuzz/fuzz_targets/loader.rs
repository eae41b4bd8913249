//! Fuzzes the pipeline loader: arbitrary bytes → YAML and TOML parsing → schema check → compile →
//! rendering every diagnostic. None of it may panic, whatever the input.
#![no_main]

use std::path::Path;

use geepipe::diag::{render_all, RenderOptions};
use geepipe::pipeline::{compile, load, Format, Overrides};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for (format, name) in [(Format::Yaml, "fuzz/p.yaml"), (Format::Toml, "fuzz/p.toml")] {
        let (doc, mut diags) = load::parse_lenient(name, text, format);
        if let Some(doc) = doc {
            match compile(&doc, Path::new(name), &Overrides::default()) {
                Ok((_, more)) | Err(more) => diags.extend(more),
            }
        }
        let _ = render_all(&diags, RenderOptions { color: false, width: 100 });
    }
});
