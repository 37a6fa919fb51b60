//! UTC calendar arithmetic for budget periods and dates on the command line (no time-zone
//! database needed: everything is UTC).

use crate::store::Period;

const DAY_MS: i64 = 86_400_000;

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month, day) of a day number.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// When the period containing `now_ms` began (unix ms).
pub fn start(p: Period, now_ms: i64) -> i64 {
    let day = now_ms.div_euclid(DAY_MS);
    match p {
        Period::Total => 0,
        Period::Day => day * DAY_MS,
        Period::Month => {
            let (y, m, _) = civil_from_days(day);
            days_from_civil(y, m, 1) * DAY_MS
        }
    }
}

/// `YYYY-MM-DD` (midnight UTC) or a unix time in seconds → unix ms.
pub fn parse_date(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<i64>() {
        return secs.checked_mul(1000);
    }
    let mut it = s.splitn(3, '-');
    let y: i64 = it.next()?.parse().ok()?;
    let m: u32 = it.next()?.parse().ok()?;
    let d: u32 = it.next()?.get(..2)?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || !(1970..=9999).contains(&y) {
        return None;
    }
    Some(days_from_civil(y, m, d) * DAY_MS)
}

/// unix ms → `YYYY-MM-DD HH:MM` UTC, for tables.
pub fn format(ms: i64) -> String {
    let (y, m, d) = civil_from_days(ms.div_euclid(DAY_MS));
    let mins = ms.rem_euclid(DAY_MS) / 60_000;
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}", mins / 60, mins % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_start_at_utc_midnight_and_the_first() {
        let t = parse_date("2025-03-15").expect("date") + 5 * 3_600_000;
        assert_eq!(start(Period::Day, t), parse_date("2025-03-15").expect("d"));
        assert_eq!(start(Period::Month, t), parse_date("2025-03-01").expect("d"));
        assert_eq!(start(Period::Total, t), 0);
        assert_eq!(parse_date("1970-01-02"), Some(DAY_MS));
        assert_eq!(format(parse_date("2024-02-29").expect("leap")), "2024-02-29 00:00");
        assert!(parse_date("2025-13-01").is_none() && parse_date("x").is_none());
    }
}
