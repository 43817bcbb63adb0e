//! Tests of the emulator over real HTTP: every endpoint, rule and fault.
//!
//! Each test starts its own emulator on `127.0.0.1:0` (in memory unless it tests persistence)
//! and talks to it with reqwest, as any client would.

mod admin;
mod attachments;
mod cli;
mod echo;
mod endpoints;
mod faults;
mod inflight;
mod load;
mod oracle;
mod persistence;
mod rebinding;
mod robustness;
mod rules;
mod storage;
mod switches;

use std::time::Duration;

use gtform::emulator::{
    self, DEMO_API_KEY, DEMO_PROJECT_ID, DEMO_WORKFLOW_ID, EmulatorHandle, EmulatorOptions,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A running emulator and a client for it.
pub struct Env {
    pub handle: EmulatorHandle,
    pub client: reqwest::Client,
    pub base: String,
}

pub fn project() -> String {
    DEMO_PROJECT_ID.to_string()
}

pub fn workflow() -> String {
    DEMO_WORKFLOW_ID.to_string()
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

impl Env {
    pub async fn start() -> Env {
        Env::start_with(EmulatorOptions::default()).await
    }

    pub async fn start_with(options: EmulatorOptions) -> Env {
        let handle = emulator::start(options).await.unwrap();
        let base = handle.base_url();
        Env {
            handle,
            client: client(),
            base,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `GET path` with the demo key; returns status and JSON body.
    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        let response = self
            .client
            .get(self.url(path))
            .header("x-api-key", DEMO_API_KEY)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap())
    }

    /// `POST path` with a JSON body and the demo key; returns status and JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        let response = self
            .client
            .post(self.url(path))
            .header("x-api-key", DEMO_API_KEY)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap())
    }

    pub async fn create_batch(&self, name: &str) -> String {
        let (status, body) = self
            .post(
                &format!("/v1/projects/{}/batch", project()),
                &json!({ "name": name }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["data"]["batch_id"].as_str().unwrap().to_owned()
    }

    /// Creates an image job; returns the response body.
    pub async fn create_job(
        &self,
        reference_id: &str,
        batch_id: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut body = image_job(reference_id);
        if let Some(batch_id) = batch_id {
            body["batch_id"] = json!(batch_id);
        }
        self.post(&format!("/v1/projects/{}/jobs", project()), &body)
            .await
    }

    /// Sends an image-job create for `reference_id` with the demo key; `Err` if no answer came.
    pub async fn create_job_raw(&self, reference_id: &str) -> Result<StatusCode, reqwest::Error> {
        self.client
            .post(self.url(&format!("/v1/projects/{}/jobs", project())))
            .header("x-api-key", DEMO_API_KEY)
            .json(&image_job(reference_id))
            .send()
            .await
            .map(|response| response.status())
    }

    /// Creates an image job with `client` on the emulator at `base`; returns the status (for
    /// requests sent from another task).
    pub async fn post_with(client: &reqwest::Client, base: &str, reference_id: &str) -> StatusCode {
        client
            .post(format!("{base}/v1/projects/{}/jobs", project()))
            .header("x-api-key", DEMO_API_KEY)
            .json(&image_job(reference_id))
            .send()
            .await
            .unwrap()
            .status()
    }

    pub async fn details(&self) -> Value {
        let (status, body) = self
            .get(&format!("/v1/projects/{}/details", project()))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["data"].clone()
    }

    /// Every job of a batch, following page tokens.
    pub async fn list_batch(&self, batch_id: &str) -> Vec<Value> {
        let mut jobs = Vec::new();
        let mut token = String::new();
        loop {
            let (status, body) = self
                .get(&format!(
                    "/v1/projects/{}/batch/{batch_id}?page_token={token}",
                    project()
                ))
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            jobs.extend(body["data"]["jobs"].as_array().unwrap().iter().cloned());
            token = body["data"]["next_page_token"].as_str().unwrap().to_owned();
            if token.is_empty() {
                return jobs;
            }
        }
    }

    pub fn default_batch(details: &Value) -> Value {
        details["batches"]
            .as_array()
            .unwrap()
            .iter()
            .find(|batch| batch["is_default"] == json!(true))
            .cloned()
            .unwrap()
    }

    pub fn batch_named(details: &Value, name: &str) -> Value {
        details["batches"]
            .as_array()
            .unwrap()
            .iter()
            .find(|batch| batch["name"] == json!(name))
            .cloned()
            .unwrap_or_else(|| panic!("no batch {name} in {details}"))
    }
}

pub fn image_job(reference_id: &str) -> Value {
    json!({
        "reference_id": reference_id,
        "data": { "image_url": "https://s3.aws.com/600x400/000/fff.jpg" },
        "work_flow_id": workflow(),
    })
}

/// The error code of a failure envelope.
pub fn code(body: &Value) -> &str {
    assert_eq!(body["success"], json!(false), "{body}");
    body["error"]["code"].as_str().unwrap()
}
