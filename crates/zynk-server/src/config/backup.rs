//! `[backup]`: scheduled backups (`zynkd backup create` on a timer) and where the PostgreSQL
//! client tools are.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Scheduled backups (`docs/operations.md`, "Backup and restore").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackupConfig {
    /// How often the server writes a backup archive: `off` (the default), `hourly`, `daily`,
    /// `weekly`, or a number with a unit, `90s`, `30m`, `6h`, `2d`.
    pub schedule: String,
    /// Scheduled archives kept in `backup.dir`; older ones are removed after each new one.
    pub keep: u32,
    /// Where scheduled archives go. Default: `DATA_DIR/backups`.
    pub dir: Option<PathBuf>,
    /// Directory of `pg_dump` and `pg_restore` (their major version must be at least the
    /// server's). Default: found on `PATH`.
    pub pg_bin_dir: Option<PathBuf>,
}

impl Default for BackupConfig {
    fn default() -> Self {
        Self {
            schedule: "off".into(),
            keep: 7,
            dir: None,
            pg_bin_dir: None,
        }
    }
}

impl BackupConfig {
    /// The interval of `schedule`, `None` when off; an error names what is wrong.
    pub fn interval(&self) -> Result<Option<Duration>, String> {
        let value = self.schedule.trim();
        let secs = match value {
            "off" | "" => return Ok(None),
            "hourly" => 3600,
            "daily" => 86_400,
            "weekly" => 7 * 86_400,
            other => {
                let split = other
                    .find(|c: char| !c.is_ascii_digit())
                    .unwrap_or(other.len());
                let (number, unit) = other.split_at(split);
                let number: u64 = number.parse().map_err(|_| {
                    format!(
                        "{other:?} is not off, hourly, daily, weekly or a number with s, m, h or d"
                    )
                })?;
                let unit = match unit {
                    "s" => 1,
                    "m" => 60,
                    "h" => 3600,
                    "d" => 86_400,
                    _ => {
                        return Err(format!(
                            "{other:?} has no unit: write e.g. 90s, 30m, 6h or 2d"
                        ));
                    }
                };
                number.saturating_mul(unit)
            }
        };
        if secs == 0 {
            return Err("the interval must be longer than 0 seconds".into());
        }
        Ok(Some(Duration::from_secs(secs)))
    }

    /// The directory of scheduled archives.
    pub fn effective_dir(&self, data_dir: &std::path::Path) -> PathBuf {
        self.dir.clone().unwrap_or_else(|| data_dir.join("backups"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_parse() {
        let with = |s: &str| BackupConfig {
            schedule: s.into(),
            ..BackupConfig::default()
        };
        assert_eq!(with("off").interval(), Ok(None));
        assert_eq!(
            with("daily").interval(),
            Ok(Some(Duration::from_secs(86_400)))
        );
        assert_eq!(with("90s").interval(), Ok(Some(Duration::from_secs(90))));
        assert_eq!(with("6h").interval(), Ok(Some(Duration::from_secs(21_600))));
        assert!(with("0s").interval().is_err());
        assert!(with("12").interval().unwrap_err().contains("no unit"));
        assert!(with("sometimes").interval().is_err());
    }
}
