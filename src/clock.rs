//! The time, in one place: Unix seconds, as tokens, links and records use it.

/// Unix seconds now (0 before 1970, which no clock here reports).
pub fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
