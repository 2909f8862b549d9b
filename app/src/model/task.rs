//! Tasks: their ids, what starting one takes, and their progress.

use super::*;

/// A task's id, as in `/api/tasks/{id}/events`: 16 hexadecimal digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(pub u64);

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl FromStr for TaskId {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 16 || !s.chars().all(|c| c.is_ascii_hexdigit()) {
            let shown: String = s.chars().take(40).collect();
            return Err(format!(
                "{shown:?} is not a task id (16 hexadecimal digits, as POST /api/tasks returned)"
            ));
        }
        u64::from_str_radix(s, 16)
            .map(TaskId)
            .map_err(|e| e.to_string())
    }
}

impl Serialize for TaskId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TaskId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// What `POST /api/tasks` accepts (an empty body takes the configured defaults).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskSpec {
    /// How long the simulated task runs, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// In how many steps it reports progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<u32>,
    /// A name to show with its progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// What `POST /api/tasks` answers (202 Accepted).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskCreated {
    pub id: TaskId,
    /// Where its progress streams: `/api/tasks/{id}/events`.
    pub events: String,
}

/// Where a task is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    Running,
    Done,
    /// Stopped before the end (the server shut down).
    Cancelled,
}

impl TaskStatus {
    pub fn is_final(self) -> bool {
        !matches!(self, TaskStatus::Running)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Running => "running",
            TaskStatus::Done => "done",
            TaskStatus::Cancelled => "cancelled",
        }
    }
}

/// One `progress` event of a task; the last one has a final status, then the stream ends.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskProgress {
    pub id: TaskId,
    pub label: String,
    pub step: u32,
    pub steps: u32,
    /// 0 to 100.
    pub percent: f64,
    pub status: TaskStatus,
    pub message: String,
}
