//! The worker loop: claim due deliveries under a lease, send them in batches with bounded
//! concurrency per target, record every attempt, and schedule what failed; and, beside it, the
//! node's heartbeat.
//!
//! Leases in the store, not memory, decide who sends what: a crash loses nothing, because an
//! unfinished claim becomes due again when its lease ends. Claims also name their node, so that
//! most of the time nothing waits for the lease: a node gives back its own earlier claims when it
//! starts (on SQLite, every earlier claim: it owns the file), and live nodes sharing PostgreSQL
//! give back those of a node whose heartbeat stopped.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{watch, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use wabahook_model::egress::EgressGuard;
use wabahook_model::redact::RedactedUrl;
use wabahook_store::{
    Attempt, AttemptOutcome, Claimed, Delivery, DynStore, StoreError, TargetNote,
};

use crate::batch::{self, Batch};
use crate::clock::Clock;
use crate::config::DeliveryConfig;
use crate::egress::EgressConfig;
use crate::world_cache::WorldCache;
use crate::{schedule, sender};

pub struct Engine {
    store: DynStore,
    cfg: DeliveryConfig,
    /// This node's name in the store and in its claims.
    node_id: Arc<str>,
    clock: Arc<dyn Clock>,
    /// Without and with the client certificate, chosen per app.
    clients: sender::Clients,
    /// The egress guard, when it is on; `clients` resolve names through it too.
    egress: Option<Arc<EgressGuard>>,
    wake: Arc<Notify>,
    /// Deliveries claimed and not yet finished; bounds memory and what one node holds.
    claimed: Arc<Semaphore>,
    /// POSTs in flight.
    in_flight: Arc<Semaphore>,
    targets: Mutex<HashMap<String, Arc<TargetState>>>,
    routes: crate::routing::RouteCache,
    /// What sending for each app needs (`None`: the app is gone), kept while the world does not
    /// change, so that a new secret or `include_client_certificate` counts from the next POST.
    apps: WorldCache<String, Option<AppSending>>,
    /// Turns true when the workers stop: batches still waiting for a slot go back to the
    /// store, due at once, instead of waiting out their lease.
    stopping: watch::Sender<bool>,
}

/// What sending for one app needs.
#[derive(Clone)]
struct AppSending {
    secret: Arc<str>,
    /// The app's `include_client_certificate`: its POSTs present the client certificate.
    client_certificate: bool,
    /// The app subscribed `messages` under v24.0 or later: statuses come without
    /// `conversation`.
    omit_conversation: bool,
    /// Its pause rule (its delivery policy, else `[delivery]`): attempts in a row (0: never)…
    pause_after_failures: i64,
    /// …failing for at least this long.
    pause_after_ms: i64,
    /// Ordered mode: the store claims one delivery per key at a time; each goes alone in its
    /// POST, so that a failure holds back its own key only.
    ordered: bool,
}

/// What the engine knows of one target URL.
struct TargetState {
    slots: Arc<Semaphore>,
    /// Batches claimed for this target and waiting for a slot.
    waiting: AtomicUsize,
    /// Until when (ms) the target is held back after it could not be reached.
    blocked_until: AtomicI64,
}

/// Most batches that may wait for one target's slots, per slot; beyond that they go back to the
/// store. A node should hold only what it can send soon (a claim that waits longer than its lease
/// is sent twice), but a queue shorter than a few rounds of POSTs leaves slots idle while claims
/// go back and forth: 2 per slot cost a fast target a quarter to two thirds of its throughput in
/// `bench`. With the default 8 slots this is the 64 batches the engine always allowed; the
/// global claim budget (twice `claim_batch`) bounds the total.
const QUEUE_PER_SLOT: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("delivery configuration: {0}")]
    Config(String),
    #[error("cannot build the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

impl Engine {
    /// An engine without the egress guard, as the sandbox runs.
    pub fn new(
        store: DynStore,
        cfg: DeliveryConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<Engine>, EngineError> {
        Engine::with_egress(store, cfg, clock, &EgressConfig::default())
    }

    /// An engine whose POSTs go only where the egress guard allows, when `egress` turns it on.
    pub fn with_egress(
        store: DynStore,
        cfg: DeliveryConfig,
        clock: Arc<dyn Clock>,
        egress: &EgressConfig,
    ) -> Result<Arc<Engine>, EngineError> {
        Engine::with_identity(store, cfg, clock, egress, None)
    }

    /// As [`Engine::with_egress`], and the POSTs of apps with `include_client_certificate`
    /// present `identity` (without one, no POST presents a client certificate).
    pub fn with_identity(
        store: DynStore,
        cfg: DeliveryConfig,
        clock: Arc<dyn Clock>,
        egress: &EgressConfig,
        identity: Option<&reqwest::Identity>,
    ) -> Result<Arc<Engine>, EngineError> {
        cfg.check().map_err(EngineError::Config)?;
        let extra_roots = egress.extra_roots().map_err(EngineError::Config)?;
        let egress = egress.guard().map_err(EngineError::Config)?;
        if let Some(g) = &egress {
            tracing::info!(
                require_https = g.require_https(),
                "egress guard on: no POST reaches a loopback, private, link-local or metadata address unless allowed"
            );
        }
        let clients = sender::Clients::build(&sender::ClientSettings {
            timeout: Duration::from_millis(cfg.timeout_ms),
            user_agent: &cfg.user_agent,
            guard: egress.as_ref(),
            extra_roots: &extra_roots,
            identity,
        })?;
        let node_id = match &cfg.node_id {
            Some(id) => Arc::from(id.as_str()),
            None => Arc::from(format!("node-{:016x}", rand::random::<u64>())),
        };
        Ok(Arc::new(Engine {
            node_id,
            claimed: Arc::new(Semaphore::new(cfg.claim_batch.max(1) as usize * 2)),
            in_flight: Arc::new(Semaphore::new(cfg.max_in_flight)),
            store,
            cfg,
            clock,
            clients,
            egress,
            wake: Arc::new(Notify::new()),
            targets: Mutex::new(HashMap::new()),
            routes: crate::routing::RouteCache::default(),
            apps: WorldCache::new(10_000),
            stopping: watch::Sender::new(false),
        }))
    }

    pub fn config(&self) -> &DeliveryConfig {
        &self.cfg
    }

    /// Routes of accepted events, kept while the world does not change.
    pub fn routes(&self) -> &crate::routing::RouteCache {
        &self.routes
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// This node's id in the store: `delivery.node_id`, or one made up at start.
    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// Tells the workers that new work may be due (after an event or a replay).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    fn target(&self, url: &str) -> Arc<TargetState> {
        let mut map = self.targets.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(url.to_string())
            .or_insert_with(|| {
                Arc::new(TargetState {
                    slots: Arc::new(Semaphore::new(self.cfg.max_in_flight_per_target)),
                    waiting: AtomicUsize::new(0),
                    blocked_until: AtomicI64::new(0),
                })
            })
            .clone()
    }

    /// Registers the node (giving back what it, or on SQLite any earlier process, left claimed)
    /// and runs until `stop` turns true, beating all along; then stops claiming, gives back what
    /// was claimed and not yet sent, gives in-flight POSTs up to `grace` to finish, cuts off
    /// the rest and gives their deliveries back too, and leaves.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>, grace: Duration) {
        if !self.register(&mut stop).await {
            return;
        }
        let (beats_stop, beats_stopped) = watch::channel(false);
        let beats = tokio::spawn(self.clone().keep_alive(beats_stopped));
        let mut tasks = JoinSet::new();
        loop {
            if *stop.borrow() {
                break;
            }
            while tasks.try_join_next().is_some() {}
            let claimed = match self.tick(&mut tasks).await {
                Ok(n) => n,
                Err(e) => {
                    tracing::error!(error = %e, "claiming deliveries failed");
                    0
                }
            };
            if claimed == 0 {
                tokio::select! {
                    _ = self.wake.notified() => {}
                    // Work another node added (PostgreSQL's NOTIFY); polling stays the fallback.
                    _ = self.store.work_noticed() => {}
                    _ = tokio::time::sleep(Duration::from_millis(self.cfg.poll_interval_ms)) => {}
                    _ = stop.changed() => {}
                }
            }
        }
        self.stopping.send_replace(true);
        let finish = async { while tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(grace, finish).await.is_err() {
            tracing::warn!("delivery grace period over; cutting off the POSTs still in flight");
            tasks.abort_all();
            while tasks.join_next().await.is_some() {}
        }
        // Beats go on until here, so that nobody takes the POSTs of the grace period over.
        beats_stop.send_replace(true);
        let _ = beats.await;
        match self.store.leave(&self.node_id, self.clock.now_ms()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                node = %self.node_id,
                deliveries = n,
                "gave back the deliveries of POSTs cut off by the shutdown; they are due now"
            ),
            Err(e) => tracing::warn!(
                error = %e,
                "leaving failed; what this node still claims goes back when it is found silent, or after its lease"
            ),
        }
    }

    /// Records the node in the store before its first claim, which gives back at once what its
    /// earlier run left claimed (on a store one node owns, every earlier claim). Tries again
    /// until it succeeds; false if the workers were stopped first.
    async fn register(&self, stop: &mut watch::Receiver<bool>) -> bool {
        loop {
            if *stop.borrow() {
                return false;
            }
            match self
                .store
                .register_node(&self.node_id, self.clock.now_ms())
                .await
            {
                Ok(released) => {
                    tracing::info!(node = %self.node_id, "delivery node registered");
                    if released > 0 {
                        tracing::info!(
                            node = %self.node_id,
                            deliveries = released,
                            "gave back deliveries claimed before this start by a process that is gone; they are due now"
                        );
                    }
                    return true;
                }
                Err(e) => {
                    tracing::error!(error = %e, "registering the delivery node failed; trying again");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(self.cfg.poll_interval_ms)) => {}
                        changed = stop.changed() => if changed.is_err() { return false },
                    }
                }
            }
        }
    }

    /// Gives back the claims of nodes silent for longer than `delivery.node_silence_ms`, then
    /// says every `delivery.heartbeat_ms` that this node is alive and looks again, until `stop`
    /// turns true (or its sender goes).
    async fn keep_alive(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let every = Duration::from_millis(self.cfg.heartbeat_ms);
        loop {
            let now = self.clock.now_ms();
            let silent_before = now - self.cfg.node_silence_ms;
            match self.store.release_silent_nodes(silent_before, now).await {
                Ok(r) if !r.nodes.is_empty() => {
                    tracing::info!(
                        nodes = ?r.nodes,
                        deliveries = r.deliveries,
                        silence_ms = self.cfg.node_silence_ms,
                        "gave back the claims of nodes silent for longer than delivery.node_silence_ms; they are due now"
                    );
                    if r.deliveries > 0 {
                        self.wake();
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "looking for silent nodes failed"),
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                changed = stop.changed() => if changed.is_err() || *stop.borrow() { return },
            }
            match self.store.beat(&self.node_id, self.clock.now_ms()).await {
                Ok(true) => {}
                Ok(false) => tracing::warn!(
                    node = %self.node_id,
                    "other nodes had taken this node for dead (silent for longer than delivery.node_silence_ms) and gave back its claims; some deliveries may go out twice"
                ),
                Err(e) => tracing::warn!(
                    error = %e,
                    "heartbeat failed; if this goes on, other nodes take this node for dead"
                ),
            }
        }
    }

    /// Claims what is due now and starts sending it; returns how many deliveries were claimed.
    pub async fn tick(self: &Arc<Self>, tasks: &mut JoinSet<()>) -> Result<usize, StoreError> {
        let free = self.claimed.available_permits();
        if free == 0 {
            // Wait for claimed work to finish instead of claiming more than we can hold.
            if let Ok(p) = self.claimed.clone().acquire_owned().await {
                drop(p);
            }
            return Ok(0);
        }
        let now = self.clock.now_ms();
        let limit = (free as i64).min(self.cfg.claim_batch);
        // More than a target's slots and queue can hold would only be put back.
        let per_target = (self.queue_per_target() + self.cfg.max_in_flight_per_target)
            * self.cfg.batch_max_changes;
        let per_target = per_target as i64;
        let claimed = self
            .store
            .claim_due(&self.node_id, now, self.cfg.lease_ms, limit, per_target)
            .await?;
        let n = claimed.len();
        // One look-up per app per claim, not one per POST, and none while the world holds.
        let mut apps: HashMap<String, Option<AppSending>> = HashMap::new();
        for c in &claimed {
            let app_id = &c.delivery.app_id;
            if !apps.contains_key(app_id) {
                let sending = self
                    .apps
                    .get_or_work_out(self.store.as_ref(), app_id.clone(), || async {
                        let Some(app) = self.store.app(app_id).await? else {
                            return Ok::<_, StoreError>(None);
                        };
                        // mTLS is per app, on its object subscription; deliveries to override
                        // URLs present the certificate too.
                        let subscription = self.store.app_subscription(app_id).await?;
                        let client_certificate = subscription
                            .as_ref()
                            .is_some_and(|s| s.include_client_certificate);
                        // Statuses are shaped by the version `messages` was subscribed under.
                        let omit_conversation = subscription.as_ref().is_some_and(|s| {
                            s.fields.iter().any(|f| {
                                f.name == "messages"
                                    && crate::shaping::omits_conversation(&f.version)
                            })
                        });
                        let policy = self
                            .store
                            .delivery_policy(app_id)
                            .await?
                            .unwrap_or_default();
                        let pause_after_failures = policy
                            .pause_after_failures
                            .unwrap_or(self.cfg.pause_after_failures as i64);
                        let pause_after_secs = policy
                            .pause_after_secs
                            .unwrap_or(self.cfg.pause_after_secs as i64);
                        Ok(Some(AppSending {
                            secret: Arc::from(app.secret),
                            client_certificate,
                            omit_conversation,
                            pause_after_failures,
                            pause_after_ms: pause_after_secs.saturating_mul(1000),
                            ordered: policy.ordered.is_some(),
                        }))
                    })
                    .await?;
                apps.insert(app_id.clone(), sending);
            }
        }
        let mut put_back: Vec<(i64, Vec<Delivery>)> = Vec::new();
        // Ordered apps' deliveries go one to a POST: a batch fails as a whole, and a failure
        // must hold back its own key only.
        let (ordered, unordered): (Vec<Claimed>, Vec<Claimed>) =
            claimed.into_iter().partition(|c| {
                apps.get(&c.delivery.app_id)
                    .and_then(Option::as_ref)
                    .is_some_and(|a| a.ordered)
            });
        let batches = batch::group(
            unordered,
            self.cfg.batch_max_changes,
            self.cfg.batch_max_bytes,
        )
        .into_iter()
        .chain(batch::group(ordered, 1, self.cfg.batch_max_bytes));
        for b in batches {
            let target = self.target(&b.target_url);
            let blocked = target.blocked_until.load(Ordering::Relaxed);
            if blocked > now {
                put_back.push((blocked, b.items.into_iter().map(|c| c.delivery).collect()));
                continue;
            }
            if target.waiting.load(Ordering::Relaxed) >= self.queue_per_target() {
                put_back.push((now + 100, b.items.into_iter().map(|c| c.delivery).collect()));
                continue;
            }
            let Ok(budget) = self
                .claimed
                .clone()
                .try_acquire_many_owned(b.items.len() as u32)
            else {
                put_back.push((now, b.items.into_iter().map(|c| c.delivery).collect()));
                continue;
            };
            target.waiting.fetch_add(1, Ordering::Relaxed);
            let app = apps.get(&b.app_id).cloned().flatten();
            let engine = self.clone();
            let mut stopping = self.stopping.subscribe();
            tasks.spawn(async move {
                let slot = tokio::select! {
                    slot = target.slots.clone().acquire_owned() => Some(slot),
                    _ = stopping.wait_for(|s| *s) => None,
                };
                target.waiting.fetch_sub(1, Ordering::Relaxed);
                let Some(slot) = slot else {
                    // Stopping: what never got a slot is given back, due now, for the next
                    // start or another node.
                    let items: Vec<Delivery> = b.items.into_iter().map(|c| c.delivery).collect();
                    if let Err(e) = engine.store.release(&items, engine.clock.now_ms()).await {
                        tracing::warn!(error = %e, "giving back unsent deliveries failed; their lease brings them back");
                    }
                    return;
                };
                let (Ok(slot), Ok(permit)) = (slot, engine.in_flight.clone().acquire_owned().await) else { return };
                let blocked = target.blocked_until.load(Ordering::Relaxed);
                if blocked > engine.clock.now_ms() {
                    // The target went down while this batch waited: back to the store, unsent.
                    let items: Vec<Delivery> = b.items.into_iter().map(|c| c.delivery).collect();
                    if let Err(e) = engine.store.release(&items, blocked).await {
                        tracing::warn!(error = %e, "releasing deliveries failed; their lease brings them back");
                    }
                    return;
                }
                engine.send(b, app, &target, (slot, permit)).await;
                drop(budget);
            });
        }
        for (at, items) in put_back {
            self.store.release(&items, at).await?;
        }
        Ok(n)
    }

    /// Most batches one target may have waiting for a slot.
    fn queue_per_target(&self) -> usize {
        QUEUE_PER_SLOT * self.cfg.max_in_flight_per_target
    }

    /// Sends one batch and records the outcome. `slots` (the target's and the engine's in-flight
    /// permits) are given back as soon as the POST is over: recording waits for a commit, and
    /// the endpoint should not wait for our disk.
    async fn send(
        &self,
        batch: Batch,
        app: Option<AppSending>,
        target: &TargetState,
        slots: (OwnedSemaphorePermit, OwnedSemaphorePermit),
    ) {
        let at_ms = self.clock.now_ms();
        let failed = |class: &'static str, detail: String| sender::PostResult {
            status: None,
            latency_ms: 0,
            error_class: Some(class),
            response_head: detail,
            unreachable: false,
        };
        // A missing app or an unwritable body is recorded as a failed attempt, so the delivery
        // follows the schedule to expiry instead of coming back forever.
        let omit_conversation = app.as_ref().is_some_and(|a| a.omit_conversation);
        let rule = app
            .as_ref()
            .map(|a| (a.pause_after_failures, a.pause_after_ms, a.ordered));
        let result = match (app, batch.body_for(omit_conversation)) {
            (None, _) => failed(
                "app_missing",
                format!("app {} no longer exists", batch.app_id),
            ),
            (_, Err(e)) => failed("body", e.to_string()),
            (Some(app), Ok(body)) => {
                sender::post(
                    self.clients.for_app(app.client_certificate),
                    self.egress.as_deref(),
                    &batch.target_url,
                    &app.secret,
                    body,
                    self.cfg.any_2xx_is_success,
                )
                .await
            }
        };
        drop(slots);
        // Callback URLs are logged redacted: their query or userinfo may hold a secret.
        tracing::debug!(
            target = %RedactedUrl(&batch.target_url),
            app = %batch.app_id,
            status = ?result.status,
            error_class = ?result.error_class,
            latency_ms = result.latency_ms,
            "batch posted"
        );
        let done_ms = self.clock.now_ms().max(at_ms);
        let results: Vec<_> = batch
            .items
            .into_iter()
            .map(|c| {
                let d = c.delivery;
                let outcome = if result.error_class.is_none() {
                    AttemptOutcome::Delivered
                } else {
                    schedule::after_failure(&self.cfg, d.attempts + 1, done_ms, d.expires_at_ms)
                };
                let attempt = Attempt {
                    delivery_id: d.id,
                    at_ms,
                    status: result.status.map(i64::from),
                    latency_ms: result.latency_ms,
                    error_class: result.error_class.map(str::to_string),
                    response_head: result.response_head.clone(),
                };
                (d, attempt, outcome)
            })
            .collect();
        // A POST that was made counts for the target's health; a missing app or an unwritable
        // body says nothing about the endpoint.
        let recorded = match rule {
            Some((pause_after_failures, pause_after_ms, _))
                if !matches!(result.error_class, Some("app_missing" | "body")) =>
            {
                let note = TargetNote {
                    app_id: batch.app_id.clone(),
                    target_url: batch.target_url.clone(),
                    at_ms: done_ms,
                    failure: result.error_class.map(|class| match result.status {
                        Some(status) => format!("{class} {status}"),
                        None => class.to_string(),
                    }),
                    pause_after_failures,
                    pause_after_ms,
                };
                self.store.finish_batch(&results, &note).await.map(|paused| {
                    if paused {
                        tracing::warn!(
                            target = %RedactedUrl(&batch.target_url),
                            app = %batch.app_id,
                            "endpoint paused after failing past its threshold; its deliveries are kept until it is resumed"
                        );
                    }
                })
            }
            _ => self.store.finish_attempts(&results).await,
        };
        if let Err(e) = recorded {
            tracing::error!(error = %e, "recording attempts failed; the lease will bring the deliveries back");
            return;
        }
        // In ordered mode a delivery that arrived lets the next one of its key go.
        if result.error_class.is_none() && rule.is_some_and(|(_, _, ordered)| ordered) {
            self.wake();
        }
        if result.unreachable {
            let until = done_ms + self.cfg.target_backoff_ms;
            target.blocked_until.fetch_max(until, Ordering::Relaxed);
            match self.store.defer_target(&batch.target_url, until).await {
                Ok(()) => {
                    tracing::info!(target = %RedactedUrl(&batch.target_url), until_ms = until, "endpoint unreachable; holding back its deliveries")
                }
                Err(e) => tracing::warn!(error = %e, "deferring an unreachable endpoint failed"),
            }
        }
        if results
            .iter()
            .any(|(_, _, o)| matches!(o, AttemptOutcome::RetryAt(t) if *t <= done_ms))
        {
            self.wake();
        }
    }
}
