//! The deadlines of serving one worker (see `serve`): the task timeout, asked first and
//! killed outright after [`KILL_GRACE`]; a `Future::kill`, escalated the same way once its task
//! runs; and the last frames of a worker that exited, read for at most `EXIT_DRAIN`.

use super::serve::{Asked, EXIT_DRAIN, Ended, Serving};
use crate::sys::Signal;
use std::time::{Duration, Instant};

/// How long a worker asked to stop a task (or an item) may take before it is killed outright.
pub(crate) const KILL_GRACE: Duration = Duration::from_millis(500);
impl Serving<'_> {
    /// The soonest deadline that applies now.
    pub(super) fn deadline(&self) -> Option<Instant> {
        let drained = self.exited_at.map(|at| at + EXIT_DRAIN);
        if self.killed_outright {
            return drained;
        }
        let front = self.in_flight.front().map(|sent| &sent.pending);
        let asked = match &self.asked {
            Some(Asked { at: Some(at), .. }) => Some(*at + KILL_GRACE),
            Some(Asked { at: None, .. }) => None,
            None => self.pool.task_timeout.filter(|_| front.is_some()).map(|t| self.front_since + t),
        };
        let killed = front.and_then(|front| self.kill_deadline(front.id));
        [drained, asked, killed].into_iter().flatten().min()
    }

    /// When the worker is killed outright if task `id`, killed by its future and running now,
    /// has not stopped.
    fn kill_deadline(&self, id: u64) -> Option<Instant> {
        let asked_at = self.kills.iter().find(|(k, _)| *k == id)?.1;
        Some(asked_at.max(self.front_since) + KILL_GRACE)
    }

    pub(super) fn on_deadline(&mut self) -> Result<(), Ended> {
        let now = Instant::now();
        if self.exited_at.is_some_and(|at| at + EXIT_DRAIN <= now) {
            return Err(Ended::Died(self.asked.take()));
        }
        if self.killed_outright {
            return Ok(());
        }
        let front = self.in_flight.front().map(|sent| (sent.pending.id, sent.pending.done));
        let grace_over = matches!(self.asked, Some(Asked { at: Some(at), .. }) if at + KILL_GRACE <= now);
        let killed_over = front.is_some_and(|(id, _)| self.kill_deadline(id).is_some_and(|d| d <= now));
        if grace_over || killed_over {
            self.kill_outright();
            return Ok(());
        }
        if self.asked.is_none()
            && let (Some((id, item)), Some(timeout)) = (front, self.pool.task_timeout)
            && self.front_since + timeout <= now
        {
            self.link.ask_to_stop(id, u32::try_from(item).ok());
            self.asked = Some(Asked { id, item, at: Some(now) });
        }
        Ok(())
    }

    /// A task's future was killed: ask the worker to stop it (once), and remember when.
    pub(super) fn on_kill(&mut self, id: u64) {
        let here = self.in_flight.iter().any(|sent| sent.pending.id == id);
        if here && !self.kills.iter().any(|(k, _)| *k == id) {
            self.link.ask_to_stop(id, None);
            self.kills.push((id, Instant::now()));
        }
    }

    /// Kills the worker: it did not stop what it was asked to stop.
    fn kill_outright(&mut self) {
        self.worker.handle.signal(Signal::Kill);
        self.killed_outright = true;
        if let Some(asked) = &mut self.asked {
            asked.at = None;
        }
    }
}
