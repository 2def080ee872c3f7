//! Memory of a reconcile of everything, phase by phase, counted by the tests' allocator
//! (`testing::alloc`, per thread: this test runs on its own current-thread runtime).
//! The figures are printed; the bound keeps the run within docs/benchmarks.md's target for
//! its 10,000-name row. `EC2_DNS_MEMORY_DETAIL=1` adds, after the run, what it holds piece
//! by piece (rows in parentheses, outside the bound), and the whole plan of a run that does
//! not decide by chunk (the operator CLI's, which counts deletions before writing).

use crate::decide;
use crate::engine::{Request, CHUNK};
use crate::handler::{report_answer, MAX_ANSWER_BYTES};
use crate::model::Scope;
use crate::testing::{alloc, World};

const MB: f64 = 1024.0 * 1024.0;

fn mb(bytes: isize) -> String {
    format!("{:.1} MB", bytes as f64 / MB)
}

#[tokio::test]
async fn reconcile_all_at_10000_names_phase_by_phase() {
    let n = 10_000;
    let w = World::new();
    for i in 1..=n {
        w.launch(i, &format!("n{i}.dyn.example.com"));
    }
    let req = Request {
        names: Default::default(),
        scope: Scope::All,
        verify_dns: true,
        dry_run: true,
        deadline: None,
    };
    let base = alloc::live();
    let mut rows = Vec::new();
    let phase = |label: &str, rows: &mut Vec<(String, isize, isize)>| {
        rows.push((
            label.to_string(),
            alloc::live() - base,
            alloc::peak() - base,
        ));
        alloc::reset_peak();
    };
    alloc::reset_peak();
    let world = w.rec.observe(&req).await.unwrap();
    phase("observe (the world read)", &mut rows);
    let report = w.rec.settle(&world, &req, None).await.unwrap();
    phase("decide and report by chunk", &mut rows);
    let run = rows.len();
    if std::env::var("EC2_DNS_MEMORY_DETAIL").is_ok() {
        // What the run holds beside the world and the report, piece by piece; and the
        // whole plan a run made before chunks, for comparison.
        let settings = w.rec.settings();
        let claims = decide::Claims::new(&world, &settings);
        phase("(the claims)", &mut rows);
        let by_name = claims.by_name(&world);
        phase("(claimants by name)", &mut rows);
        let mut planner = decide::Planner::new(&world, &req.scope, &settings, &claims, &by_name);
        phase("(the planner: every name)", &mut rows);
        let chunk = planner.next_chunk(CHUNK);
        phase("(one chunk's work)", &mut rows);
        drop(chunk);
        while planner.next_chunk(CHUNK).is_some() {}
        phase("(every name decided)", &mut rows);
        let plan = planner.finish();
        phase("(the plan without names)", &mut rows);
        drop(plan);
        drop(by_name);
        drop(claims);
        let plan = decide::plan(&world, &req.scope, &settings);
        phase("(the whole plan at once)", &mut rows);
        drop(plan);
        phase("(dropped)", &mut rows);
    }
    let detail = rows.len() - run;
    drop(world);
    phase("world dropped", &mut rows);
    let answer = report_answer(&report, MAX_ANSWER_BYTES).unwrap();
    phase("answer", &mut rows);
    let answer_len = answer.get().len();
    drop(answer);
    drop(report);
    phase("everything dropped", &mut rows);
    println!("reconcile of everything, {n} names, dry run (bytes above the start):");
    for (label, live, peak) in &rows {
        println!("  {label:<28} live {:>9}  peak {:>9}", mb(*live), mb(*peak));
    }
    println!("  answer: {answer_len} bytes");
    // At this commit (bytes above the start, live / peak): observe 20.8 / 23.7 MB; decide
    // and report by chunk 29.4 / 37.8 MB (the world, the report's 20,000 rows at 8.6 MB, the
    // claims at 3.2 MB and claimants by name at 0.8 MB, every owner's outcomes at 3.5 MB and
    // one chunk's work at 1.4 MB); world dropped 8.6 / 29.4 MB; answer 8.8 / 11.0 MB. Before
    // names were decided by chunk, the whole plan (33 MB) was held with the world and the
    // report: 62 MB (87 MB before names, owners and zone ids shared their text). The bound
    // keeps that from growing back unnoticed; the target for the whole run's peak RSS is
    // 64 MB (docs/benchmarks.md).
    let peak = rows[..run]
        .iter()
        .chain(&rows[run + detail..])
        .map(|r| r.2)
        .max()
        .unwrap_or(0);
    assert!(peak < 40 * 1024 * 1024, "peak {} above the start", mb(peak));
}
