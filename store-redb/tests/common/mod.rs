//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::fs::OpenOptions;
use std::io::{self, ErrorKind};
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use redb::backends::FileBackend;
use redb::{BackendError, StorageBackend};

/// A deterministic byte pattern, different for each seed.
pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..len).map(|_| rng.u8(..)).collect()
}

#[allow(unused_imports)]
pub use wa_core::testing::patterned_device as device;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gate {
    Open,
    /// The next `sync_data` waits for `release`.
    HoldNext,
    /// A `sync_data` is waiting.
    Holding,
    Released,
}

/// What a [`TestBackend`] counts, and the faults it injects.
#[derive(Debug)]
pub struct Plan {
    /// Counting and faults apply only while armed.
    pub armed: AtomicBool,
    /// `write` calls seen while armed.
    pub writes: AtomicU64,
    /// `sync_data` calls seen while armed.
    pub syncs: AtomicU64,
    /// Fail the N-th armed write (1-based); 0 = never.
    pub fail_write_at: AtomicU64,
    /// Fail the N-th armed sync (1-based); 0 = never.
    pub fail_sync_at: AtomicU64,
    /// After the first injected fault, fail every write, sync and resize
    /// (a full disk stays full).
    pub sticky: AtomicBool,
    /// Injected faults so far.
    pub fired: AtomicU64,
    kind: Mutex<ErrorKind>,
    gate: Mutex<Gate>,
    gate_cv: Condvar,
}

impl Default for Plan {
    fn default() -> Self {
        Self {
            armed: AtomicBool::new(false),
            writes: AtomicU64::new(0),
            syncs: AtomicU64::new(0),
            fail_write_at: AtomicU64::new(0),
            fail_sync_at: AtomicU64::new(0),
            sticky: AtomicBool::new(false),
            fired: AtomicU64::new(0),
            kind: Mutex::new(ErrorKind::Other),
            gate: Mutex::new(Gate::Open),
            gate_cv: Condvar::new(),
        }
    }
}

impl Plan {
    pub fn set_kind(&self, kind: ErrorKind) {
        *self.kind.lock().unwrap() = kind;
    }

    fn fault(&self) -> io::Error {
        self.fired.fetch_add(1, Ordering::SeqCst);
        io::Error::new(*self.kind.lock().unwrap(), "injected fault")
    }

    fn stuck(&self) -> bool {
        self.sticky.load(Ordering::SeqCst) && self.fired.load(Ordering::SeqCst) > 0
    }

    /// Makes the next `sync_data` wait until [`Plan::release`].
    pub fn hold_next_sync(&self) {
        *self.gate.lock().unwrap() = Gate::HoldNext;
    }

    /// Waits until a `sync_data` is being held.
    pub fn wait_until_held(&self) {
        let g = self.gate.lock().unwrap();
        let (g, timeout) = self
            .gate_cv
            .wait_timeout_while(g, Duration::from_secs(20), |g| *g != Gate::Holding)
            .unwrap();
        assert!(!timeout.timed_out(), "no sync reached the gate: {:?}", *g);
    }

    /// Lets the held `sync_data` go on.
    pub fn release(&self) {
        *self.gate.lock().unwrap() = Gate::Released;
        self.gate_cv.notify_all();
    }

    fn gate_sync(&self) {
        let mut g = self.gate.lock().unwrap();
        if *g == Gate::HoldNext {
            *g = Gate::Holding;
            self.gate_cv.notify_all();
            let (mut g, _) = self
                .gate_cv
                .wait_timeout_while(g, Duration::from_secs(20), |g| *g == Gate::Holding)
                .unwrap();
            *g = Gate::Open;
        }
    }
}

/// A redb file backend that counts writes and syncs, can hold a sync at a
/// gate, and fails the N-th write or sync (the seam redb's own fault tests
/// use).
#[derive(Debug)]
pub struct TestBackend {
    inner: FileBackend,
    plan: Arc<Plan>,
}

impl TestBackend {
    pub fn open(path: &Path, plan: Arc<Plan>) -> Self {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .expect("open backing file");
        Self {
            inner: FileBackend::new(file).expect("file backend"),
            plan,
        }
    }
}

impl StorageBackend for TestBackend {
    fn len(&self) -> Result<u64, io::Error> {
        self.inner.len()
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), io::Error> {
        self.inner.read(offset, out)
    }

    fn set_len(&self, len: u64) -> Result<(), io::Error> {
        if self.plan.armed.load(Ordering::SeqCst) && self.plan.stuck() {
            return Err(self.plan.fault());
        }
        self.inner.set_len(len)
    }

    fn sync_data(&self) -> Result<(), io::Error> {
        let p = &self.plan;
        if p.armed.load(Ordering::SeqCst) {
            let n = p.syncs.fetch_add(1, Ordering::SeqCst) + 1;
            p.gate_sync();
            if p.stuck() || n == p.fail_sync_at.load(Ordering::SeqCst) {
                return Err(p.fault());
            }
        }
        self.inner.sync_data()
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), io::Error> {
        let p = &self.plan;
        if p.armed.load(Ordering::SeqCst) {
            let n = p.writes.fetch_add(1, Ordering::SeqCst) + 1;
            if p.stuck() || n == p.fail_write_at.load(Ordering::SeqCst) {
                return Err(p.fault());
            }
        }
        self.inner.write(offset, data)
    }

    fn close(&self) -> Result<(), io::Error> {
        self.inner.close()
    }

    fn try_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.try_lock_range(start, end)
    }

    fn try_lock_shared_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> Result<bool, BackendError> {
        self.inner.try_lock_shared_range(start, end)
    }

    fn lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.lock_range(start, end)
    }

    fn lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.lock_shared_range(start, end)
    }

    fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.unlock_range(start, end)
    }

    fn query_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.query_lock_range(start, end)
    }
}

/// A copy, as `dir/v1.redb`, of the committed schema-v1 fixture (see
/// tests/fixture.rs), for tests that open or change it.
pub fn v1_fixture_copy(dir: &Path) -> PathBuf {
    let path = dir.join("v1.redb");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1.redb"),
        &path,
    )
    .expect("copy the v1 fixture");
    path
}
