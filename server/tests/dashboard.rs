//! Several streams over one connection, stream descriptions, and the built-in sources, against
//! the real server.

mod common;

use app::model::{ErrorBody, EventId, Point, Positions, Snapshot, StreamInfo, StreamName, Tagged};
use common::{publish, wait_for_health, EventReader, TestServer};
use livechart_server::sse::SseEvent;
use std::collections::BTreeMap;
use std::time::Duration;

const PATIENCE: Duration = Duration::from_secs(10);

/// What a client of `/api/events` keeps: each stream's position and the values it got.
#[derive(Default)]
struct Follower {
    positions: BTreeMap<String, EventId>,
    values: BTreeMap<String, Vec<f64>>,
    catalogs: Vec<Vec<StreamInfo>>,
}

impl Follower {
    /// Applies one event; refuses ids that do not follow on.
    fn apply(&mut self, e: &SseEvent) {
        match e.event.as_str() {
            "streams" => self
                .catalogs
                .push(serde_json::from_str(&e.data).expect("catalog")),
            "snapshot" => {
                let t: Tagged<Snapshot> = serde_json::from_str(&e.data).expect("tagged snapshot");
                let id = t.id.expect("a snapshot has an id");
                let values = t.data.points.iter().map(|p| p.value).collect();
                self.values.insert(t.stream.to_string(), values);
                self.positions.insert(t.stream.to_string(), id);
            }
            "points" => {
                let t: Tagged<Vec<Point>> = serde_json::from_str(&e.data).expect("tagged points");
                let id = t.id.expect("points have an id");
                let stream = t.stream.to_string();
                if let Some(last) = self.positions.get(&stream) {
                    assert_eq!(id.seq, last.seq + 1, "{stream}: a gap or a duplicate");
                }
                self.positions.insert(stream.clone(), id);
                let values = self.values.entry(stream).or_default();
                values.extend(t.data.iter().map(|p| p.value));
            }
            other => panic!("unexpected event {other}: {e:?}"),
        }
    }

    fn resume_header(&self) -> String {
        Positions(
            self.positions
                .iter()
                .map(|(s, id)| (StreamName::parse(s).unwrap(), *id))
                .collect(),
        )
        .to_string()
    }
}

async fn read_until(reader: &mut EventReader, f: &mut Follower, done: impl Fn(&Follower) -> bool) {
    while !done(f) {
        let e = reader.next_event(PATIENCE).await;
        f.apply(&e);
    }
}

#[tokio::test]
async fn many_streams_share_one_connection_and_resume_without_gaps() {
    let server = TestServer::start(&[("LIVECHART_DEMO_INTERVAL_MS", "50")]);
    publish(&server, "a", r#"{"value": 1}"#).await;
    publish(&server, "b", r#"{"value": 10}"#).await;
    let url = server.url("/api/events?streams=a,b,demo");
    let mut reader = EventReader::open(&url).await;
    assert_eq!(reader.response_headers["content-type"], "text/event-stream");
    let mut f = Follower::default();
    read_until(&mut reader, &mut f, |f| f.positions.len() == 3).await;
    let names: Vec<String> = f.catalogs[0].iter().map(|s| s.name.to_string()).collect();
    assert_eq!(names, ["a", "b", "demo"], "the catalog comes first");
    assert_eq!(
        (f.values["a"].clone(), f.values["b"].clone()),
        (vec![1.0], vec![10.0])
    );

    // One connection, three streams watched.
    let health = wait_for_health(&server, PATIENCE, |h| h.connections == 1).await;
    assert!(health.streams.iter().all(|s| s.viewers == 1), "{health:?}");

    publish(&server, "a", r#"[{"value": 2}, {"value": 3}]"#).await;
    publish(&server, "b", r#"{"value": 11}"#).await;
    read_until(&mut reader, &mut f, |f| {
        f.values["a"].len() == 3 && f.values["b"].len() == 2
    })
    .await;
    // The browser's view: after a batch, the connection's id lists every stream's position.
    let e = reader.next_event(PATIENCE).await;
    let id: Positions = e.id.clone().expect("an id").parse().expect("positions");
    assert_eq!(id.0.len(), 3, "{id:?}");
    f.apply(&e);
    drop(reader);

    // Gone for a while; a and b move on, the demo runs at 20 Hz.
    publish(&server, "a", r#"{"value": 4}"#).await;
    publish(&server, "b", r#"{"value": 12}"#).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let demo_seen = f.values["demo"].len();
    let mut reader = EventReader::open_with(&url, &[("last-event-id", &f.resume_header())]).await;
    // No snapshot this time: exactly what was missed, each id following on (apply checks).
    read_until(&mut reader, &mut f, |f| {
        f.values["a"].len() == 4
            && f.values["b"].len() == 3
            && f.values["demo"].len() > demo_seen + 4
    })
    .await;
    assert_eq!(f.values["a"], [1.0, 2.0, 3.0, 4.0]);
    assert_eq!(f.values["b"], [10.0, 11.0, 12.0]);
}

#[tokio::test]
async fn new_streams_series_and_descriptions_reach_open_connections() {
    let server = TestServer::start(&[]);
    // Robot does not exist yet: the connection follows it once it does.
    let mut reader = EventReader::open(&server.url("/api/events?streams=robot")).await;
    let mut f = Follower::default();
    read_until(&mut reader, &mut f, |f| !f.catalogs.is_empty()).await;
    assert_eq!(f.catalogs[0].len(), 1, "only the demo so far");

    let client = reqwest::Client::new();
    let put = client
        .put(server.url("/api/streams/robot"))
        .header("content-type", "application/json")
        .body(r#"{"title": "Robot arm", "unit": "°C", "min": 0, "max": 80}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    let info: StreamInfo = put.json().await.unwrap();
    assert_eq!(
        (info.title(), info.meta.range()),
        ("Robot arm".to_owned(), Some((0.0, 80.0)))
    );
    read_until(&mut reader, &mut f, |f| {
        f.catalogs
            .last()
            .is_some_and(|c| c.iter().any(|s| s.name.as_str() == "robot"))
    })
    .await;
    read_until(&mut reader, &mut f, |f| f.positions.contains_key("robot")).await;
    assert!(f.values["robot"].is_empty(), "a new stream starts empty");
    publish(&server, "robot", r#"[{"series": "temp", "value": 21}]"#).await;
    read_until(&mut reader, &mut f, |f| {
        f.catalogs.last().is_some_and(|c| {
            c.iter()
                .any(|s| s.name.as_str() == "robot" && s.series.len() == 1)
        })
    })
    .await;
    let listed = catalog(&server).await;
    read_until(&mut reader, &mut f, |f| f.values["robot"].len() == 1).await;
    assert_eq!(f.values["robot"], [21.0]);
    let robot = listed.iter().find(|s| s.name.as_str() == "robot").unwrap();
    assert_eq!(robot.meta.unit.as_deref(), Some("°C"));
    assert_eq!(robot.series[0].as_str(), "temp");
}

#[tokio::test]
async fn bad_requests_say_what_and_where() {
    let server = TestServer::start(&[
        ("LIVECHART_LIMITS_MAX_STREAMS_PER_CONNECTION", "2"),
        ("LIVECHART_AUTH_PUBLISH_TOKEN", "publish-token-0123456789"),
    ]);
    publish_with_token(&server, "a").await;
    publish_with_token(&server, "b").await;
    let client = reqwest::Client::new();
    /// Path, extra header, status, error kind, something the detail says.
    type Case<'a> = (&'a str, Option<(&'a str, &'a str)>, u16, &'a str, &'a str);
    let cases: &[Case] = &[
        (
            "/api/events?streams=a,a",
            None,
            400,
            "invalid_streams",
            "listed twice",
        ),
        (
            "/api/events?streams=a,b%2Fc",
            None,
            400,
            "invalid_streams",
            "item 2",
        ),
        (
            "/api/events?streams=a,b,demo",
            None,
            400,
            "invalid_streams",
            "at most 2",
        ),
        (
            "/api/events?streams=a&last_event_id=a:zz",
            None,
            400,
            "invalid_last_event_id",
            "last_event_id",
        ),
        (
            "/api/events?streams=a",
            Some(("last-event-id", "a")),
            400,
            "invalid_last_event_id",
            "Last-Event-ID",
        ),
    ];
    for (path, header, status, kind, says) in cases {
        let mut request = client.get(server.url(path));
        if let Some((k, v)) = header {
            request = request.header(*k, *v);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), *status, "{path}");
        let body: ErrorBody = response.json().await.unwrap();
        assert_eq!(body.error, *kind, "{path}: {body:?}");
        assert!(body.detail.contains(says), "{path}: {body:?}");
    }

    let put = |body: &'static str, ct: &'static str, token: Option<&'static str>| {
        let mut r = client
            .put(server.url("/api/streams/a"))
            .header("content-type", ct)
            .body(body);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send()
    };
    let token = Some("publish-token-0123456789");
    for (body, ct, token, status, kind, says) in [
        (
            r#"{"unit": "%"}"#,
            "application/json",
            None,
            401,
            "unauthorized",
            "token",
        ),
        (
            r#"{"min": 5, "max": 1}"#,
            "application/json",
            token,
            400,
            "invalid_meta",
            "below",
        ),
        (
            r#"{"colour": "red"}"#,
            "application/json",
            token,
            400,
            "invalid_json",
            "colour",
        ),
        (
            r#"{"unit": "%"}"#,
            "text/plain",
            token,
            415,
            "unsupported_media_type",
            "application/json",
        ),
    ] {
        let response = put(body, ct, token).await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{body}");
        let err: ErrorBody = response.json().await.unwrap();
        assert_eq!(err.error, kind, "{body}: {err:?}");
        assert!(err.detail.contains(says), "{body}: {err:?}");
    }
    // Nothing refused changed the description.
    let listed = catalog(&server).await;
    assert!(
        listed
            .iter()
            .filter(|s| s.name.as_str() != "demo")
            .all(|s| s.meta == Default::default()),
        "{listed:?}"
    );
}

/// `GET /api/streams`.
async fn catalog(server: &TestServer) -> Vec<StreamInfo> {
    reqwest::get(server.url("/api/streams"))
        .await
        .expect("GET /api/streams")
        .json()
        .await
        .expect("the catalog is JSON")
}

async fn publish_with_token(server: &TestServer, stream: &str) {
    let (status, answer) = common::publish_raw(
        server,
        stream,
        Some("application/json"),
        r#"{"value": 1}"#,
        Some("publish-token-0123456789"),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
}

#[tokio::test]
async fn the_system_source_publishes_plausible_cpu_and_memory() {
    let server = TestServer::start(&[
        ("LIVECHART_SYSTEM_ENABLED", "true"),
        ("LIVECHART_SYSTEM_INTERVAL_MS", "200"),
    ]);
    let mut reader = EventReader::open(&server.url("/api/streams/system/events")).await;
    let first = reader.next_event(PATIENCE).await;
    assert_eq!(first.event, "snapshot");
    let e = reader.next_event(PATIENCE).await;
    let batch = common::points(&e);
    let value = |name: &str| {
        batch
            .iter()
            .find(|p| p.series.as_str() == name)
            .map(|p| p.value)
    };
    let (cpu, mem) = (value("cpu").expect("cpu"), value("mem").expect("mem"));
    assert!((0.0..=100.0).contains(&cpu), "cpu {cpu}");
    assert!(mem > 0.0 && mem <= 100.0, "mem {mem}");
    assert!(value("cpu0").is_some(), "per-core series: {batch:?}");
    let listed = catalog(&server).await;
    let system = listed.iter().find(|s| s.name.as_str() == "system").unwrap();
    assert_eq!(
        (system.meta.unit.as_deref(), system.meta.range()),
        (Some("%"), Some((0.0, 100.0)))
    );
}

#[tokio::test]
async fn the_about_pages_examples_use_the_address_it_was_asked_for() {
    let server = TestServer::start(&[]);
    let client = reqwest::Client::new();
    let about = |host: &'static str, proto: Option<&'static str>| {
        let mut request = client.get(server.url("/about")).header("host", host);
        if let Some(p) = proto {
            request = request.header("x-forwarded-proto", p);
        }
        async move {
            request
                .send()
                .await
                .expect("GET /about")
                .text()
                .await
                .expect("the page")
        }
    };
    let page = about("charts.example:8080", None).await;
    assert!(page.contains("curl -N http://charts.example:8080/api/streams/robot/events"));
    assert!(!page.contains("127.0.0.1:3000"));
    let page = about("charts.example", Some("https")).await;
    assert!(page.contains("curl -N https://charts.example/api/streams/robot/events"));
    // A name that is not a plain host gives the default address, never itself.
    let page = about("a<b>", None).await;
    assert!(
        page.contains("http://127.0.0.1:3000/api/streams/robot/events") && !page.contains("a<b>")
    );
}
