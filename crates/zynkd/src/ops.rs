//! `zynkd stats` (the daily analytics aggregates) and `zynkd jobs` (the background jobs' last
//! runs).

use clap::Args;
use zynk_server::Config;

/// `zynkd stats`.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// How many days to show, today included (1-36500).
    #[arg(long, value_name = "N", default_value_t = 7,
          value_parser = clap::value_parser!(u32).range(1..=36_500))]
    days: u32,
    /// One JSON object per line: `day`, `event_type`, `count`.
    #[arg(long)]
    json: bool,
}

/// `zynkd jobs`.
#[derive(Debug, Args)]
pub struct JobsArgs {
    /// One JSON object per line and job.
    #[arg(long)]
    json: bool,
}

/// Prints the daily totals per event type of the last `--days` days (UTC), oldest first.
pub async fn stats(args: StatsArgs, config: Config) -> anyhow::Result<()> {
    let store = zynk_server::open_store(&config).await?;
    let today = chrono::Utc::now().date_naive();
    let since = today - chrono::Days::new(u64::from(args.days) - 1);
    let rows = store.daily_totals(since).await?;
    if args.json {
        for row in rows {
            println!(
                "{}",
                serde_json::json!({
                    "day": row.day.format("%Y-%m-%d").to_string(),
                    "event_type": row.event_type,
                    "count": row.count,
                })
            );
        }
        return Ok(());
    }
    if !config.analytics.enabled {
        eprintln!("note: analytics.enabled is false; no new events are recorded");
    }
    if rows.is_empty() {
        println!("no events since {since}");
        return Ok(());
    }
    println!("{:<10}  {:<18}  {:>10}", "day", "event_type", "count");
    for row in rows {
        println!(
            "{:<10}  {:<18}  {:>10}",
            row.day.format("%Y-%m-%d"),
            row.event_type,
            row.count
        );
    }
    Ok(())
}

/// Prints each background job's last run (on any node), with its totals.
pub async fn jobs(args: JobsArgs, config: Config) -> anyhow::Result<()> {
    let store = zynk_server::open_store(&config).await?;
    let runs = store.job_runs().await?;
    if args.json {
        for run in runs {
            println!(
                "{}",
                serde_json::json!({
                    "job": run.job,
                    "node": run.node,
                    "started_at": run.started_at.to_rfc3339(),
                    "finished_at": run.finished_at.to_rfc3339(),
                    "duration_ms": run.duration_ms,
                    "outcome": run.outcome,
                    "detail": run.detail,
                    "runs": run.runs,
                    "failures": run.failures,
                })
            );
        }
        return Ok(());
    }
    if runs.is_empty() {
        println!("no job has run yet");
        return Ok(());
    }
    println!(
        "{:<22}  {:<25}  {:>9}  {:<7}  {:>8}  {:>8}  node / detail",
        "job", "last run", "ms", "outcome", "runs", "failures"
    );
    for run in runs {
        println!(
            "{:<22}  {:<25}  {:>9}  {:<7}  {:>8}  {:>8}  {} {}",
            run.job,
            run.started_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            run.duration_ms,
            run.outcome,
            run.runs,
            run.failures,
            run.node,
            run.detail.unwrap_or_default()
        );
    }
    Ok(())
}
