//! A campaign's status at a moment (a stored `scheduled` or `open` depends on the time), and
//! whether it takes pledges now.

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::model::CampaignRow;
use crate::clock::utc;
use crate::error::{AppError, AppResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CampaignStatus {
    Scheduled,
    Open,
    Succeeded,
    Failed,
    Cancelled,
}

impl CampaignStatus {
    pub const ALL: [&'static str; 5] = ["scheduled", "open", "succeeded", "failed", "cancelled"];

    pub fn as_str(self) -> &'static str {
        match self {
            CampaignStatus::Scheduled => "scheduled",
            CampaignStatus::Open => "open",
            CampaignStatus::Succeeded => "succeeded",
            CampaignStatus::Failed => "failed",
            CampaignStatus::Cancelled => "cancelled",
        }
    }

    /// The status at `now`: a stored `scheduled` or `open` depends on the time, so a reader never
    /// waits for the worker to notice that `opens_at` has come.
    pub fn of(row: &CampaignRow, now: NaiveDateTime) -> AppResult<CampaignStatus> {
        Ok(match row.status.as_str() {
            "scheduled" | "open" if now < row.opens_at => CampaignStatus::Scheduled,
            "scheduled" | "open" => CampaignStatus::Open,
            "succeeded" => CampaignStatus::Succeeded,
            "failed" => CampaignStatus::Failed,
            "cancelled" => CampaignStatus::Cancelled,
            other => return Err(anyhow::anyhow!("unknown campaign status in database: {other}").into()),
        })
    }
}

/// Pledges are taken from `opens_at` until `closes_at` (even if the worker has not closed it yet).
pub(super) fn accepting(row: &CampaignRow, now: NaiveDateTime) -> AppResult<bool> {
    Ok(CampaignStatus::of(row, now)? == CampaignStatus::Open && now < row.closes_at)
}

pub(super) fn not_open(row: &CampaignRow, now: NaiveDateTime) -> AppResult<AppError> {
    let status = CampaignStatus::of(row, now)?;
    let detail = match status {
        CampaignStatus::Scheduled => format!("the campaign opens at {}", utc(row.opens_at).to_rfc3339()),
        CampaignStatus::Open => format!("the campaign closed for pledges at {}", utc(row.closes_at).to_rfc3339()),
        other => format!("the campaign is {}", other.as_str()),
    };
    Ok(AppError::conflict("campaign_not_open", detail)
        .with("current_status", status.as_str())
        .with("opens_at", utc(row.opens_at).to_rfc3339())
        .with("closes_at", utc(row.closes_at).to_rfc3339()))
}
