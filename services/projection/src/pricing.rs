//! The optional price table: turns a month's meters into amounts.
//!
//! ```json
//! {"currency": "EUR",
//!  "transcode_cpu_second": 0.0001, "transcode_cpu_second_by_profile": {"2160p": 0.0002},
//!  "storage_gib_month": 0.02, "egress_gib": 0.05, "live_minute": 0.002, "upload": 0.0}
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use framelog_events::fold::MonthUsage;
use serde::{Deserialize, Serialize};

use crate::error::ProjectionError;

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// Unit prices. Missing prices are 0.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceTable {
    pub currency: String,
    /// Per CPU second of transcoding, unless the profile has its own price.
    #[serde(default)]
    pub transcode_cpu_second: f64,
    #[serde(default)]
    pub transcode_cpu_second_by_profile: BTreeMap<String, f64>,
    /// Per GiB stored at the end of the month.
    #[serde(default)]
    pub storage_gib_month: f64,
    #[serde(default)]
    pub egress_gib: f64,
    #[serde(default)]
    pub live_minute: f64,
    #[serde(default)]
    pub upload: f64,
}

/// A month's amounts by meter.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Amounts {
    pub currency: String,
    pub transcode: f64,
    pub storage: f64,
    pub egress: f64,
    pub live: f64,
    pub uploads: f64,
    pub total: f64,
}

impl PriceTable {
    /// Reads a table from a JSON file.
    pub fn load(path: &Path) -> Result<PriceTable, ProjectionError> {
        let err = |message: String| ProjectionError::PriceTable {
            path: path.display().to_string(),
            message,
        };
        let bytes = std::fs::read(path).map_err(|e| err(e.to_string()))?;
        serde_json::from_slice(&bytes).map_err(|e| err(e.to_string()))
    }

    /// The amounts of `usage`, rounded to 1/10000 of the currency unit.
    pub fn amounts(&self, usage: &MonthUsage) -> Amounts {
        let round = |v: f64| (v * 10_000.0).round() / 10_000.0;
        let transcode: f64 = usage
            .transcode_cpu_seconds
            .iter()
            .map(|(p, s)| {
                s * self
                    .transcode_cpu_second_by_profile
                    .get(p)
                    .copied()
                    .unwrap_or(self.transcode_cpu_second)
            })
            .sum();
        let storage = usage.storage_bytes as f64 / GIB * self.storage_gib_month;
        let egress = usage.egress_bytes as f64 / GIB * self.egress_gib;
        let live = usage.live_minutes * self.live_minute;
        let uploads = usage.uploads as f64 * self.upload;
        Amounts {
            currency: self.currency.clone(),
            transcode: round(transcode),
            storage: round(storage),
            egress: round(egress),
            live: round(live),
            uploads: round(uploads),
            total: round(transcode + storage + egress + live + uploads),
        }
    }
}
