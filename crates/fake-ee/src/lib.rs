//! A strict fake of Earth Engine's batch REST API (exports and long-running operations) on 127.0.0.1,
//! for geepipe's tests and benchmarks.
//!
//! What it enforces, as Earth Engine would: bearer authentication, `X-Goog-User-Project` matching the
//! path's project, every request body checked field by field against the reference contract
//! ([`ee_contract`]: unknown fields, enums, wrapped numbers, algorithms and argument names …) with a 400
//! INVALID_ARGUMENT listing the violations, the 10 MiB payload limit, unknown query parameters, the
//! per-project queue limit (3,000 PENDING, other users' tasks included) and concurrency (2 RUNNING),
//! queue order (priority, then submission), and `requestId` deduplication (the same id returns the
//! same operation).
//!
//! It computes, never echoes: every expression is evaluated ([`eval`]) with Earth Engine's documented
//! semantics on a deterministic synthetic world ([`world`]). Succeeded table exports write the
//! evaluated features' selected properties as CSV/GeoJSON into a Cloud Storage emulator; an expression
//! that does not evaluate (an algorithm the fake does not implement, a missing band, a reducer whose
//! inputs do not match …) fails its task with INVALID_ARGUMENT. `table:computeFeatures` and
//! `value:compute` answer synchronously, within a concurrency limit and a time limit.
//!
//! Faults are injected through [`Config::faults`] or at run time with `handle.faults().push(…)`:
//! [`RequestFault`] (429 with Retry-After, 5xx, dropped connections, delays, lost responses) and
//! [`TaskRule`] (tasks ending FAILED with Earth Engine's messages, e.g. only chunks with more than K sites)
//! and [`AnswerFault`] (an evaluated `table:computeFeatures` answer with a feature left out or a value
//! garbled).
//!
//! ```no_run
//! # async fn demo() {
//! use fake_ee::{Config, FakeEe, RequestFault, TaskRule};
//! let ee = FakeEe::start(Config::manual(std::time::Duration::from_secs(30))).await.unwrap();
//! ee.faults().push(RequestFault::lose_response(1));
//! ee.faults().push(TaskRule::memory_limit_above(50));
//! let url = ee.base_url(); // http://127.0.0.1:PORT — POST {url}/v1/projects/p/table:export
//! ee.advance(std::time::Duration::from_secs(60));
//! assert_eq!(ee.counters().max_running, 0);
//! # }
//! ```

pub mod config;
pub mod eval;
pub mod expr;
pub mod files;
pub mod gcs_emulator;
pub mod http1;
mod server;
pub mod sim;
pub mod world;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ee_contract::Contract;

pub use config::{
    default_reference_dir, AnswerFault, Clock, Config, Durations, ExportKind, Failure, Fault, FaultAction,
    RequestFault, Route, RouteMatch, TaskInfo, TaskMatch, TaskRule, UserProject,
};
pub use files::OutputFile;
pub use sim::{Counters, OpState, OpView, Rejection, Submission};

use server::Shared;

/// A running fake Earth Engine. Dropping it stops the server.
pub struct FakeEe {
    shared: Arc<Shared>,
    addr: SocketAddr,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Runtime control of faults.
pub struct Faults<'a> {
    shared: &'a Shared,
}

impl Faults<'_> {
    /// Adds a request fault or a task rule (they apply in the order pushed).
    pub fn push(&self, fault: impl Into<Fault>) {
        self.shared.lock().push_fault(fault.into());
    }

    /// Removes every fault and rule.
    pub fn clear(&self) {
        let mut st = self.shared.lock();
        st.request_faults.clear();
        st.answer_faults.clear();
        st.task_rules.clear();
    }

    /// Request faults that have not fired all their times yet.
    pub fn remaining(&self) -> Vec<RequestFault> {
        self.shared.lock().request_faults.clone()
    }
}

impl FakeEe {
    /// Starts on the current tokio runtime (multi-thread runtime needed for uploads to Cloud Storage).
    pub async fn start(config: Config) -> Result<FakeEe, String> {
        let (shared, listener) = prepare(config).await?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        tokio::spawn(server::serve(listener, shared.clone()));
        Ok(FakeEe { shared, addr, thread: None })
    }

    /// Starts on its own thread with its own runtime: for blocking tests and from outside any runtime.
    pub fn start_blocking(config: Config) -> Result<FakeEe, String> {
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("fake-ee".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = tx.send(Err(e.to_string()));
                        return;
                    }
                };
                rt.block_on(async move {
                    match prepare(config).await {
                        Ok((shared, listener)) => {
                            let addr = listener.local_addr().map_err(|e| e.to_string());
                            let _ = tx.send(addr.map(|a| (shared.clone(), a)));
                            server::serve(listener, shared).await;
                        }
                        Err(e) => {
                            let _ = tx.send(Err(e));
                        }
                    }
                });
            })
            .map_err(|e| e.to_string())?;
        let (shared, addr) = rx.recv().map_err(|e| e.to_string())??;
        Ok(FakeEe { shared, addr, thread: Some(thread) })
    }

    /// `http://127.0.0.1:PORT` (no trailing slash); Earth Engine paths start with `/v1/`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Fault control: `ee.faults().push(RequestFault::too_many_requests(3, 1))`.
    pub fn faults(&self) -> Faults<'_> {
        Faults { shared: &self.shared }
    }

    /// A snapshot of the counters (the simulation is first brought up to date).
    pub fn counters(&self) -> Counters {
        self.shared.tick_blocking();
        self.shared.lock().counters.clone()
    }

    /// All operations (foreign ones included), oldest first.
    pub fn operations(&self) -> Vec<OpView> {
        self.shared.tick_blocking();
        self.shared.lock().views()
    }

    /// One operation as the API would return it.
    pub fn operation_json(&self, name: &str) -> Option<serde_json::Value> {
        self.shared.tick_blocking();
        let st = self.shared.lock();
        st.find(name).map(|s| st.render(s))
    }

    /// Every export request received, in order.
    pub fn submissions(&self) -> Vec<Submission> {
        self.shared.lock().submissions.clone()
    }

    /// Every `table:computeFeatures` request answered with features (one per page), its body as received,
    /// in order: what interactive clients really had computed.
    pub fn computed(&self) -> Vec<serde_json::Value> {
        self.shared.lock().computed.clone()
    }

    /// Every file succeeded exports produced (also kept when no storage is configured).
    pub fn files(&self) -> Vec<OutputFile> {
        self.shared.tick_blocking();
        self.shared.lock().files.clone()
    }

    /// Moves virtual time forward and runs everything due, uploads included (blocking). The way to
    /// drive a [`Clock::Manual`] fake; with a scaled clock it jumps ahead.
    pub fn advance(&self, by: Duration) {
        self.shared.lock().add_offset(by);
        self.shared.tick_blocking();
    }

    /// Current virtual time since start.
    pub fn now(&self) -> Duration {
        self.shared.lock().now()
    }

    /// Changes the number of concurrently running tasks per project.
    pub fn set_max_running(&self, n: usize) {
        self.shared.lock().config.max_running = n;
    }

    /// Changes the storage base URL (e.g. after starting an emulator).
    pub fn set_storage_base_url(&self, url: Option<String>) {
        self.shared.lock().config.storage_base_url = url;
    }

    /// Stops the server.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let _ = self.shared.shutdown.send(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for FakeEe {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn prepare(config: Config) -> Result<(Arc<Shared>, tokio::net::TcpListener), String> {
    let dir = config.resolved_reference_dir()?;
    let contract = Contract::from_dir(&dir)?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", config.port)).await.map_err(|e| e.to_string())?;
    let (shutdown, _) = tokio::sync::watch::channel(false);
    let shared = Arc::new(Shared {
        state: Mutex::new(sim::State::new(config)),
        contract,
        shutdown,
        computing: Default::default(),
    });
    Ok((shared, listener))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_handle_can_be_shared_between_threads() {
        fn shared<T: Send + Sync>() {}
        shared::<super::FakeEe>();
        shared::<super::Config>();
    }
}
