//! Fuzzes the pipeline YAML parser and validation, the entry point of every `boardpack` command that
//! reads a pipeline (`plan::load`): any text must give a plan or diagnostics, never a panic, a hang or a
//! diagnostic without a message.
#![no_main]

use std::sync::OnceLock;

use boardpack::world::Project;
use libfuzzer_sys::fuzz_target;

/// One project folder for the whole run, holding a SQL file and a template that specs may name.
fn project_dir() -> &'static std::path::Path {
    static DIR: OnceLock<std::path::PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("boardpack-fuzz-spec-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("pipelines")).unwrap();
        std::fs::create_dir_all(dir.join("sql/fuzz")).unwrap();
        std::fs::create_dir_all(dir.join("reports/fuzz")).unwrap();
        std::fs::write(dir.join("sql/fuzz/a.sql"), "SELECT 1 AS one").unwrap();
        std::fs::write(dir.join("reports/fuzz/r.typ.j2"), "= {{ title }}").unwrap();
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let dir = project_dir();
    std::fs::write(dir.join("pipelines/fuzz.yaml"), text).unwrap();
    let project = Project::new(dir);
    if let Err(diagnostics) = boardpack::plan::load(&project, "pipelines/fuzz.yaml") {
        assert!(!diagnostics.0.is_empty(), "a refusal without a reason");
        for d in &diagnostics.0 {
            assert!(!d.to_string().trim().is_empty(), "an empty diagnostic");
        }
    }
});
