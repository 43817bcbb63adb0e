//! The CI values a comment's header is made of: what is accepted, and what a hostile value gets.

use super::*;

fn github<'a>(server: &'a str, repository: &'a str, run_id: &'a str) -> GithubRun<'a> {
    GithubRun {
        server_url: Some(server),
        repository: Some(repository),
        run_id: Some(run_id),
        run_attempt: None,
    }
}

#[test]
fn a_commit_is_40_or_64_hex_digits() {
    let sha1 = "0123456789ABCDEF0123456789abcdef01234567";
    let commit = CommitId::parse(sha1).unwrap();
    assert_eq!(commit.as_str(), sha1.to_ascii_lowercase());
    assert_eq!(commit.short(), "0123456789ab");
    assert!(CommitId::parse(&"a".repeat(64)).is_some());
    for hostile in [
        "",
        "HEAD",
        "0123456789abcdef",
        "0123456789abcdef0123456789abcdef0123456g",
        "0123456789abcdef0123456789abcdef01234567\n[x](https://evil.example)",
        "`0123456789abcdef0123456789abcdef01234567`",
    ] {
        assert_eq!(CommitId::parse(hostile), None, "{hostile:?}");
    }
}

#[test]
fn a_github_run_links_to_its_own_server() {
    let link = github("https://github.com", "acme/labels", "123456")
        .link()
        .unwrap()
        .unwrap();
    assert_eq!(
        link.url,
        "https://github.com/acme/labels/actions/runs/123456"
    );
    assert_eq!(link.label, "GitHub Actions run 123456");
    let enterprise = GithubRun {
        run_attempt: Some("3"),
        ..github("https://ghe.example.com/", "acme/labels", "7")
    };
    assert_eq!(
        enterprise.link().unwrap().unwrap().url,
        "https://ghe.example.com/acme/labels/actions/runs/7/attempts/3"
    );
    assert_eq!(GithubRun::default().link(), Ok(None));
}

#[test]
fn hostile_github_values_are_refused() {
    let cases = [
        (
            github("http://github.com", "acme/labels", "1"),
            "GITHUB_SERVER_URL",
        ),
        (
            github("javascript:alert(1)", "acme/labels", "1"),
            "GITHUB_SERVER_URL",
        ),
        (
            github("https://user:pw@github.com", "acme/labels", "1"),
            "GITHUB_SERVER_URL",
        ),
        (
            github("https://github.com/x?y=1", "acme/labels", "1"),
            "GITHUB_SERVER_URL",
        ),
        (
            github("https://github.com:8443", "acme/labels", "1"),
            "GITHUB_SERVER_URL",
        ),
        (
            github("https://127.0.0.1", "acme/labels", "1"),
            "GITHUB_SERVER_URL",
        ),
        (
            github("https://github.com", "acme/labels)](https://evil", "1"),
            "GITHUB_REPOSITORY",
        ),
        (
            github("https://github.com", "../../evil", "1"),
            "GITHUB_REPOSITORY",
        ),
        (
            github("https://github.com", "acme/labels/extra", "1"),
            "GITHUB_REPOSITORY",
        ),
        (
            github("https://github.com", "acme/labels", "12a"),
            "GITHUB_RUN_ID",
        ),
        (
            github("https://github.com", "acme/labels", "1 "),
            "GITHUB_RUN_ID",
        ),
        (
            GithubRun {
                run_attempt: Some("-1"),
                ..github("https://github.com", "acme/labels", "1")
            },
            "GITHUB_RUN_ATTEMPT",
        ),
    ];
    for (run, variable) in cases {
        let refused = run.link().expect_err(&format!("{run:?}"));
        assert_eq!(refused.variable, variable, "{run:?}");
    }
}

#[test]
fn a_gitlab_job_url_must_be_a_job_page_of_the_server() {
    let run = GitlabRun {
        server_url: Some("https://gitlab.example.com"),
        job_url: Some("https://gitlab.example.com/group/sub/labels/-/jobs/991"),
        pipeline_url: Some("https://gitlab.example.com/group/sub/labels/-/pipelines/17"),
    };
    let link = run.link().unwrap().unwrap();
    assert_eq!(
        link.url,
        "https://gitlab.example.com/group/sub/labels/-/jobs/991"
    );
    assert_eq!(link.label, "GitLab job 991");
    let pipeline = GitlabRun {
        job_url: None,
        ..run
    };
    assert_eq!(
        pipeline.link().unwrap().unwrap().label,
        "GitLab pipeline 17"
    );
    for hostile in [
        "https://evil.example/group/labels/-/jobs/991",
        "https://gitlab.example.com.evil.example/group/labels/-/jobs/991",
        "https://gitlab.example.com/group/labels/-/jobs/991?x=1",
        "https://gitlab.example.com/group/labels/-/jobs/991)](https://evil.example",
        "https://gitlab.example.com/group/../labels/-/jobs/991",
        "https://gitlab.example.com/group/labels/-/issues/991",
    ] {
        let run = GitlabRun {
            job_url: Some(hostile),
            ..run
        };
        assert_eq!(
            run.link().expect_err(hostile).variable,
            "CI_JOB_URL",
            "{hostile}"
        );
    }
    let no_server = GitlabRun {
        server_url: None,
        ..run
    };
    assert_eq!(no_server.link(), Ok(None));
}

#[test]
fn every_accepted_link_holds_only_plain_url_characters() {
    let links = [
        github("https://GitHub.com", "a-b/c.d_e", "42").link(),
        GitlabRun {
            server_url: Some("https://gitlab.example.com/gitlab"),
            job_url: Some("https://gitlab.example.com/gitlab/g/p/-/jobs/5"),
            pipeline_url: None,
        }
        .link(),
    ];
    for link in links {
        let link = link.unwrap().unwrap();
        assert!(
            link.url
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._~/:-".contains(&b)),
            "{}",
            link.url
        );
        assert!(link.url.starts_with("https://"));
    }
}
