//! [`SmolRuntime`]: the [`Runtime`] contract on smol's global executor.

use std::time::Duration;

use wa_core::runtime::{AbortHandle, BoxFuture, Runtime, abortable};

/// Runs tasks on smol's global executor, blocking work on smol's blocking pool.
#[derive(Debug, Clone, Copy, Default)]
pub struct SmolRuntime;

impl Runtime for SmolRuntime {
    fn spawn(&self, future: BoxFuture<'static, ()>) -> AbortHandle {
        let (future, handle) = abortable(future);
        smol::spawn(async move {
            let _ = future.await;
        })
        .detach();
        handle
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            smol::Timer::after(duration).await;
        })
    }

    fn spawn_blocking(&self, f: Box<dyn FnOnce() + Send + 'static>) -> BoxFuture<'static, ()> {
        Box::pin(smol::unblock(f))
    }

    fn yield_now(&self) -> Option<BoxFuture<'static, ()>> {
        Some(Box::pin(futures_lite::future::yield_now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;

    fn within<T>(f: impl Future<Output = T>) -> Option<T> {
        smol::block_on(futures_lite::future::or(async { Some(f.await) }, async {
            smol::Timer::after(Duration::from_secs(5)).await;
            None
        }))
    }

    /// Reports on a channel when the future holding it is dropped.
    struct OnDrop(std::sync::mpsc::Sender<()>);
    impl Drop for OnDrop {
        fn drop(&mut self) {
            let _ = self.0.send(());
        }
    }

    #[test]
    fn dropping_the_handle_cancels_the_task() {
        let (tx, rx) = std::sync::mpsc::channel();
        let guard = OnDrop(tx);
        let h = SmolRuntime.spawn(Box::pin(async move {
            let _g = guard;
            std::future::pending::<()>().await;
        }));
        drop(h);
        // The task is woken by the abort and drops its future on the executor.
        within(async {
            while rx.try_recv().is_err() {
                smol::Timer::after(Duration::from_millis(1)).await;
            }
        })
        .expect("task was not cancelled within 5 s");
    }

    #[test]
    fn a_detached_task_finishes() {
        let (tx, rx) = std::sync::mpsc::channel();
        SmolRuntime
            .spawn(Box::pin(async move {
                SmolRuntime.sleep(Duration::from_millis(10)).await;
                let _ = tx.send(9u8);
            }))
            .detach();
        let got = within(async {
            loop {
                if let Ok(v) = rx.try_recv() {
                    return v;
                }
                smol::Timer::after(Duration::from_millis(1)).await;
            }
        });
        assert_eq!(got, Some(9));
    }
}
