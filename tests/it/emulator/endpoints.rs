//! Every endpoint of §5 and the path variants of §2, on the happy path.

use std::time::Duration;

use gtform::emulator::{DEMO_API_KEY, EmulatorOptions, RouteClass};
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{Env, code, image_job, project, workflow};

fn is_uuid(value: &Value) -> bool {
    value
        .as_str()
        .is_some_and(|text| text.len() == 36 && uuid::Uuid::parse_str(text).is_ok())
}

#[tokio::test]
async fn details_lists_the_default_batch_of_a_new_project() {
    let env = Env::start().await;
    let details = env.details().await;
    assert_eq!(details["name"], "Demo project");
    assert_eq!(details["base"], "IMAGE");
    let batches = details["batches"].as_array().unwrap();
    assert_eq!(batches.len(), 1);
    let default = &batches[0];
    assert_eq!(default["is_default"], json!(true));
    assert_eq!(default["name"], "Default");
    assert_eq!(default["status"], "Inactive");
    assert_eq!(default["total_jobs"], 0);
    assert!(is_uuid(&default["id"]));
    // ISO-8601 with microseconds and an offset, as the documented sample.
    let created_at = default["created_at"].as_str().unwrap();
    assert_eq!(
        created_at.len(),
        "2019-08-23T17:55:13.203229+05:30".len(),
        "{created_at}"
    );
    assert_eq!(&created_at[19..20], ".");
    assert!(created_at.ends_with("+00:00"));
    let (status, legacy) = env
        .get(&format!("/v0/projects/{}/details", project()))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(legacy["data"], details);
}

#[tokio::test]
async fn create_batch_returns_an_id_listed_in_details() {
    let env = Env::start().await;
    let (status, body) = env
        .post(
            &format!("/v1/projects/{}/batch", project()),
            &json!({ "name": "week 1", "description": "first delivery" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["success"], json!(true));
    assert_eq!(
        body["data"].as_object().unwrap().len(),
        1,
        "only batch_id: {body}"
    );
    let batch_id = body["data"]["batch_id"].clone();
    assert!(is_uuid(&batch_id));
    let details = env.details().await;
    let batch = Env::batch_named(&details, "week 1");
    assert_eq!(batch["id"], batch_id);
    assert_eq!(batch["description"], "first delivery");
    assert_eq!(batch["is_default"], json!(false));
    assert_eq!(batch["status"], "Inactive");
    // The Default batch stays first; others follow in creation order.
    env.create_batch("week 2").await;
    let names: Vec<Value> = env.details().await["batches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|batch| batch["name"].clone())
        .collect();
    assert_eq!(
        names,
        vec![json!("Default"), json!("week 1"), json!("week 2")]
    );
}

#[tokio::test]
async fn create_batch_accepts_the_sdk_path_and_body() {
    let env = Env::start().await;
    let (status, body) = env
        .post(
            &format!("/v1/project/{}/batch", project()),
            &json!({ "id": null, "name": "sdk", "label": "sdk", "description": null, "project_id": project() }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        Env::batch_named(&env.details().await, "sdk")["description"],
        ""
    );
}

#[tokio::test]
async fn create_job_answers_the_documented_shape_and_fills_the_default_batch() {
    let env = Env::start().await;
    let (status, body) = env.create_job("001", None).await;
    assert_eq!(status, StatusCode::OK);
    let data = body["data"].as_object().unwrap();
    assert!(is_uuid(&data["job_id"]));
    assert_eq!(data["reference_id"], "001");
    assert_eq!(data["work_flow_id"], json!(workflow()));
    assert!(
        !data.contains_key("tag"),
        "v1 answers job_id, reference_id, work_flow_id"
    );
    let default = Env::default_batch(&env.details().await);
    assert_eq!(default["total_jobs"], 1);
    assert_eq!(default["total_frames"], 1);
    assert_eq!(default["completed_jobs"], 0);
    assert_eq!(default["status"], "Active");
}

#[tokio::test]
async fn create_job_tolerates_extra_and_null_keys() {
    let env = Env::start().await;
    let batch_id = env.create_batch("b").await;
    for (reference, batch) in [("a", json!(null)), ("b", json!("")), ("c", json!(batch_id))] {
        let mut body = image_job(reference);
        body["id"] = json!(null);
        body["label"] = json!("x");
        body["tag"] = json!(null);
        body["metadata"] = json!({"k": "v"});
        body["batch_id"] = batch;
        body["priority_weight"] = json!(null);
        body["type"] = json!(null);
        let (status, answer) = env
            .post(&format!("/v1/projects/{}/jobs", project()), &body)
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
    let details = env.details().await;
    assert_eq!(
        Env::default_batch(&details)["total_jobs"],
        2,
        "null and \"\" mean Default"
    );
    assert_eq!(Env::batch_named(&details, "b")["total_jobs"], 1);
}

#[tokio::test]
async fn legacy_job_paths_answer_with_tag_and_accept_sdk_bodies() {
    let env = Env::start().await;
    let mut body = image_job("v0");
    let (status, answer) = env
        .post(&format!("/v0/projects/{}/jobs", project()), &body)
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["data"]["tag"], json!(workflow()));
    // The official SDK: projectsvc path, `tag` instead of `work_flow_id`, `id`/`batch_id` null.
    body = json!({
        "id": null, "reference_id": "sdk", "tag": "sensor_fusion",
        "data": { "image_url": "https://x/y/z/a.jpg" }, "batch_id": null, "priority_weight": 5,
    });
    let (status, answer) = env
        .post(&format!("/projectsvc/projects/{}/jobs", project()), &body)
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["data"]["tag"], "sensor_fusion");
    assert_eq!(answer["data"]["work_flow_id"], json!(workflow()));
    let job_id = answer["data"]["job_id"].as_str().unwrap();
    let (_, job) = env
        .get(&format!("/v0/projects/{}/jobs/{job_id}", project()))
        .await;
    assert_eq!(job["data"]["tag"], "sensor_fusion");
    assert_eq!(job["data"]["priority_weight"], 5);
}

#[tokio::test]
async fn batch_jobs_pages_by_100_in_creation_order() {
    let env = Env::start().await;
    let jobs = (0..250).map(|index| {
        (
            format!("ref-{index:03}"),
            json!({ "image_url": format!("https://x/{index}.jpg") }),
        )
    });
    let bulk = env
        .handle
        .insert_jobs_bulk(gtform::emulator::DEMO_PROJECT_ID, "big", jobs)
        .unwrap();
    assert_eq!(bulk.inserted, 250);
    let batch_id = bulk.batch_id.to_string();
    let path = format!("/v1/projects/{}/batch/{batch_id}", project());
    let (status, first) = env.get(&path).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(first["data"]["id"], json!(batch_id));
    assert_eq!(first["data"]["project_id"], json!(project()));
    assert_eq!(first["data"]["name"], "big");
    assert_eq!(first["data"]["jobs"].as_array().unwrap().len(), 100);
    let job = &first["data"]["jobs"][0];
    assert_eq!(job["reference_id"], "ref-000");
    assert_eq!(job["status"], "created");
    assert_eq!(job["frames"], 1);
    assert_eq!(job["annotations"], 0);
    assert!(is_uuid(&job["id"]));
    let token = first["data"]["next_page_token"].as_str().unwrap();
    assert!(!token.is_empty());
    let (_, second) = env.get(&format!("{path}?page_token={token}")).await;
    assert_eq!(second["data"]["jobs"][0]["reference_id"], "ref-100");
    let all = env.list_batch(&batch_id).await;
    let references: Vec<String> = all
        .iter()
        .map(|job| job["reference_id"].as_str().unwrap().to_owned())
        .collect();
    let expected: Vec<String> = (0..250).map(|index| format!("ref-{index:03}")).collect();
    assert_eq!(references, expected);
    // Listing is read-only: the same pages come back again.
    assert_eq!(env.list_batch(&batch_id).await, all);
}

#[tokio::test]
async fn batch_jobs_of_an_exact_page_ends_with_an_empty_token() {
    let env = Env::start().await;
    let jobs = (0..100).map(|index| {
        (
            format!("r{index}"),
            json!({ "image_url": "https://x/a.jpg" }),
        )
    });
    let bulk = env
        .handle
        .insert_jobs_bulk(gtform::emulator::DEMO_PROJECT_ID, "exact", jobs)
        .unwrap();
    let (_, page) = env
        .get(&format!(
            "/v0/projects/{}/batch/{}",
            project(),
            bulk.batch_id
        ))
        .await;
    assert_eq!(page["data"]["jobs"].as_array().unwrap().len(), 100);
    assert_eq!(page["data"]["next_page_token"], "");
    let empty = env.create_batch("empty").await;
    let (_, page) = env
        .get(&format!(
            "/v1/projects/{}/batch/{empty}?page_token=",
            project()
        ))
        .await;
    assert_eq!(page["data"]["jobs"], json!([]));
    assert_eq!(page["data"]["next_page_token"], "");
}

#[tokio::test]
async fn batch_jobs_refuses_forged_and_foreign_tokens() {
    let env = Env::start().await;
    let make = |prefix: &str| {
        (0..101)
            .map(|index| {
                (
                    format!("{prefix}{index}"),
                    json!({ "image_url": "https://x/a.jpg" }),
                )
            })
            .collect::<Vec<_>>()
    };
    let first = env
        .handle
        .insert_jobs_bulk(gtform::emulator::DEMO_PROJECT_ID, "one", make("a"))
        .unwrap();
    let second = env
        .handle
        .insert_jobs_bulk(gtform::emulator::DEMO_PROJECT_ID, "two", make("b"))
        .unwrap();
    let (_, page) = env
        .get(&format!(
            "/v1/projects/{}/batch/{}",
            project(),
            first.batch_id
        ))
        .await;
    let token = page["data"]["next_page_token"].as_str().unwrap().to_owned();
    for bad in [
        "1575822103313046000",
        "garbage",
        &token[..31],
        &format!("{token}0"),
    ] {
        let (status, body) = env
            .get(&format!(
                "/v1/projects/{}/batch/{}?page_token={bad}",
                project(),
                first.batch_id
            ))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(code(&body), "invalid_request_error");
    }
    let (_, body) = env
        .get(&format!(
            "/v1/projects/{}/batch/{}?page_token={token}",
            project(),
            second.batch_id
        ))
        .await;
    assert_eq!(code(&body), "invalid_request_error");
}

#[tokio::test]
async fn job_result_is_null_until_completed_then_a_file_behind_attachments() {
    let env = Env::start().await;
    let batch_id = env.create_batch("b").await;
    let (_, created) = env.create_job("001", Some(&batch_id)).await;
    let job_id = created["data"]["job_id"].as_str().unwrap().to_owned();
    let path = format!("/v1/projects/{}/jobs/{job_id}", project());
    let (status, before) = env.get(&path).await;
    assert_eq!(status, StatusCode::OK);
    let data = &before["data"];
    assert_eq!(data["project_id"], json!(project()));
    assert_eq!(data["reference_id"], "001");
    assert_eq!(data["job_id"], json!(job_id));
    assert_eq!(data["batch_id"], json!(batch_id));
    assert_eq!(data["status"], "created");
    assert_eq!(data["work_flow_id"], json!(workflow()));
    assert_eq!(data["priority_weight"], 5);
    assert_eq!(data["tag"], json!(workflow()));
    assert!(data.as_object().unwrap().contains_key("result"));
    assert_eq!(data["result"], Value::Null);

    let completed = env
        .handle
        .complete_batch(gtform::emulator::DEMO_PROJECT_ID, batch_id.parse().unwrap())
        .unwrap();
    assert_eq!(completed, 1);
    let (_, after) = env.get(&path).await;
    assert_eq!(after["data"]["status"], "completed");
    let result = after["data"]["result"].as_str().unwrap().to_owned();
    assert!(result.starts_with(&env.base), "{result}");
    assert!(result.ends_with(&format!("/jb/{job_id}/submission_result/{job_id}.json")));

    // Result URLs are private: a direct fetch is refused.
    let direct = env.client.get(&result).send().await.unwrap();
    assert_eq!(direct.status(), StatusCode::FORBIDDEN);

    let redirect = env
        .client
        .get(env.url("/v1/attachments"))
        .query(&[("url", result.as_str())])
        .header("x-api-key", DEMO_API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(redirect.status(), StatusCode::FOUND);
    let location = redirect.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.contains("signature="), "{location}");
    let file: Value = env
        .client
        .get(&location)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let annotations = &file["data"]["annotations"];
    // Three boxes (one with its corners in another order), a polygon and face landmarks.
    assert_eq!(annotations["rectangles"].as_array().unwrap().len(), 3);
    assert_eq!(annotations["polygons"].as_array().unwrap().len(), 1);
    assert!(!annotations["landmarks"].as_array().unwrap().is_empty());
    for kind in ["lines", "cuboids"] {
        assert_eq!(annotations[kind], json!([]), "{kind}");
    }
    assert_eq!(
        file["data"]["image_url"],
        "https://s3.aws.com/600x400/000/fff.jpg"
    );
    // A tampered signature is refused.
    let tampered = location.replace("signature=", "signature=00");
    assert_eq!(
        env.client.get(&tampered).send().await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    let details = env.details().await;
    let batch = Env::batch_named(&details, "b");
    assert_eq!(batch["status"], "Complete");
    assert_eq!(batch["completed_jobs"], 1);
    assert_eq!(batch["annotations"], 5);
    let (_, page) = env
        .get(&format!("/v1/projects/{}/batch/{batch_id}", project()))
        .await;
    assert_eq!(page["data"]["jobs"][0]["status"], "completed");
    assert_eq!(page["data"]["jobs"][0]["annotations"], 5);
}

#[tokio::test]
async fn attachments_refuse_unknown_urls_and_incomplete_jobs() {
    let env = Env::start().await;
    let (_, created) = env.create_job("001", None).await;
    let job_id = created["data"]["job_id"].as_str().unwrap();
    let (_, job) = env
        .get(&format!("/v1/projects/{}/jobs/{job_id}", project()))
        .await;
    let batch_id = job["data"]["batch_id"].as_str().unwrap();
    let pending = format!(
        "{}/storage/pr/{}/bt/{batch_id}/jb/{job_id}/submission_result/{job_id}.json",
        env.base,
        project()
    );
    for (url, expected) in [
        ("", "GE_0001"),
        ("not a url", "GE_0001"),
        ("https://example.com/some/file.json", "resource_error"),
        (pending.as_str(), "resource_error"),
    ] {
        let (status, body) = env
            .get(&format!("/v1/attachments?url={}", urlencode(url)))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{url}");
        assert_eq!(code(&body), expected, "{url}");
    }
    let response = env
        .client
        .get(env.url("/v1/attachments"))
        .query(&[("url", pending.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(code(&response.json().await.unwrap()), "auth-failure");
}

fn urlencode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Polls the job until it completes and checks the statuses it went through, so that a loaded
/// machine (a late poll) cannot make it fail: each phase lasts 1.5 s, polls are 20 ms apart.
#[tokio::test]
async fn complete_after_moves_jobs_through_in_progress_to_completed() {
    let env = Env::start_with(EmulatorOptions {
        complete_after: Some(Duration::from_secs(3)),
        ..EmulatorOptions::default()
    })
    .await;
    let (_, created) = env.create_job("001", None).await;
    let job_id = created["data"]["job_id"].as_str().unwrap().to_owned();
    let path = format!("/v1/projects/{}/jobs/{job_id}", project());
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut seen: Vec<String> = Vec::new();
    loop {
        let (_, job) = env.get(&path).await;
        let status = job["data"]["status"].as_str().unwrap().to_owned();
        if status == "completed" {
            assert!(job["data"]["result"].is_string(), "{job}");
        } else {
            assert_eq!(job["data"]["result"], Value::Null, "{job}");
        }
        if seen.last() != Some(&status) {
            seen.push(status.clone());
        }
        if status == "completed" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never completed: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(seen, ["created", "in_progress", "completed"]);
    let default = Env::default_batch(&env.details().await);
    assert_eq!(default["status"], "Complete");
    assert_eq!(default["completed_jobs"], 1);
    assert_eq!(default["completed_frames"], 1);
}

#[tokio::test]
async fn project_stats_sums_the_batches() {
    let env = Env::start().await;
    let batch_id = env.create_batch("b").await;
    env.create_job("1", Some(&batch_id)).await;
    env.create_job("2", None).await;
    env.handle
        .complete_batch(gtform::emulator::DEMO_PROJECT_ID, batch_id.parse().unwrap())
        .unwrap();
    let (status, body) = env.get(&format!("/v0/projects/{}/stats", project())).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["data"],
        json!({
            "name": "Demo project", "base": "IMAGE", "total_batches": 2, "completed_batches": 1,
            "total_jobs": 2, "completed_jobs": 1, "total_frames": 2, "completed_frames": 1,
            "annotations": 5, // the one completed image: three boxes, a polygon, landmarks
        })
    );
}

/// Creates one job of `data` in a project of `base`, completes it and returns its result file
/// and the fetched mask bytes (if the file names a mask).
async fn result_of(base: &str, data: Value) -> (Value, Option<Vec<u8>>) {
    let project_id = uuid::Uuid::new_v4();
    let mut seed = gtform::emulator::Seed::demo();
    seed.projects.push(gtform::emulator::SeedProject {
        id: project_id,
        name: format!("{base} project"),
        base: base.to_owned(),
        workflows: vec![gtform::emulator::DEMO_WORKFLOW_ID],
    });
    let env = Env::start_with(EmulatorOptions {
        seed,
        ..EmulatorOptions::default()
    })
    .await;
    let body = json!({ "reference_id": "r", "data": data, "work_flow_id": workflow() });
    let (status, created) = env
        .post(&format!("/v1/projects/{project_id}/jobs"), &body)
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let job_id = created["data"]["job_id"].as_str().unwrap();
    let (_, job) = env
        .get(&format!("/v1/projects/{project_id}/jobs/{job_id}"))
        .await;
    let batch_id = job["data"]["batch_id"].as_str().unwrap().parse().unwrap();
    env.handle.complete_batch(project_id, batch_id).unwrap();
    let (_, job) = env
        .get(&format!("/v1/projects/{project_id}/jobs/{job_id}"))
        .await;
    let fetch = |url: String| {
        let env = &env;
        async move {
            let redirect = env
                .client
                .get(env.url("/v1/attachments"))
                .query(&[("url", url.as_str())])
                .header("x-api-key", DEMO_API_KEY)
                .send()
                .await
                .unwrap();
            assert_eq!(redirect.status(), StatusCode::FOUND, "{url}");
            let location = redirect.headers()["location"].to_str().unwrap().to_owned();
            let response = env.client.get(location).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            response.bytes().await.unwrap().to_vec()
        }
    };
    let file: Value =
        serde_json::from_slice(&fetch(job["data"]["result"].as_str().unwrap().to_owned()).await)
            .unwrap();
    let mask_url = [
        "/data/annotations/raster/url",
        "/data/annotation_data/annotations/0/url",
        "/url",
    ]
    .iter()
    .find_map(|pointer| file.pointer(pointer).and_then(Value::as_str))
    .map(str::to_owned);
    let mask = match mask_url {
        Some(url) => Some(fetch(url).await),
        None => None,
    };
    (file, mask)
}

#[tokio::test]
async fn result_files_follow_the_task_type() {
    let (file, mask) = result_of("SEGMENTATION", json!({ "image_url": "https://x/a.jpg" })).await;
    assert!(
        file["data"]["annotations"]["raster"]["legend"].is_object(),
        "{file}"
    );
    assert_eq!(&mask.unwrap()[..4], b"\x89PNG");

    let frames = json!({ "frames": [
        { "frame_id": "frame001", "src": "https://x/1.jpg" },
        { "frame_id": "frame002", "src": "https://x/2.jpg" } ] });
    let (file, mask) = result_of("VIDEO", json!({ "video_data": frames })).await;
    let tracker = &file["data"]["annotation_data"]["annotations"][0];
    assert_eq!(tracker["type"], "rectangle");
    assert!(tracker["frames"]["frame001"]["coordinates"].is_array());
    assert!(tracker["frames"]["frame002"].is_object());
    assert_eq!(file["data"]["video_data"], frames);
    assert!(mask.is_none());

    let (file, mask) = result_of("VIDEO_SEGMENTATION", json!({ "video_data": frames })).await;
    let annotations = file["data"]["annotation_data"]["annotations"]
        .as_array()
        .unwrap();
    // One mask per legend object (2) per frame (2), frame by frame; an object keeps its track.
    assert_eq!(annotations.len(), 4);
    assert_eq!(annotations[2]["frame_id"], "frame002");
    assert_eq!(annotations[0]["track_id"], annotations[2]["track_id"]);
    assert_ne!(annotations[0]["track_id"], annotations[1]["track_id"]);
    assert_eq!(&mask.unwrap()[..4], b"\x89PNG");

    let sensor_frames = json!([{ "frame_id": "f1", "ego_pose": {},
        "sensors": [{ "sensor_id": "lidar", "data_url": "https://x/1.pcd" }] }]);
    let (file, _) = result_of(
        "POINT_CLOUD",
        json!({ "sensor_data": { "frames": sensor_frames, "sensor_meta": [] } }),
    )
    .await;
    let cuboid = &file["data"]["annotation_data"]["annotations"][0];
    assert_eq!(cuboid["label"], "car");
    assert_eq!(
        file["data"]["annotation_data"]["sensor_data"]["frames"],
        sensor_frames
    );

    let (file, mask) = result_of(
        "POINT_CLOUD_SEGMENTATION",
        json!({ "sensor_data": { "sensors": [{ "sensor_id": "lidar", "data_url": "https://x/1.pcd" }] } }),
    )
    .await;
    assert_eq!(file["legend"][0]["label_key"], 0);
    let mask = String::from_utf8(mask.unwrap()).unwrap();
    assert!(mask.contains("FIELDS x y z label_key"), "{mask}");
}

#[tokio::test]
async fn stats_count_requests_per_endpoint() {
    let env = Env::start().await;
    env.details().await;
    env.create_job("1", None).await;
    env.create_job("1", None).await;
    let stats = env.handle.stats();
    assert_eq!(stats.requests(RouteClass::ProjectDetails), 1);
    assert_eq!(stats.requests(RouteClass::CreateJob), 2);
    assert_eq!(stats.requests(RouteClass::CreateBatch), 0);
    assert_eq!(stats.api_requests(), 3);
    assert_eq!(stats.code_count("FS_0001"), 1);
    assert_eq!(stats.status_count(200), 2);
    assert_eq!(stats.log.len(), 3);
    let last = &stats.log[2];
    assert_eq!(last.method, "POST");
    assert_eq!(last.path, format!("/v1/projects/{}/jobs", project()));
    assert_eq!(last.status, Some(400));
    assert_eq!(last.code.as_deref(), Some("FS_0001"));
    env.handle.reset_stats();
    assert_eq!(env.handle.stats().total_requests, 0);
    assert!(env.handle.stats().log.is_empty());
}

#[tokio::test]
async fn http2_clients_are_served_too() {
    let env = Env::start().await;
    let client = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let response = client
        .post(env.url(&format!("/v1/projects/{}/jobs", project())))
        .header("x-api-key", DEMO_API_KEY)
        .json(&image_job("h2"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(Env::default_batch(&env.details().await)["total_jobs"], 1);
}
