//! The API endpoints (`gtstudio-api.md` §5 and the path variants of §2) and the signed storage
//! URLs behind the attachments endpoint, grouped by resource, and the one route table that
//! names them.
//!
//! [`table`] lists every route once: method, path pattern, [`RouteClass`] and handler. The axum
//! router and the request classifier (which the server needs *before* routing, to count a
//! request and decide its faults) are both built from it, and the classifier matches paths with
//! `matchit`, the matcher axum itself uses, so the two cannot disagree.
//!
//! Handlers check in the documented order (key, ids, access, body fields), call the store, and
//! answer with the `api` wire types inside the `{success, data}` envelope (plumbing in
//! `super::http`). They never panic on input; faults and counters are the server's business.

mod attachments;
mod batches;
mod jobs;
mod placeholder;
mod projects;
mod storage;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{self, MethodRouter};
use serde::{Deserialize, Serialize};

use super::Shared;
use crate::api;

/// What a request is, for counters, the request log and faults: one name for all path variants
/// of an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteClass {
    /// `POST /v1/projects/{id}/batch` (and `/v1/project/{id}/batch`).
    CreateBatch,
    /// `POST /v1/projects/{id}/jobs` (and `/v0/…`, `/projectsvc/…`).
    CreateJob,
    /// `GET /v1/projects/{id}/details` (and `/v0/…`).
    ProjectDetails,
    /// `GET /v0/projects/{id}/stats`.
    ProjectStats,
    /// `GET /v1/projects/{id}/batch/{batch_id}` (and `/v0/…`).
    BatchJobs,
    /// `GET /v1/projects/{id}/jobs/{job_id}` (and `/v0/…`).
    JobResult,
    /// `GET /v1/attachments?url=`.
    Attachments,
    /// `GET /storage/…`: the signed URLs the attachments endpoint redirects to; and
    /// `GET /placeholder/…`, the placeholder images (a storage host too: no key).
    Storage,
    /// Anything else outside `/_emulator/` (answered 404 or 405).
    Other,
}

impl RouteClass {
    /// Whether faults apply to this class (all API endpoints; not storage).
    pub fn is_api(self) -> bool {
        !matches!(self, RouteClass::Storage)
    }

    /// Whether this class creates something (the target of commit-then-drop).
    pub fn is_create(self) -> bool {
        matches!(self, RouteClass::CreateBatch | RouteClass::CreateJob)
    }
}

/// One row of the route table.
pub(super) struct Route {
    pub method: Method,
    pub path: &'static str,
    pub class: RouteClass,
    handler: MethodRouter<Arc<Shared>>,
}

impl Route {
    fn get<H: Handler<T, Arc<Shared>>, T: 'static>(
        path: &'static str,
        class: RouteClass,
        handler: H,
    ) -> Route {
        Route {
            method: Method::GET,
            path,
            class,
            handler: routing::get(handler),
        }
    }

    fn post<H: Handler<T, Arc<Shared>>, T: 'static>(
        path: &'static str,
        class: RouteClass,
        handler: H,
    ) -> Route {
        Route {
            method: Method::POST,
            path,
            class,
            handler: routing::post(handler),
        }
    }
}

/// Every API route and the storage route.
pub(super) fn table() -> Vec<Route> {
    use RouteClass::*;
    vec![
        Route::post(
            "/v1/projects/{project_id}/batch",
            CreateBatch,
            batches::create,
        ),
        Route::post(
            "/v1/project/{project_id}/batch",
            CreateBatch,
            batches::create,
        ),
        Route::post("/v1/projects/{project_id}/jobs", CreateJob, jobs::create_v1),
        Route::post(
            "/v0/projects/{project_id}/jobs",
            CreateJob,
            jobs::create_legacy,
        ),
        Route::post(
            "/projectsvc/projects/{project_id}/jobs",
            CreateJob,
            jobs::create_legacy,
        ),
        Route::get(
            "/v1/projects/{project_id}/details",
            ProjectDetails,
            projects::details,
        ),
        Route::get(
            "/v0/projects/{project_id}/details",
            ProjectDetails,
            projects::details,
        ),
        Route::get(
            "/v0/projects/{project_id}/stats",
            ProjectStats,
            projects::stats,
        ),
        Route::get(
            "/v1/projects/{project_id}/batch/{batch_id}",
            BatchJobs,
            batches::jobs,
        ),
        Route::get(
            "/v0/projects/{project_id}/batch/{batch_id}",
            BatchJobs,
            batches::jobs,
        ),
        Route::get(
            "/v1/projects/{project_id}/jobs/{job_id}",
            JobResult,
            jobs::result,
        ),
        Route::get(
            "/v0/projects/{project_id}/jobs/{job_id}",
            JobResult,
            jobs::result,
        ),
        Route::get(api::paths::ATTACHMENTS, Attachments, attachments::redirect),
        Route::get(storage::ROUTE, Storage, storage::serve),
        Route::get(placeholder::ROUTE, Storage, placeholder::serve),
    ]
}

/// Names the class of a request from its method and path, by the route table.
pub(super) struct Classifier {
    matcher: matchit::Router<Vec<(Method, RouteClass)>>,
}

impl Classifier {
    /// The class of `method path`; [`RouteClass::Other`] if no route serves it (HEAD counts as
    /// GET, as axum serves it).
    pub(super) fn classify(&self, method: &Method, path: &str) -> RouteClass {
        let Ok(found) = self.matcher.at(path) else {
            return RouteClass::Other;
        };
        found
            .value
            .iter()
            .find(|(route_method, _)| {
                route_method == method || (*route_method == Method::GET && method == Method::HEAD)
            })
            .map_or(RouteClass::Other, |(_, class)| *class)
    }
}

/// The router of the API endpoints and storage URLs (without faults or counters) and the
/// classifier of the same table.
pub(super) fn build() -> (Router<Arc<Shared>>, Classifier) {
    let mut router = Router::new();
    let mut by_path: BTreeMap<&'static str, Vec<(Method, RouteClass)>> = BTreeMap::new();
    for route in table() {
        by_path
            .entry(route.path)
            .or_default()
            .push((route.method, route.class));
        router = router.route(route.path, route.handler);
    }
    let mut matcher = matchit::Router::new();
    for (path, methods) in by_path {
        // The same patterns were accepted by axum just above, which inserts them into the same
        // matcher; a failure here is a bug in the table.
        if let Err(error) = matcher.insert(path, methods) {
            unreachable!("route table: `{path}`: {error}");
        }
    }
    (router, Classifier { matcher })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classifier() -> Classifier {
        build().1
    }

    #[test]
    fn classify_names_every_path_variant() {
        let classifier = classifier();
        let classify = |method: &Method, path: &str| classifier.classify(method, path);
        let post = Method::POST;
        let get = Method::GET;
        assert_eq!(
            classify(&post, "/v1/projects/p/batch"),
            RouteClass::CreateBatch
        );
        assert_eq!(
            classify(&post, "/v1/project/p/batch"),
            RouteClass::CreateBatch
        );
        assert_eq!(
            classify(&post, "/v1/projects/p/jobs"),
            RouteClass::CreateJob
        );
        assert_eq!(
            classify(&post, "/v0/projects/p/jobs"),
            RouteClass::CreateJob
        );
        assert_eq!(
            classify(&post, "/projectsvc/projects/p/jobs"),
            RouteClass::CreateJob
        );
        assert_eq!(
            classify(&get, "/v0/projects/p/details"),
            RouteClass::ProjectDetails
        );
        assert_eq!(
            classify(&get, "/v0/projects/p/stats"),
            RouteClass::ProjectStats
        );
        assert_eq!(
            classify(&get, "/v1/projects/p/batch/b"),
            RouteClass::BatchJobs
        );
        assert_eq!(
            classify(&get, "/v1/projects/p/jobs/j"),
            RouteClass::JobResult
        );
        assert_eq!(
            classify(&Method::HEAD, "/v1/projects/p/jobs/j"),
            RouteClass::JobResult
        );
        assert_eq!(classify(&get, "/v1/attachments"), RouteClass::Attachments);
        assert_eq!(classify(&get, "/storage/pr/x"), RouteClass::Storage);
        assert_eq!(classify(&get, "/v1/projects/p/jobs"), RouteClass::Other);
        assert_eq!(classify(&post, "/nope"), RouteClass::Other);
    }

    #[test]
    fn every_row_of_the_table_classifies_as_itself() {
        let classifier = classifier();
        for route in table() {
            let path = route
                .path
                .split('/')
                .map(|segment| {
                    if segment.starts_with('{') {
                        "x"
                    } else {
                        segment
                    }
                })
                .collect::<Vec<_>>()
                .join("/");
            assert_eq!(
                classifier.classify(&route.method, &path),
                route.class,
                "{} {}",
                route.method,
                route.path
            );
        }
    }
}
