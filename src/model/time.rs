//! Times for people: "3 minutes ago", with the exact UTC time for a tooltip. Shared by the server and the browser,
//! which both compute from the same `now` (sent with the data), so hydration sees the same text the server wrote.

/// "just now", "3 minutes ago", "in 2 days", … — `at` and `now` in Unix seconds.
pub fn relative(at: i64, now: i64) -> String {
    let delta = now - at;
    let (future, secs) = (delta < 0, delta.unsigned_abs());
    if secs < 45 {
        return "just now".into();
    }
    let (count, unit) = match secs {
        s if s < 3_600 => (s.div_ceil(60).clamp(1, 59), "minute"),
        s if s < 86_400 => ((s + 1_800) / 3_600, "hour"),
        s if s < 30 * 86_400 => ((s + 43_200) / 86_400, "day"),
        s if s < 365 * 86_400 => ((s + 15 * 86_400) / (30 * 86_400), "month"),
        s => ((s + 182 * 86_400) / (365 * 86_400), "year"),
    };
    let count = count.max(1);
    let plural = if count == 1 { "" } else { "s" };
    if future { format!("in {count} {unit}{plural}") } else { format!("{count} {unit}{plural} ago") }
}

/// `2026-11-23 05:55 UTC`.
pub fn exact(at: i64) -> String {
    let (y, m, d, hh, mm, _) = civil(at);
    format!("{y:04}-{m:02}-{d:02} {hh:02}:{mm:02} UTC")
}

/// `2026-11-23T05:55:07Z`, for `<time datetime>`.
pub fn iso(at: i64) -> String {
    let (y, m, d, hh, mm, ss) = civil(at);
    format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z")
}

/// Unix seconds to (year, month, day, hour, minute, second) in UTC — Howard Hinnant's `civil_from_days`, so the
/// browser bundle needs no date library.
fn civil(at: i64) -> (i64, u32, u32, u32, u32, u32) {
    let days = at.div_euclid(86_400);
    let secs = at.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day, (secs / 3_600) as u32, (secs % 3_600 / 60) as u32, (secs % 60) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_times_read_naturally() {
        let now = 1_800_000_000;
        assert_eq!(relative(now - 10, now), "just now");
        assert_eq!(relative(now - 60, now), "1 minute ago");
        assert_eq!(relative(now - 180, now), "3 minutes ago");
        assert_eq!(relative(now - 3_600, now), "1 hour ago");
        assert_eq!(relative(now - 5 * 86_400, now), "5 days ago");
        assert_eq!(relative(now - 400 * 86_400, now), "1 year ago");
        assert_eq!(relative(now + 30 * 86_400, now), "in 1 month");
        assert_eq!(relative(now + 2 * 86_400, now), "in 2 days");
    }

    #[test]
    fn exact_times_are_utc_calendar_dates() {
        assert_eq!(exact(0), "1970-01-01 00:00 UTC");
        assert_eq!(iso(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(exact(1_795_413_300), "2026-11-23 05:55 UTC");
        assert_eq!(iso(-1), "1969-12-31T23:59:59Z");
    }
}
