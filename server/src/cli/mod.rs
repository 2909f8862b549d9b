//! The clients the `livechart` binary carries besides the server: `livechart publish`, which
//! feeds a stream from standard input, and `livechart load`, the benchmarks' load generator.
//! They talk to a server over HTTP like any other client, so they live here, in the binary,
//! and not in the server library.

pub mod load;
pub mod publish;
