//! Run history: `boardpack runs` lists the run records on the store (and the runs holding a live lease,
//! which have no record yet); `boardpack runs show <id>` prints one. Reads only.

use std::fmt::Write as _;

use crate::record::{RunRecord, RunStatus};
use crate::world::World;

/// One line of the history (`runs --output json` prints a list of them).
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunLine {
    pub run_id: String,
    pub pipeline: String,
    pub period: String,
    /// `succeeded`, `failed`, `interrupted`, `abandoned`, or `running` (a live lease, no record yet).
    pub status: String,
    pub trigger: String,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub duration_ms: Option<u64>,
}

pub fn status_name(s: RunStatus) -> &'static str {
    match s {
        RunStatus::Succeeded => "succeeded",
        RunStatus::Failed => "failed",
        RunStatus::Interrupted => "interrupted",
        RunStatus::Abandoned => "abandoned",
    }
}

fn json_name<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

/// Every run record under `runs/` (of one pipeline, when named), oldest first.
pub async fn records(world: &World, pipeline: Option<&str>) -> Result<Vec<RunRecord>, String> {
    let prefix = match pipeline {
        Some(p) => format!("runs/{p}"),
        None => "runs".to_string(),
    };
    let listed = world
        .store
        .list(&prefix)
        .await
        .map_err(|e| format!("listing runs: {e}"))?;
    let mut out = Vec::new();
    let mut pointers: std::collections::BTreeMap<(String, String), Option<String>> =
        std::collections::BTreeMap::new();
    for o in listed.iter().filter(|o| o.path.ends_with("/run.json")) {
        let bytes = world
            .store
            .get(&o.path)
            .await
            .map_err(|e| format!("reading `{}`: {e}", o.path))?;
        match serde_json::from_slice::<RunRecord>(&bytes) {
            Ok(mut r) => {
                // Whether it is published is the pointer's to say (read once per pipeline and period).
                let key = (r.pipeline.clone(), r.period.clone());
                if !pointers.contains_key(&key) {
                    let p = crate::publish::current(&world.store, &r.pipeline, &r.period).await?;
                    pointers.insert(key.clone(), p.map(|p| p.run_id));
                }
                r.published =
                    pointers.get(&key).and_then(|p| p.as_deref()) == Some(r.run_id.as_str());
                out.push(r)
            }
            Err(e) => tracing::warn!("`{}` is not a run record: {e}", o.path),
        }
    }
    out.sort_by(|a, b| (a.started_at, &a.run_id).cmp(&(b.started_at, &b.run_id)));
    Ok(out)
}

/// The history: records, then the runs in progress (a live lease whose run has no record yet).
pub async fn lines(world: &World, pipeline: Option<&str>) -> Result<Vec<RunLine>, String> {
    let records = records(world, pipeline).await?;
    let mut out: Vec<RunLine> = records
        .iter()
        .map(|r| RunLine {
            run_id: r.run_id.clone(),
            pipeline: r.pipeline.clone(),
            period: r.period.clone(),
            status: status_name(r.status).to_string(),
            trigger: json_name(&r.trigger),
            started_at: r.started_at,
            duration_ms: Some(r.duration_ms),
        })
        .collect();
    let prefix = match pipeline {
        Some(p) => format!("leases/{p}"),
        None => "leases".to_string(),
    };
    let now = world.clock.now();
    let leases = world.store.list(&prefix).await.unwrap_or_default();
    for o in leases {
        let Ok(bytes) = world.store.get(&o.path).await else {
            continue;
        };
        let Ok(body) = serde_json::from_slice::<super::lease::LeaseBody>(&bytes) else {
            continue;
        };
        if body.live(now) && !records.iter().any(|r| r.run_id == body.run_id) {
            out.push(RunLine {
                run_id: body.run_id.clone(),
                pipeline: body.pipeline.clone(),
                period: body.period.clone(),
                status: "running".into(),
                trigger: json_name(&body.trigger),
                started_at: body.acquired_at,
                duration_ms: None,
            });
        }
    }
    out.sort_by(|a, b| (a.started_at, &a.run_id).cmp(&(b.started_at, &b.run_id)));
    Ok(out)
}

/// The history as a table for people.
pub fn table(lines: &[RunLine]) -> String {
    let mut t = format!(
        "{:<24} {:<16} {:<11} {:<11} {:<9} {:<17} {}\n",
        "RUN", "PIPELINE", "PERIOD", "STATUS", "TRIGGER", "STARTED (UTC)", "DURATION"
    );
    for l in lines {
        let duration = l
            .duration_ms
            .map(|ms| super::format_duration(std::time::Duration::from_millis(ms)))
            .unwrap_or_else(|| "-".into());
        let _ = writeln!(
            t,
            "{:<24} {:<16} {:<11} {:<11} {:<9} {:<17} {}",
            l.run_id,
            l.pipeline,
            l.period,
            l.status,
            l.trigger,
            l.started_at.format("%Y-%m-%d %H:%M"),
            duration
        );
    }
    if lines.is_empty() {
        t.push_str("(no runs recorded)\n");
    }
    t
}

/// One run record for people: what, when, how it ended (and, for a succeeded run that is not the
/// published one, why: `unpublished`), each step.
pub fn show(path: &str, r: &RunRecord, unpublished: Option<&str>) -> String {
    let mut t = String::new();
    let _ = writeln!(t, "run       {}", r.run_id);
    let _ = writeln!(t, "pipeline  {} ({})", r.pipeline, r.pipeline_file);
    let _ = writeln!(t, "period    {}", r.period);
    let _ = writeln!(
        t,
        "status    {}{}",
        status_name(r.status),
        match (r.published, unpublished) {
            (true, _) => ", published".to_string(),
            (false, Some(why)) => format!(", {why}"),
            (false, None) => String::new(),
        }
    );
    let _ = writeln!(t, "trigger   {}", json_name(&r.trigger));
    if let Some(from) = &r.resumed_from {
        let _ = writeln!(t, "resumed   from run {from}");
    }
    if let Some(sel) = &r.selection {
        let mut asked = Vec::new();
        if !sel.select.is_empty() {
            asked.push(format!("--select {}", sel.select.join(" ")));
        }
        if !sel.exclude.is_empty() {
            asked.push(format!("--exclude {}", sel.exclude.join(" ")));
        }
        let _ = writeln!(
            t,
            "selected  {} ({})",
            sel.selected.join(", "),
            asked.join(" ")
        );
        // One line per run the outputs were copied from.
        let mut from: Vec<(&str, Vec<&str>)> = Vec::new();
        for r in &sel.reused {
            match from.iter_mut().find(|(run, _)| *run == r.run_id) {
                Some((_, steps)) => steps.push(&r.step),
                None => from.push((&r.run_id, vec![&r.step])),
            }
        }
        for (run, steps) in from {
            let _ = writeln!(t, "reused    {} from run {run}", steps.join(", "));
        }
    }
    let _ = writeln!(
        t,
        "started   {}  finished {}  ({})",
        r.started_at.format("%Y-%m-%d %H:%M:%S UTC"),
        r.finished_at.format("%Y-%m-%d %H:%M:%S UTC"),
        super::format_duration(std::time::Duration::from_millis(r.duration_ms))
    );
    let _ = writeln!(t, "record    {path}");
    if let Some(e) = &r.error {
        let _ = writeln!(t, "error     {e}");
    }
    if !r.steps.is_empty() {
        let _ = writeln!(t, "steps");
        for s in &r.steps {
            let rows = s.rows.map(|n| format!("{n} rows")).unwrap_or_default();
            let _ = writeln!(
                t,
                "  {:<28} {:<7} {:<9} {:>9} {:>10}  {}",
                s.id,
                s.kind,
                json_name(&s.status),
                super::format_duration(std::time::Duration::from_millis(s.duration_ms)),
                rows,
                s.message.as_deref().unwrap_or("")
            );
        }
    }
    for o in &r.outputs {
        let _ = writeln!(t, "output    {}", o.path);
    }
    for w in &r.warnings {
        let _ = writeln!(t, "warning   {w}");
    }
    t
}
