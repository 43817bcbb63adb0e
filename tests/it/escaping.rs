//! Nothing printed is a control sequence: names, descriptions and error bodies that a server
//! supplies, holding ESC, CR, zero-width and bidi characters, reach `plan`, `apply` and `show`
//! output only escaped. (A workspace holding them is refused by `validate`, so the hostile text
//! comes from the server here.)

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use gtform::emulator::{self, EmulatorOptions, Seed};

use crate::support::{API_KEY, BatchSpec, PROJECT_ID, Rig, ids, seed, workspace_yaml};

/// Every kind of hidden character: ESC sequences, CR, a bell, zero-width space and joiner, a
/// right-to-left override and a bidi isolate.
const EVIL: &str = "\u{1b}[2J\u{1b}]0;pwned\u{7}\r\u{200b}\u{200d}\u{202e}\u{2066}";

/// Fails when `text` holds a character that `escape` would have escaped, other than the line
/// breaks of the output itself.
#[track_caller]
fn assert_no_hidden(what: &str, text: &str) {
    let hidden: Vec<char> = text
        .chars()
        .filter(|c| *c != '\n' && gtform::escape::is_hidden(*c))
        .collect();
    assert!(
        hidden.is_empty(),
        "{what} holds {hidden:?} unescaped:\n{text}"
    );
}

/// An emulator whose test project is named with hidden characters, holding a batch whose name
/// and description hold them, and jobs whose reference_ids hold them.
async fn hostile_server() -> Rig {
    let mut seed: Seed = seed();
    seed.projects[0].name = format!("Street{EVIL} scenes");
    let server = emulator::start(EmulatorOptions {
        seed,
        ..EmulatorOptions::default()
    })
    .await
    .expect("the emulator starts");
    let rig = Rig {
        server,
        dir: tempfile::tempdir().unwrap(),
    };
    // Through the API, as any other client of the server could have done.
    let http = reqwest::Client::new();
    for (name, description) in [
        (format!("evil{EVIL}batch"), format!("made by{EVIL}someone")),
        ("week-48".to_owned(), format!("server{EVIL}description")),
    ] {
        let answer = http
            .post(format!("{}/v1/projects/{PROJECT_ID}/batch", rig.url()))
            .header("x-api-key", API_KEY)
            .json(&serde_json::json!({ "name": name, "description": description }))
            .send()
            .await
            .unwrap();
        assert!(answer.status().is_success(), "{:?}", answer.text().await);
    }
    rig.fill_batch(
        &format!("evil{EVIL}batch"),
        ["cam-0000".to_owned(), format!("job{EVIL}0")],
    );
    rig.fill_batch("week-48", [format!("stray{EVIL}job")]);
    rig
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_names_and_descriptions_are_escaped_in_plan_and_show() {
    let rig = hostile_server().await;
    // cam-0000 sits in the evil batch on the server: a conflict naming that batch.
    rig.write(
        "gtform.yaml",
        &workspace_yaml(
            &rig.url(),
            &[BatchSpec::new("week-48", ids("cam", 0..2)).described("Dashcam frames")],
        ),
    );
    let plan = rig.run(&["plan", "--verbose"]).expect_code(1);
    assert_no_hidden("plan stdout", &plan.stdout());
    assert_no_hidden("plan stderr", &plan.stderr());
    assert!(
        plan.stdout().contains("server\\u{1b}[2J"),
        "the drift shows the server's description, escaped:\n{}",
        plan.stdout()
    );
    assert!(
        plan.stdout().contains("evil\\u{1b}[2J"),
        "{}",
        plan.stdout()
    );
    assert!(plan.stdout().contains("\\u{202e}"), "{}", plan.stdout());
    assert!(
        plan.stderr().contains("exists in batch `evil\\u{1b}[2J"),
        "{}",
        plan.stderr()
    );
    let json = rig.run(&["plan", "--json"]).expect_code(1);
    assert_no_hidden("plan --json", &json.stdout());
    assert_no_hidden("plan --json stderr", &json.stderr());
    let document: serde_json::Value = serde_json::from_str(&json.stdout()).unwrap();
    assert_eq!(
        document["resource_drift"][0]["remote"],
        format!("server{EVIL}description"),
        "JSON carries the text exactly, escaped the JSON way"
    );

    // Without the conflicts (no asserted name, no job in another batch), the plan can be saved
    // and shown.
    rig.write(
        "gtform.yaml",
        &workspace_yaml(
            &rig.url(),
            &[BatchSpec::new("week-48", ids("cam", 1..3)).described("Dashcam frames")],
        )
        .replace("    name: Street scenes\n", ""),
    );
    rig.run(&["plan", "--out", "hostile.plan"]).expect_code(0);
    for args in [
        &["show", "hostile.plan"][..],
        &["show", "hostile.plan", "--verbose"],
    ] {
        let show = rig.run(args).expect_code(0);
        assert_no_hidden("show stdout", &show.stdout());
        assert_no_hidden("show stderr", &show.stderr());
        assert!(show.stdout().contains("\\u{200b}"), "{}", show.stdout());
    }
    let show_json = rig.run(&["show", "hostile.plan", "--json"]).expect_code(0);
    assert_no_hidden("show --json", &show_json.stdout());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paths_in_errors_are_escaped() {
    let rig = Rig::start().await;
    let missing = format!("gone{EVIL}.plan");
    let run = rig.run(&["show", &missing]).expect_code(1);
    assert_no_hidden("show stderr", &run.stderr());
    assert!(run.stderr().contains("gone\\u{1b}[2J"), "{}", run.stderr());
    let run = rig
        .run(&["validate", &format!("nowhere{EVIL}")])
        .expect_code(1);
    assert_no_hidden("validate stderr", &run.stderr());
}

/// A server at the root of its address whose reads succeed and whose creates fail with an error
/// envelope full of hidden characters; `/html` variants answer HTML with them.
async fn hostile_error_server(html_reads: bool) -> String {
    let details = if html_reads {
        get(|| async {
            (
                StatusCode::BAD_REQUEST,
                format!("<html><h1>no{EVIL}</h1>\u{1b}]8;;https://evil\u{7}link</html>"),
            )
        })
    } else {
        get(|| async {
            serde_json::json!({
                "success": true,
                "data": { "name": "Street scenes", "base": "IMAGE", "batches": [] }
            })
            .to_string()
        })
    };
    let app = Router::new()
        .route("/v1/projects/{id}/details", details)
        .route(
            "/v1/projects/{id}/batch",
            post(|| async {
                (
                    StatusCode::BAD_REQUEST,
                    serde_json::json!({
                        "success": false,
                        "error": { "code": format!("E{EVIL}"), "message": format!("refused{EVIL}here") }
                    })
                    .to_string(),
                )
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{address}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_error_bodies_are_escaped_in_plan_and_apply() {
    let rig = Rig::start().await;
    let html = hostile_error_server(true).await;
    rig.write(
        "gtform.yaml",
        &workspace_yaml(&html, &[BatchSpec::new("week-48", ids("cam", 0..2))]),
    );
    let plan = rig.run(&["plan"]).expect_code(1);
    assert_no_hidden("plan stderr", &plan.stderr());
    assert!(plan.stderr().contains("no\\u{1b}[2J"), "{}", plan.stderr());

    let refusing = hostile_error_server(false).await;
    rig.write(
        "gtform.yaml",
        &workspace_yaml(&refusing, &[BatchSpec::new("week-48", ids("cam", 0..2))]),
    );
    let apply = rig.run(&["apply", "--auto-approve"]).expect_code(1);
    assert_no_hidden("apply stdout", &apply.stdout());
    assert_no_hidden("apply stderr", &apply.stderr());
    assert!(
        apply.stderr().contains("refused\\u{1b}[2J"),
        "the failure is reported, escaped:\n{}",
        apply.stderr()
    );
    let json = rig
        .run(&["apply", "--auto-approve", "--json"])
        .expect_code(1);
    assert_no_hidden("apply --json", &json.stdout());
    assert_no_hidden("apply --json stderr", &json.stderr());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_override_with_a_path_is_refused_before_any_request() {
    let rig = Rig::start().await;
    rig.workspace(&[BatchSpec::new("week-48", ids("cam", 0..1))]);
    rig.server.reset_stats();
    let endpoint = format!("{}/v1", rig.url());
    let run = rig
        .run_with_env(
            &["plan"],
            &[("GTFORM_API_KEY", API_KEY), ("GTFORM_ENDPOINT", &endpoint)],
        )
        .expect_code(1);
    assert!(
        run.stderr().contains("GTFORM_ENDPOINT: `http://127.0.0.1:"),
        "{}",
        run.stderr()
    );
    assert!(run.stderr().contains("has a path"), "{}", run.stderr());
    assert!(
        run.stderr().contains(&format!("hint: use `{}`", rig.url())),
        "{}",
        run.stderr()
    );
    assert_eq!(rig.server.stats().total_requests, 0, "nothing was sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_holding_format_ignorable_or_bidi_characters_are_refused() {
    let rig = Rig::start().await;
    // Format characters (Cf) of Kaithi, Egyptian hieroglyphs and shorthand, a bidi override, an
    // Arabic number sign: from the Unicode data, none of them on the old hand-kept list but the
    // override.
    for (c, escaped) in [
        ('\u{110bd}', "\\u{110bd}"),
        ('\u{13437}', "\\u{13437}"),
        ('\u{1bca1}', "\\u{1bca1}"),
        ('\u{202e}', "\\u{202e}"),
        ('\u{600}', "\\u{600}"),
    ] {
        rig.workspace(&[BatchSpec::new(&format!("week{c}48"), ids("cam", 0..1))]);
        let run = rig.run(&["validate"]).expect_code(1);
        assert_no_hidden("validate stderr", &run.stderr());
        assert!(
            run.stderr().contains(&format!("week{escaped}48")),
            "the name is refused and shown escaped:\n{}",
            run.stderr()
        );
    }
}
