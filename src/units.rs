//! Sizes and durations in the words people read, for every layer that says them (decimal
//! sizes: 1 MB is 1,000,000 bytes, as file managers on every system count). Imports nothing
//! from the crate.

/// A byte count as a person reads it: "1.4 GB".
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// A duration in seconds as a person reads it: "8 s", "3 min", "2 h 5 min".
pub fn human_duration(secs: f64) -> String {
    let secs = secs.round() as u64;
    match secs {
        0..=59 => format!("{secs} s"),
        60..=3599 => format!("{} min", secs.div_ceil(60)),
        _ => format!("{} h {} min", secs / 3600, secs % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_read_as_people_say_them() {
        assert_eq!(human_size(999), "999 bytes");
        assert_eq!(human_size(1_400_000_000), "1.4 GB");
        assert_eq!(human_duration(8.2), "8 s");
        assert_eq!(human_duration(130.0), "3 min");
        assert_eq!(human_duration(7500.0), "2 h 5 min");
    }
}
