//! The cloud objects a workspace's jobs point at: `s3://bucket/key` and `gs://bucket/key` URLs
//! found anywhere in the jobs' wire payloads, each with the job it came from.
//!
//! A job's attachments are whatever strings its `data` holds, typed forms and raw passthrough
//! alike, so this walks the exact JSON gtform would send rather than the YAML shapes: a URL is
//! found wherever a job type puts it (`image_url`, frame `src`, sensor images…), and a new job type
//! needs no change here.
//!
//! Besides `s3://` URIs, `https` URLs of S3 objects (`https://BUCKET.s3.REGION.amazonaws.com/KEY`
//! and the path-style forms) are reported as S3 objects too: GT Studio reads those with the same
//! cross-account access. Pre-signed URLs (with a signature in the query) are not: they carry their
//! own permission.
//!
//! Pure: no I/O, no environment, nothing printed.

use serde_json::Value;

use crate::config::{Location, Workspace};
use crate::object_url::{ObjectUrl, Scheme, UrlError};

/// One cloud object a job uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub url: ObjectUrl,
    /// The job's location: its `reference_id` in YAML, or its manifest row.
    pub location: Location,
    pub reference_id: String,
}

/// A string in a job's payload that starts like an object URL but is not one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentProblem {
    pub error: UrlError,
    pub location: Location,
    pub reference_id: String,
}

/// Every cloud object the workspace's jobs use, in project, batch and job order.
#[derive(Debug, Clone, Default)]
pub struct WorkspaceAttachments {
    pub objects: Vec<Attachment>,
    pub problems: Vec<AttachmentProblem>,
}

impl WorkspaceAttachments {
    /// The objects of one scheme.
    pub fn of_scheme(&self, scheme: Scheme) -> impl Iterator<Item = &Attachment> {
        self.objects
            .iter()
            .filter(move |attachment| attachment.url.scheme == scheme)
    }
}

/// Walks every job's `data` for `s3://` and `gs://` strings (and unsigned S3 `https` URLs).
pub fn workspace_attachments(workspace: &Workspace) -> WorkspaceAttachments {
    let mut found = WorkspaceAttachments::default();
    for project in workspace.projects.values() {
        for batch in project.batches.values() {
            for job in &batch.jobs {
                let raw = job.request.data.get();
                // Most payloads name no cloud object: skip parsing them.
                if !(raw.contains("s3://")
                    || raw.contains("gs://")
                    || raw.contains("amazonaws.com"))
                {
                    continue;
                }
                let Ok(data) = serde_json::from_str::<Value>(raw) else {
                    continue;
                };
                for text in strings_in(&data) {
                    let url = if text.starts_with("s3://") || text.starts_with("gs://") {
                        ObjectUrl::parse(text)
                    } else if let Some(url) = ObjectUrl::from_s3_https(text) {
                        Ok(url)
                    } else {
                        continue;
                    };
                    match url {
                        Ok(url) => found.objects.push(Attachment {
                            url,
                            location: job.location.clone(),
                            reference_id: job.request.reference_id.clone(),
                        }),
                        Err(error) => found.problems.push(AttachmentProblem {
                            error,
                            location: job.location.clone(),
                            reference_id: job.request.reference_id.clone(),
                        }),
                    }
                }
            }
        }
    }
    found
}

/// Every string value in `value`, depth first, in document order (an explicit stack: payloads
/// can nest deeply).
fn strings_in(value: &Value) -> Vec<&str> {
    let mut strings = Vec::new();
    let mut pending = vec![value];
    while let Some(value) = pending.pop() {
        match value {
            Value::String(text) => strings.push(text.as_str()),
            Value::Array(items) => pending.extend(items.iter().rev()),
            Value::Object(map) => pending.extend(map.values().rev()),
            _ => {}
        }
    }
    strings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_found_at_any_depth_in_document_order() {
        let data: Value = serde_json::json!({
            "a": "s3://b/1",
            "frames": [{"src": "s3://b/2"}, {"src": "gs://g/3", "n": 4}],
            "z": {"deep": [[["s3://b/5"]]]}
        });
        assert_eq!(
            strings_in(&data),
            ["s3://b/1", "s3://b/2", "gs://g/3", "s3://b/5"]
        );
    }

    #[test]
    fn workspace_objects_come_with_their_jobs_locations() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("rows.csv"),
            "id,url\nr1,s3://my-bucket/rows/1.jpg\nr2,https://example.com/2.jpg\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("gtform.yaml"),
            "version: 1\nprojects:\n  p:\n    id: 905ea3ee-6f62-4bb7-8c31-471e486d9202\n    workflows: { w: 2aae1234-acac-4234-aeff-12a22a237bbc }\n    defaults: { workflow: w }\n    batches:\n      b:\n        jobs:\n          - reference_id: inline\n            image: s3://my-bucket/a/1.jpg\n          - reference_id: raw\n            data: { frames: [ { src: \"gs://g-bucket/f.jpg\" }, { src: \"s3://x\" } ] }\n        jobs_from:\n          - csv: rows.csv\n            reference_id: \"{{ row.id }}\"\n            image: \"{{ row.url }}\"\n",
        )
        .unwrap();
        let workspace = crate::config::load(dir.path()).unwrap();

        let found = workspace_attachments(&workspace);

        let objects: Vec<(String, String, u32)> = found
            .objects
            .iter()
            .map(|a| (a.url.to_string(), a.reference_id.clone(), a.location.line))
            .collect();
        assert_eq!(
            objects,
            [
                ("s3://my-bucket/a/1.jpg".to_owned(), "inline".to_owned(), 10),
                ("gs://g-bucket/f.jpg".to_owned(), "raw".to_owned(), 12),
                ("s3://my-bucket/rows/1.jpg".to_owned(), "r1".to_owned(), 2),
            ]
        );
        assert!(found.objects[2].location.file.ends_with("rows.csv"));
        assert_eq!(found.problems.len(), 1);
        assert_eq!(found.problems[0].reference_id, "raw");
        assert!(matches!(
            found.problems[0].error,
            UrlError::InvalidBucket { .. }
        ));
        assert_eq!(found.of_scheme(Scheme::S3).count(), 2);
    }
}
