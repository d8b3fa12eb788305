//! Answers worked out from the world (routes, app secrets), kept while the store's world
//! generation stays the same, so that a steady stream of work does not read the world again and
//! again. Any change to the world, on this node or (on PostgreSQL) another, drops them all.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::Mutex;

use wabahook_store::Store;

pub struct WorldCache<K, V> {
    inner: Mutex<Inner<K, V>>,
    /// Keys can come from outside (field names are free-form); past this many answers the
    /// cache starts over rather than grow.
    max: usize,
}

struct Inner<K, V> {
    generation: Option<u64>,
    answers: HashMap<K, V>,
}

impl<K: Eq + Hash, V: Clone> WorldCache<K, V> {
    pub fn new(max: usize) -> Self {
        WorldCache {
            inner: Mutex::new(Inner {
                generation: None,
                answers: HashMap::new(),
            }),
            max,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<K, V>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn get(&self, generation: u64, key: &K) -> Option<V> {
        let mut inner = self.lock();
        if inner.generation != Some(generation) {
            inner.answers.clear();
            inner.generation = Some(generation);
            return None;
        }
        inner.answers.get(key).cloned()
    }

    fn put(&self, generation: u64, key: K, value: V) {
        let mut inner = self.lock();
        if inner.generation != Some(generation) {
            return;
        }
        if inner.answers.len() >= self.max {
            inner.answers.clear();
        }
        inner.answers.insert(key, value);
    }

    /// The kept answer for `key`, or `work_out`'s, kept if the world did not change meanwhile.
    /// While the store cannot tell whether the world changed (`world_generation` is `None`),
    /// nothing is kept.
    pub async fn get_or_work_out<E, F, Fut>(
        &self,
        store: &dyn Store,
        key: K,
        work_out: F,
    ) -> Result<V, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        // Read before the world is, so that a change made while working out is never kept.
        let generation = store.world_generation();
        if let Some(g) = generation {
            if let Some(v) = self.get(g, &key) {
                return Ok(v);
            }
        }
        let v = work_out().await?;
        if let Some(g) = generation {
            if store.world_generation() == Some(g) {
                self.put(g, key, v.clone());
            }
        }
        Ok(v)
    }
}
