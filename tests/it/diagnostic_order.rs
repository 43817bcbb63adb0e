//! The ordering rules of the diagnostics, on fixtures written out of order
//! (`tests/fixtures/config/out-of-order/`): where a problem has two places (a reference_id, a
//! batch, a project or a project id used twice, an endpoint set twice), the error is at the later
//! place in the files and the "first … here" label at the earlier one, though alphabetical order
//! (of batch, project and file names) says the opposite. And every diagnostic of every invalid
//! fixture is located, but the one summary of duplicates that has no single place.

use std::path::PathBuf;

use gtform::config;
use gtform::diagnostic::{Diagnostic, Location};

use crate::support::{relative, root, workspaces_in};

fn out_of_order(name: &str) -> PathBuf {
    relative(&root().join("tests/fixtures/config/out-of-order").join(name))
}

fn diagnostics_of(path: &std::path::Path) -> Vec<Diagnostic> {
    match config::load(path) {
        Ok(_) => panic!("{} loaded", path.display()),
        Err(diagnostics) => diagnostics.iter().cloned().collect(),
    }
}

/// `file:line:col` of a location, the file relative to the fixture.
fn place(location: &Location, fixture: &std::path::Path) -> String {
    let file = location
        .file
        .strip_prefix(fixture)
        .unwrap_or(&location.file)
        .display()
        .to_string();
    let file = if file.is_empty() {
        fixture.file_name().unwrap().to_string_lossy().into_owned()
    } else {
        file
    };
    format!("{file}:{}:{}", location.line, location.column)
}

/// The diagnostics with a second place, as (message, error at, label at, label text).
fn two_place_findings(fixture: &str) -> Vec<(String, String, String, String)> {
    let path = out_of_order(fixture);
    diagnostics_of(&path)
        .into_iter()
        .filter(|diagnostic| !diagnostic.labels.is_empty())
        .map(|diagnostic| {
            let (label_at, label) = &diagnostic.labels[0];
            (
                diagnostic.message.clone(),
                place(diagnostic.location.as_ref().expect("located"), &path),
                place(label_at, &path),
                label.clone(),
            )
        })
        .collect()
}

fn finding(
    message: &str,
    at: &str,
    label_at: &str,
    label: &str,
) -> (String, String, String, String) {
    (message.into(), at.into(), label_at.into(), label.into())
}

#[test]
fn a_reference_id_used_twice_is_reported_at_its_later_place_across_batches() {
    // Batch `zeta` comes first in the file, `alpha` first in the alphabet.
    assert_eq!(
        two_place_findings("reference-id-batches-reversed.yaml"),
        [
            finding(
                "reference_id `cam-0002` is used twice in project `street-scenes`",
                "reference-id-batches-reversed.yaml:15:27",
                "reference-id-batches-reversed.yaml:11:27",
                "first used here (batch `zeta`)",
            ),
            finding(
                "reference_id `cam-0001` is used twice in project `street-scenes`",
                "reference-id-batches-reversed.yaml:17:27",
                "reference-id-batches-reversed.yaml:9:27",
                "first used here (batch `zeta`)",
            ),
        ]
    );
}

#[test]
fn a_reference_id_used_twice_is_reported_at_its_later_place_across_files() {
    // The batch of the earlier file has the later name.
    assert_eq!(
        two_place_findings("reference-id-files-reversed"),
        [finding(
            "reference_id `cam-0001` is used twice in project `street-scenes`",
            "b.yaml:7:27",
            "a.yaml:9:27",
            "first used here (batch `zz-late-name`)",
        )]
    );
}

#[test]
fn a_project_id_used_twice_is_reported_at_its_later_place() {
    // `zeta` comes first in the file, `alpha` first in the alphabet.
    assert_eq!(
        two_place_findings("project-id-reversed.yaml"),
        [finding(
            "projects `zeta` and `alpha` have the same id `905ea3ee-6f62-4bb7-8c31-471e486d9202`",
            "project-id-reversed.yaml:8:9",
            "project-id-reversed.yaml:4:9",
            "`zeta` has it here",
        )]
    );
}

#[test]
fn a_project_defined_in_three_files_is_reported_at_the_later_two() {
    assert_eq!(
        two_place_findings("project-defined-reversed"),
        [
            finding(
                "project `street-scenes` is defined twice",
                "b.yaml:3:3",
                "a.yaml:3:3",
                "first defined here",
            ),
            finding(
                "project `street-scenes` is defined twice",
                "c.yaml:3:3",
                "a.yaml:3:3",
                "first defined here",
            ),
        ]
    );
}

#[test]
fn a_batch_defined_twice_is_labelled_at_its_first_file_not_at_its_projects() {
    // The project is defined in the last file; the batch first appears in the first.
    assert_eq!(
        two_place_findings("batch-defined-before-its-project"),
        [
            finding(
                "batch `week-48` of project `street-scenes` is defined twice",
                "m.yaml:5:7",
                "a.yaml:5:7",
                "first defined here",
            ),
            finding(
                "batch `week-48` of project `street-scenes` is defined twice",
                "z.yaml:6:7",
                "a.yaml:5:7",
                "first defined here",
            ),
        ]
    );
}

#[test]
fn an_endpoint_set_three_ways_is_reported_where_it_differs_from_the_first() {
    assert_eq!(
        two_place_findings("endpoint-set-three-times"),
        [
            finding(
                "`endpoint` is `embedded` here but `https://api.playment.io` elsewhere",
                "b.yaml:2:11",
                "a.yaml:2:11",
                "first set here",
            ),
            finding(
                "`endpoint` is `embedded` here but `https://api.playment.io` elsewhere",
                "c.yaml:2:11",
                "a.yaml:2:11",
                "first set here",
            ),
        ]
    );
}

/// Every fixture, the committed invalid ones included: a label that names an earlier place
/// ("first … here", "… has it here") points before the error.
#[test]
fn every_first_place_label_points_before_its_error() {
    let mut fixtures = workspaces_in(&root().join("tests/fixtures/config/out-of-order"));
    fixtures.extend(workspaces_in(&root().join("tests/fixtures/config/invalid")));
    let mut checked = 0;
    for fixture in fixtures {
        let Err(diagnostics) = config::load(&fixture) else {
            panic!("{} loaded", fixture.display());
        };
        for diagnostic in diagnostics.iter() {
            for (label_at, label) in &diagnostic.labels {
                if !(label.starts_with("first ") || label.ends_with(" has it here")) {
                    continue;
                }
                let at = diagnostic
                    .location
                    .as_ref()
                    .expect("a labelled error is located");
                assert!(
                    label_at < at,
                    "{}: `{}` at {at}, but its label `{label}` at {label_at}",
                    fixture.display(),
                    diagnostic.message
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 15, "only {checked} labels checked");
}

/// Every diagnostic of an invalid fixture has a place, except the count of duplicates beyond
/// those listed, which stands for many places.
#[test]
fn every_diagnostic_of_an_invalid_fixture_is_located() {
    let fixtures = workspaces_in(&root().join("tests/fixtures/config/invalid"));
    for fixture in fixtures {
        let Err(diagnostics) = config::load(&fixture) else {
            panic!("{} loaded", fixture.display());
        };
        for diagnostic in diagnostics.iter() {
            let summary = diagnostic.message.contains(" more duplicate reference_id")
                && diagnostic.message.ends_with(" are shown above)");
            assert!(
                diagnostic.location.is_some() || summary,
                "{}: unlocated diagnostic `{}`",
                fixture.display(),
                diagnostic.message
            );
        }
    }
}
