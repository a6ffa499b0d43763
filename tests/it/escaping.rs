//! Text from data is printed exactly and never executed: Typst markup, code and maths in a value stay
//! text in the PDF.

use crate::pipeline::{project, visits};
use crate::support::{pdf_text, run_period, write_parquet};

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
    let outcome = run_period(&p, "waits", "2022-04")
        .await
        .expect("hostile text does not break the run");
    let text = pdf_text(&p.store_file(&outcome.reports()[0]));
    assert!(text.contains(hostile), "{text}");
    assert!(text.contains(code), "{text}");
}
