//! Finnish public holidays, and the days offices are closed: what a working day is.

use jiff::civil::{Date, Weekday, date};

/// Easter Sunday of `year` (the Gregorian computus of Meeus, Jones and Butcher).
pub fn easter(year: i16) -> Date {
    let y = i32::from(year);
    let a = y % 19;
    let b = y / 100;
    let c = y % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    // Both fit: the month is 3 or 4, the day 1 to 31.
    date(year, month as i8, day as i8)
}

/// The first `weekday` on or after `from`.
fn first(weekday: Weekday, from: Date) -> Date {
    let mut day = from;
    while day.weekday() != weekday {
        day = day.tomorrow().unwrap_or(day);
    }
    day
}

/// Whether `day` is a public holiday in Finland, or an eve on which offices close (Midsummer
/// Eve, Christmas Eve).
pub fn is_holiday(day: Date) -> bool {
    let year = day.year();
    let fixed = [(1, 1), (1, 6), (5, 1), (12, 6), (12, 24), (12, 25), (12, 26)];
    if fixed.contains(&(day.month(), day.day())) {
        return true;
    }
    let easter = easter(year);
    let from_easter = [-2, 0, 1, 39, 49];
    if from_easter.iter().any(|offset| easter.checked_add(jiff::Span::new().days(*offset)).ok() == Some(day))
    {
        return true;
    }
    // Midsummer Eve: the Friday between 19 and 25 June; Midsummer Day the Saturday after it.
    let midsummer_eve = first(Weekday::Friday, date(year, 6, 19));
    if day == midsummer_eve || midsummer_eve.tomorrow().ok() == Some(day) {
        return true;
    }
    // All Saints' Day: the Saturday between 31 October and 6 November.
    day == first(Weekday::Saturday, date(year, 10, 31))
}

/// Monday to Friday, and not a holiday.
pub fn is_working_day(day: Date) -> bool {
    !matches!(day.weekday(), Weekday::Saturday | Weekday::Sunday) && !is_holiday(day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_moving_holidays_of_2026_to_2030() {
        let years = [
            // Easter, Ascension, Midsummer Eve, All Saints' Day.
            (2026, date(2026, 4, 5), date(2026, 5, 14), date(2026, 6, 19), date(2026, 10, 31)),
            (2027, date(2027, 3, 28), date(2027, 5, 6), date(2027, 6, 25), date(2027, 11, 6)),
            (2028, date(2028, 4, 16), date(2028, 5, 25), date(2028, 6, 23), date(2028, 11, 4)),
            (2029, date(2029, 4, 1), date(2029, 5, 10), date(2029, 6, 22), date(2029, 11, 3)),
            (2030, date(2030, 4, 21), date(2030, 5, 30), date(2030, 6, 21), date(2030, 11, 2)),
        ];
        for (year, easter_day, ascension, midsummer_eve, all_saints) in years {
            assert_eq!(easter(year), easter_day, "{year}");
            for holiday in [ascension, midsummer_eve, all_saints] {
                assert!(is_holiday(holiday), "{holiday}");
            }
            let good_friday = easter_day.checked_sub(jiff::Span::new().days(2)).expect("date");
            let easter_monday = easter_day.tomorrow().expect("date");
            assert!(!is_working_day(good_friday) && !is_working_day(easter_monday), "{year}");
            assert!(is_working_day(midsummer_eve.yesterday().expect("date")), "the Thursday before");
        }
        for fixed in
            [date(2027, 1, 1), date(2027, 1, 6), date(2027, 5, 1), date(2027, 12, 6), date(2027, 12, 24)]
        {
            assert!(is_holiday(fixed), "{fixed}");
        }
        assert!(is_working_day(date(2026, 11, 23)), "an ordinary Monday");
        assert!(!is_working_day(date(2026, 11, 21)), "a Saturday");
        assert!(is_working_day(date(2026, 12, 28)), "the Monday after Christmas");
    }
}
