//! Every documented rule: keys, access, UUIDs, required fields, uniqueness, ranges.

use gtform::emulator::{
    DEMO_API_KEY, DEMO_PROJECT_ID, DEMO_WORKFLOW_ID, EmulatorOptions, ProjectAccess, Seed, SeedKey,
    SeedProject,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{Env, code, image_job, project};

const OTHER_PROJECT: uuid::Uuid = uuid::Uuid::from_u128(0x1111_2222_3333_4444_5555_6666_7777_8888);

/// A seed with the demo project, a second project, and a key limited to the demo project.
fn two_projects() -> EmulatorOptions {
    let mut seed = Seed::demo();
    seed.projects.push(SeedProject {
        id: OTHER_PROJECT,
        name: "Other".into(),
        base: "IMAGE".into(),
        workflows: vec![],
    });
    seed.keys.push(SeedKey {
        key: "limited".into(),
        projects: ProjectAccess::Only(vec![DEMO_PROJECT_ID]),
    });
    EmulatorOptions {
        seed,
        ..EmulatorOptions::default()
    }
}

async fn send(env: &Env, key: Option<&str>, path: &str) -> (StatusCode, Value) {
    let mut request = env.client.get(env.url(path));
    if let Some(key) = key {
        request = request.header("x-api-key", key);
    }
    let response = request.send().await.unwrap();
    (response.status(), response.json().await.unwrap())
}

#[tokio::test]
async fn missing_or_wrong_key_is_auth_failure_with_400() {
    let env = Env::start().await;
    let path = format!("/v1/projects/{}/details", project());
    for key in [None, Some("wrong"), Some("")] {
        let (status, body) = send(&env, key, &path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(code(&body), "auth-failure");
    }
}

#[tokio::test]
async fn auth_failure_status_can_be_401() {
    let env = Env::start_with(EmulatorOptions {
        auth_failure_status: 401,
        ..EmulatorOptions::default()
    })
    .await;
    let (status, body) = send(
        &env,
        Some("wrong"),
        &format!("/v1/projects/{}/details", project()),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(code(&body), "auth-failure");
    assert!(
        gtform::emulator::start(EmulatorOptions {
            auth_failure_status: 403,
            ..EmulatorOptions::default()
        })
        .await
        .is_err()
    );
}

#[tokio::test]
async fn a_key_without_access_or_an_unknown_project_is_unauthorized() {
    let env = Env::start_with(two_projects()).await;
    let other = format!("/v1/projects/{OTHER_PROJECT}/details");
    let (status, body) = send(&env, Some("limited"), &other).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(code(&body), "unauthorized");
    let (status, _) = send(&env, Some(DEMO_API_KEY), &other).await;
    assert_eq!(status, StatusCode::OK, "the demo key may use every project");
    let (status, _) = send(
        &env,
        Some("limited"),
        &format!("/v1/projects/{}/details", project()),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let unknown = format!("/v1/projects/{}/details", uuid::Uuid::new_v4());
    let (_, body) = send(&env, Some(DEMO_API_KEY), &unknown).await;
    assert_eq!(code(&body), "unauthorized");
}

#[tokio::test]
async fn ids_that_are_not_uuids_are_ge_0001() {
    let env = Env::start().await;
    let bad = "fde5ert6-eb32-481a-807a-03a0428ca836";
    for path in [
        format!("/v1/projects/{bad}/details"),
        format!("/v1/projects/{}/batch/{bad}", project()),
        format!("/v1/projects/{}/jobs/not-a-uuid", project()),
        "/v1/projects/5b7e1f0a3c2d4e8f9a1b2c3d4e5f6a7b/details".to_owned(),
    ] {
        let (status, body) = env.get(&path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(code(&body), "GE_0001", "{path}");
    }
}

#[tokio::test]
async fn unknown_batch_and_job_ids_are_resource_errors() {
    let env = Env::start().await;
    for path in [
        format!("/v1/projects/{}/batch/{}", project(), uuid::Uuid::new_v4()),
        format!("/v1/projects/{}/jobs/{}", project(), uuid::Uuid::new_v4()),
    ] {
        let (status, body) = env.get(&path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(code(&body), "resource_error");
    }
}

async fn create(env: &Env, body: Value) -> (StatusCode, Value) {
    env.post(&format!("/v1/projects/{}/jobs", project()), &body)
        .await
}

#[tokio::test]
async fn job_fields_are_checked_with_their_documented_codes() {
    let env = Env::start_with(two_projects()).await;
    let with = |key: &str, value: Value| {
        let mut body = image_job("r");
        body[key] = value;
        body
    };
    let without = |key: &str| {
        let mut body = image_job("r");
        body.as_object_mut().unwrap().remove(key);
        body
    };
    let cases = [
        (without("reference_id"), "FS_0002"),
        (with("reference_id", json!(null)), "FS_0002"),
        (with("reference_id", json!("")), "FS_0002"),
        (with("reference_id", json!(12)), "GE_0001"),
        (without("data"), "FS_0004"),
        (with("data", json!(null)), "FS_0004"),
        (with("data", json!({})), "FS_0004"),
        (with("data", json!("https://x/a.jpg")), "FS_0003"),
        (with("data", json!([1])), "FS_0003"),
        (with("data", json!({ "image_url": 5 })), "FS_0003"),
        (with("data", json!({ "something": "else" })), "FS_0003"),
        (
            with(
                "data",
                json!({ "video_data": { "frames": [
                    { "frame_id": "f", "src": "https://x/1.jpg" },
                    { "frame_id": "f", "src": "https://x/2.jpg" } ] } }),
            ),
            "FS_0003",
        ),
        (
            with("data", json!({ "video_data": { "frames": [] } })),
            "FS_0003",
        ),
        (without("work_flow_id"), "FS_0005"),
        (with("work_flow_id", json!(null)), "FS_0005"),
        (with("work_flow_id", json!("")), "FS_0005"),
        (with("work_flow_id", json!("not-a-uuid")), "GE_0001"),
        (
            with("work_flow_id", json!(uuid::Uuid::new_v4().to_string())),
            "GE_0001",
        ),
        (with("batch_id", json!("not-a-uuid")), "GE_0001"),
        (with("batch_id", json!(7)), "GE_0001"),
        (
            with("batch_id", json!(uuid::Uuid::new_v4().to_string())),
            "GE_0001",
        ),
        (with("priority_weight", json!(0)), "FS_00012"),
        (with("priority_weight", json!(10)), "FS_00012"),
        (with("priority_weight", json!(2.5)), "FS_00012"),
        (with("priority_weight", json!("5")), "FS_00012"),
        (with("type", json!("test")), "FS_00011"),
        (with("type", json!("GOLD")), "FS_00011"),
        (with("type", json!(1)), "FS_00011"),
    ];
    for (body, expected) in cases {
        let (status, answer) = create(&env, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(code(&answer), expected, "{body}");
    }
    assert_eq!(
        env.handle.stats().status_count(200),
        0,
        "no case may create a job"
    );
    for (index, (key, value)) in [
        ("priority_weight", json!(1)),
        ("priority_weight", json!(9)),
        ("type", json!("TEST")),
        ("type", json!("NON_TEST")),
    ]
    .into_iter()
    .enumerate()
    {
        let mut body = with(key, value);
        body["reference_id"] = json!(format!("ok-{index}"));
        let (status, answer) = create(&env, body).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
    // A batch of another project is no batch of this one.
    let (_, other) = env
        .post(
            &format!("/v1/projects/{OTHER_PROJECT}/batch"),
            &json!({ "name": "x" }),
        )
        .await;
    let (_, answer) = create(&env, with("batch_id", other["data"]["batch_id"].clone())).await;
    assert_eq!(code(&answer), "GE_0001");
    // The workflow of another project is not a workflow of this one.
    let (_, answer) = env
        .post(
            &format!("/v1/projects/{OTHER_PROJECT}/jobs"),
            &image_job("w"),
        )
        .await;
    assert_eq!(code(&answer), "GE_0001");
}

#[tokio::test]
async fn reference_ids_are_unique_per_project_not_globally() {
    let mut options = two_projects();
    options.seed.projects[1].workflows = vec![DEMO_WORKFLOW_ID];
    let env = Env::start_with(options).await;
    let (status, _) = env.create_job("001", None).await;
    assert_eq!(status, StatusCode::OK);
    let batch_id = env.create_batch("b").await;
    let (status, body) = env.create_job("001", Some(&batch_id)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(code(&body), "FS_0001");
    let (status, body) = env
        .post(
            &format!("/v1/projects/{OTHER_PROJECT}/jobs"),
            &image_job("001"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Reference ids are case-sensitive.
    let (status, _) = env.create_job("ABC", None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = env.create_job("abc", None).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn batch_names_are_unique_per_project_and_required() {
    let env = Env::start_with(two_projects()).await;
    let path = format!("/v1/projects/{}/batch", project());
    env.create_batch("week 1").await;
    for (body, expected) in [
        (json!({ "name": "week 1" }), "BATCH_CREATION"),
        (json!({ "name": "Default" }), "BATCH_CREATION"),
        (json!({}), "GE_0001"),
        (json!({ "name": "" }), "GE_0001"),
        (json!({ "name": null }), "GE_0001"),
        (json!({ "name": 3 }), "GE_0001"),
        (json!({ "name": "x", "description": 3 }), "GE_0001"),
    ] {
        let (status, answer) = env.post(&path, &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(code(&answer), expected, "{body}");
    }
    let (status, _) = env
        .post(
            &format!("/v1/projects/{OTHER_PROJECT}/batch"),
            &json!({ "name": "week 1" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "another project may reuse the name");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_parallel_creates_of_one_reference_id_make_one_job() {
    let env = Env::start().await;
    let path = format!("/v1/projects/{}/jobs", project());
    let requests = (0..50).map(|_| {
        let client = super::client();
        let url = env.url(&path);
        tokio::spawn(async move {
            let response = client
                .post(url)
                .header("x-api-key", DEMO_API_KEY)
                .json(&image_job("same"))
                .send()
                .await
                .unwrap();
            let status = response.status();
            let body: Value = response.json().await.unwrap();
            (status, body)
        })
    });
    let answers = futures::future::join_all(requests).await;
    let mut created = 0;
    let mut duplicates = 0;
    for answer in answers {
        let (status, body) = answer.unwrap();
        if status == StatusCode::OK {
            created += 1;
        } else {
            assert_eq!(code(&body), "FS_0001");
            duplicates += 1;
        }
    }
    assert_eq!((created, duplicates), (1, 49));
    assert_eq!(Env::default_batch(&env.details().await)["total_jobs"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_batch_creates_of_one_name_make_one_batch() {
    let env = Env::start().await;
    let path = env.url(&format!("/v1/projects/{}/batch", project()));
    let requests = (0..20).map(|_| {
        let client = super::client();
        let path = path.clone();
        tokio::spawn(async move {
            client
                .post(path)
                .header("x-api-key", DEMO_API_KEY)
                .json(&json!({ "name": "race" }))
                .send()
                .await
                .unwrap()
                .status()
        })
    });
    let statuses = futures::future::join_all(requests).await;
    let created = statuses
        .into_iter()
        .filter(|status| *status.as_ref().unwrap() == StatusCode::OK)
        .count();
    assert_eq!(created, 1);
    assert_eq!(env.handle.stats().code_count("BATCH_CREATION"), 19);
}
