//! Lifetimes as people write them (`900`, `90s`, `15m`, `1h 30m`, `2d`), read one way wherever
//! they are typed: catalog annotations and the CLI's `--ttl`. Plain numbers are seconds; anything
//! else goes to `humantime`. Gatekey's lifetimes are whole seconds that fit Kong's `ttl`, so a
//! fraction of a second or a value beyond `u32` is refused rather than rounded.

/// Why a text is not a lifetime in whole seconds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("{0}")]
    Syntax(String),
    #[error("use whole seconds")]
    Fraction,
    #[error("too long")]
    TooLong,
}

/// Whole seconds from `900`, `90s`, `15m`, `1h 30m` or `2d`.
pub fn parse_whole_seconds(text: &str) -> Result<u32, DurationError> {
    let seconds = if let Ok(seconds) = text.parse::<u64>() {
        seconds
    } else {
        let duration =
            humantime::parse_duration(text).map_err(|e| DurationError::Syntax(e.to_string()))?;
        if duration.subsec_nanos() != 0 {
            return Err(DurationError::Fraction);
        }
        duration.as_secs()
    };
    u32::try_from(seconds).map_err(|_| DurationError::TooLong)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_and_human_units_read_as_whole_seconds() {
        for (text, seconds) in [
            ("900", 900),
            ("0", 0),
            ("90s", 90),
            ("15m", 900),
            ("1h", 3600),
            ("1h 30m", 5400),
            ("1h30m", 5400),
            ("2d", 172_800),
        ] {
            assert_eq!(parse_whole_seconds(text), Ok(seconds), "{text}");
        }
    }

    #[test]
    fn fractions_overflows_and_nonsense_are_refused_with_the_reason() {
        assert_eq!(parse_whole_seconds("500ms"), Err(DurationError::Fraction));
        assert_eq!(
            parse_whole_seconds("99999999999"),
            Err(DurationError::TooLong)
        );
        for text in ["", "-5", "soon", "10 parsecs"] {
            assert!(
                matches!(parse_whole_seconds(text), Err(DurationError::Syntax(_))),
                "{text}"
            );
        }
    }
}
