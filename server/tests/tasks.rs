//! The task lifecycle against the real server: start, progress, finish, clean-up, limits.

mod common;

use app::model::{ErrorBody, TaskCreated, TaskProgress, TaskStatus};
use common::{wait_for_health, EventReader, TestServer};
use std::time::Duration;

const PATIENCE: Duration = Duration::from_secs(10);

async fn start(server: &TestServer, body: &str) -> reqwest::Response {
    let mut r = reqwest::Client::new().post(server.url("/api/tasks"));
    if !body.is_empty() {
        r = r
            .header("content-type", "application/json")
            .body(body.to_owned());
    }
    r.send().await.expect("POST /api/tasks")
}

async fn started(server: &TestServer, body: &str) -> TaskCreated {
    let response = start(server, body).await;
    assert_eq!(response.status(), 202, "{body}");
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let created: TaskCreated = response.json().await.unwrap();
    assert_eq!(location, created.events);
    created
}

/// Reads a task's progress to the end of its stream.
async fn follow(server: &TestServer, task: &TaskCreated) -> Vec<TaskProgress> {
    let mut reader = EventReader::open(&server.url(&task.events)).await;
    let mut seen = Vec::new();
    while let Some(item) = reader.next_item(PATIENCE).await {
        if let livechart_server::sse::SseItem::Event(e) = item {
            assert_eq!(e.event, "progress");
            let p: TaskProgress = serde_json::from_str(&e.data).unwrap();
            assert_eq!(e.id.as_deref(), Some(p.step.to_string().as_str()));
            seen.push(p);
        }
    }
    seen
}

async fn status_of(server: &TestServer, path: &str) -> (u16, Option<ErrorBody>) {
    let response = reqwest::get(server.url(path)).await.unwrap();
    let status = response.status().as_u16();
    let body = if status == 200 {
        None
    } else {
        response.json().await.ok()
    };
    (status, body)
}

#[tokio::test]
async fn tasks_progress_independently_finish_and_are_freed() {
    let server = TestServer::start(&[]);
    let specs = [
        r#"{"duration_ms": 900, "steps": 3, "label": "slow"}"#,
        r#"{"duration_ms": 300, "steps": 6}"#,
        "",
    ];
    let mut tasks = Vec::new();
    for spec in specs {
        tasks.push(started(&server, spec).await);
    }
    let ids: std::collections::BTreeSet<_> = tasks.iter().map(|t| t.id).collect();
    assert_eq!(ids.len(), 3, "distinct ids");
    let (slow, fast) = tokio::join!(follow(&server, &tasks[0]), follow(&server, &tasks[1]));
    for (seen, steps, label) in [(&slow, 3, "slow"), (&fast, 6, "Task 2")] {
        let last = seen.last().expect("some progress");
        assert_eq!((last.step, last.steps, last.percent), (steps, steps, 100.0));
        assert_eq!(last.status, TaskStatus::Done);
        assert!(last.message.starts_with("Done in"), "{last:?}");
        assert_eq!(last.label, label);
        assert!(seen.windows(2).all(|w| w[0].step < w[1].step), "{seen:?}");
        assert!(seen[..seen.len() - 1]
            .iter()
            .all(|p| p.status == TaskStatus::Running));
    }
    // The default task (10 s) is still running: its stream says so.
    let mut reader = EventReader::open(&server.url(&tasks[2].events)).await;
    let e = reader.next_event(PATIENCE).await;
    let p: TaskProgress = serde_json::from_str(&e.data).unwrap();
    assert_eq!((p.status, p.steps), (TaskStatus::Running, 20));
    drop(reader);

    // Finished and nobody watching: forgotten.
    for task in &tasks[..2] {
        let (status, body) = status_of(&server, &task.events).await;
        assert_eq!(status, 404, "{task:?}");
        assert_eq!(body.unwrap().error, "unknown_task");
    }
    wait_for_health(&server, PATIENCE, |h| h.connections == 0).await;
    let metrics = common::metrics_text(&server).await;
    for line in [
        "livechart_tasks_started_total 3",
        "livechart_tasks_running 1",
        "livechart_tasks_held 1",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in\n{metrics}");
    }
}

#[tokio::test]
async fn an_unwatched_task_lingers_then_goes() {
    let server = TestServer::start(&[("LIVECHART_TASKS_LINGER_MS", "1500")]);
    let late = started(&server, r#"{"duration_ms": 200, "steps": 2}"#).await;
    let never = started(&server, r#"{"duration_ms": 200, "steps": 2}"#).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    // A late viewer still gets the final state, then the stream ends.
    let seen = follow(&server, &late).await;
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].status, TaskStatus::Done);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(status_of(&server, &never.events).await.0, 404);
}

#[tokio::test]
async fn bad_task_requests_and_limits() {
    let server = TestServer::start(&[
        ("LIVECHART_TASKS_MAX_RUNNING", "2"),
        ("LIVECHART_TASKS_BURST", "3"),
        ("LIVECHART_TASKS_PER_MINUTE", "1"),
    ]);
    for (body, kind, says) in [
        (r#"{"steps": 0}"#, "invalid_task", "\"steps\""),
        (r#"{"duration_ms": 5}"#, "invalid_task", "\"duration_ms\""),
        (r#"{"duration_ms": "soon"}"#, "invalid_json", "duration_ms"),
        (
            r#"{"label": "x", "priority": 1}"#,
            "invalid_json",
            "priority",
        ),
    ] {
        let response = start(&server, body).await;
        assert_eq!(response.status(), 400, "{body}");
        let err: ErrorBody = response.json().await.unwrap();
        assert_eq!(err.error, kind, "{body}: {err:?}");
        assert!(err.detail.contains(says), "{body}: {err:?}");
    }
    for (path, status, kind) in [
        ("/api/tasks/123/events", 400, "invalid_task_id"),
        ("/api/tasks/00000000000000ff/events", 404, "unknown_task"),
    ] {
        let (got, body) = status_of(&server, path).await;
        assert_eq!(
            (got, body.unwrap().error.as_str()),
            (status, kind),
            "{path}"
        );
    }

    started(&server, r#"{"duration_ms": 400}"#).await;
    started(&server, r#"{"duration_ms": 400}"#).await;
    let busy = start(&server, "").await;
    assert_eq!(busy.status(), 429);
    assert!(busy.headers().contains_key("retry-after"));
    let err: ErrorBody = busy.json().await.unwrap();
    assert_eq!(err.error, "too_many_tasks", "{err:?}");

    tokio::time::sleep(Duration::from_millis(700)).await;
    started(&server, r#"{"duration_ms": 400}"#).await;
    let limited = start(&server, r#"{"duration_ms": 400}"#).await;
    assert_eq!(limited.status(), 429);
    let retry: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    let err: ErrorBody = limited.json().await.unwrap();
    assert_eq!(err.error, "rate_limited", "{err:?}");
    assert!(err.detail.contains("1 per minute"), "{err:?}");
}
