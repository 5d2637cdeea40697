//! Conversions between chrono timestamps and BSON dates. BSON dates count milliseconds, so
//! sub-millisecond precision is dropped on the way in; TTL indexes only work on BSON dates.

use chrono::{DateTime, Utc};
use mongodb::bson;

/// A timestamp as a BSON date (millisecond precision).
pub(crate) fn to_bson(at: DateTime<Utc>) -> bson::DateTime {
    bson::DateTime::from_millis(at.timestamp_millis())
}

/// A BSON date as a timestamp; `None` when it lies outside chrono's range (only a corrupt or
/// foreign document holds such a date).
pub(crate) fn from_bson(at: bson::DateTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(at.timestamp_millis())
}

#[cfg(test)]
mod tests {
    use chrono::{SubsecRound as _, TimeZone as _};

    use super::*;

    #[test]
    fn round_trips_at_millisecond_precision() {
        let at = Utc
            .timestamp_opt(1_700_000_000, 987_654_321)
            .single()
            .expect("valid");
        assert_eq!(from_bson(to_bson(at)), Some(at.trunc_subsecs(3)));
        assert_eq!(from_bson(bson::DateTime::MAX), None);
    }
}
