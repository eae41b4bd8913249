//! "Did you mean …": the closest known name to a misspelled one.

/// The candidate closest to `word` by Jaro-Winkler similarity, if it is close enough to be a typo.
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lower = word.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(&lower, &c.to_ascii_lowercase()), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::did_you_mean;

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(did_you_mean("bukcet", ["bucket", "folder", "prefix"]), Some("bucket"));
        assert_eq!(did_you_mean("mapbiomas_lulcc", ["mapbiomas_lulc", "dynamic_world"]), Some("mapbiomas_lulc"));
        assert_eq!(did_you_mean("zzz", ["bucket", "folder"]), None);
    }
}
