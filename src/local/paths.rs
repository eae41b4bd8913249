//! Paths as shown and recorded: a path cleaned of `.` and `name/..` without touching the file system
//! (used by the raster reader and the manifest alike).

use std::path::PathBuf;

/// Removes `.` and `name/..` components without touching the file system (for display and the manifest).
pub fn clean_path(p: &std::path::Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if matches!(out.components().next_back(), Some(Component::Normal(_))) {
                    out.pop();
                } else {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}
