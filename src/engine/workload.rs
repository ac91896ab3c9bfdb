//! The plan bound to a target (`Workload`): the load's flows with their steps ready to send,
//! the setup flow, the data feeds with their shared cursors and the variables every user
//! sees; the choice of a flow for each iteration and the data rows it reads.
//!
//! Depends on `step` (the prepared flows), `user` (the users it makes and the globals they
//! read) and `scenario` (the plan). Invariant: after `setup` publishes its values, the
//! workload is shared read-only; only the feeds' cursors move (atomically).

use std::collections::HashMap;

use super::step::ReadyFlow;
use super::user::{Feed, Globals, User};
use crate::scenario::{Flow, Load, Plan, Shard};

/// The plan bound to a concrete base URL: what the workers execute.
#[derive(Debug)]
pub struct Workload {
    /// The load model and its limits (duration, iterations, stages).
    pub(super) load: Load,
    /// The flows iterations pick from, each at its `index`.
    pub(super) flows: Vec<ReadyFlow>,
    /// The setup flow, run once before the clock starts.
    pub(super) setup: Option<ReadyFlow>,
    total_weight: u64,
    /// Variables every user starts with (`variables:`, `--set`, then setup's extractions),
    /// and the data feeds.
    pub(super) globals: Globals,
    cookies: bool,
    /// A flow has an `init` (see `keeps_users`).
    keeps_users: bool,
    /// The part of the plan this process runs (`--shard`): its arrivals, users, budget.
    pub(super) shard: Shard,
}

impl Workload {
    /// Resolves every step against `base` (the target URL without trailing slash).
    pub fn prepare(plan: &Plan, base: &str) -> Result<Self, String> {
        let data: Vec<Feed> = plan.data.iter().cloned().map(Feed::new).collect();
        let ready = |flow: &Flow| ReadyFlow::new(flow, base, plan.cookies, &data);
        let mut flows = plan
            .flows
            .iter()
            .map(ready)
            .collect::<Result<Vec<_>, _>>()?;
        for (i, flow) in flows.iter_mut().enumerate() {
            flow.index = i;
        }
        let setup = plan.setup.as_ref().map(ready).transpose()?;
        Ok(Self {
            keeps_users: flows.iter().any(|f| !f.init.is_empty()),
            load: plan.load.clone(),
            total_weight: flows.iter().map(|f| f.weight).sum(),
            flows,
            setup,
            globals: Globals {
                vars: plan.variables.iter().cloned().collect(),
                data,
            },
            cookies: plan.cookies,
            shard: plan.shard(),
        })
    }

    /// A user of this workload, numbered `vu` (with a cookie jar if the plan keeps cookies).
    pub(super) fn user(&self, vu: u64, seed: u64) -> User {
        User::new(vu, seed, self.cookies)
    }

    /// Whether open-model arrivals keep their users for the next ones: a flow has an
    /// `init`, which runs once per user.
    #[inline]
    pub(super) fn keeps_users(&self) -> bool {
        self.keeps_users
    }

    /// Picks a flow at random, in proportion to the weights.
    pub(super) fn pick(&self, rng: &mut fastrand::Rng) -> &ReadyFlow {
        if self.flows.len() == 1 {
            return &self.flows[0];
        }
        let mut ticket = rng.u64(0..self.total_weight.max(1));
        for flow in &self.flows {
            if ticket < flow.weight {
                return flow;
            }
            ticket -= flow.weight;
        }
        &self.flows[self.flows.len() - 1]
    }

    /// Makes values (setup's extractions) visible to every user.
    pub(super) fn publish(&mut self, vars: HashMap<String, String>) {
        self.globals.vars.extend(vars);
    }

    /// Makes values that another shard's setup extracted visible to every user, as if this
    /// process had run setup itself (`setup: { once: true }`).
    pub fn adopt_setup(&mut self, values: Vec<(String, String)>) {
        self.globals.vars.extend(values);
    }

    /// Gives the user a row of each feed `flow` reads; `Err` names the feed whose unique
    /// rows are all used (the run must stop).
    pub(super) fn take_rows(&self, flow: &ReadyFlow, user: &mut User) -> Result<(), String> {
        user.take_rows(&self.globals, &flow.feeds)
    }
}
