//! Text from data is printed exactly and never executed: Typst markup, code and maths in a value stay
//! text in the PDF.

use std::collections::BTreeMap;
use std::sync::Arc;

use boardpack::execute::{self, Silent};
use boardpack::params::RunParams;
use boardpack::plan;

use crate::pipeline::{project, visits};
use crate::support::{pdf_text, write_parquet};

#[tokio::test]
async fn hostile_names_print_exactly() {
    let p = project();
    let hostile = "*Smith* & #Jones $1";
    let code = "#panic(\"boom\") = heading <label> @ref // comment [x]";
    write_parquet(
        &p,
        "inputs/visits/month=2022-04/part-0.parquet",
        &visits(&[("a", hostile, 1), ("b", code, 2)]),
    );
    let world = p.world();
    let plan = plan::load_named(&world.project, "waits").unwrap();
    let params = RunParams::bind(
        &plan,
        &BTreeMap::from([("period".into(), "2022-04".into())]),
    )
    .unwrap();
    let outcome = execute::run(&world, &plan, &params, Arc::new(Silent))
        .await
        .expect("hostile text does not break the run");
    let text = pdf_text(&p.store_file(&outcome.reports()[0]));
    assert!(text.contains(hostile), "{text}");
    assert!(text.contains(code), "{text}");
}
