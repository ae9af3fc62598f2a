//! `stratus config`: every effective setting with where it came from.

use std::process::ExitCode;

use figment::Figment;

use super::fail;

/// Prints the report of `figment` (secrets redacted); opens no backend.
pub fn run(figment: &Figment) -> ExitCode {
    match stratus::config_report::report(figment) {
        Ok(report) => {
            print!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}
