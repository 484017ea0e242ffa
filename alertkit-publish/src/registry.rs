//! [`TargetRegistry`]: the configured targets, built and reloadable without a restart.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use alertkit_core::layer::FanOut;
use alertkit_core::{PublishError, Publisher};
use serde::{Serialize, Serializer};
use tokio::sync::watch;

use crate::config::{ConfigError, RateLimit, TargetConfig, TargetSettings, parse_targets_with_env};
use crate::filter::{Filtered, TargetFilter};
use crate::http::HttpOptions;

/// Looks environment variables up (the process environment by default).
pub type EnvLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Builds the publisher a target's settings describe (unfiltered).
///
/// # Errors
///
/// [`ConfigError::Invalid`] naming the target and key the publisher refused.
pub fn build_publisher(config: &TargetConfig) -> Result<Arc<dyn Publisher>, ConfigError> {
    let options = HttpOptions::with_timeout(Duration::from_secs(config.timeout_secs));
    let name = config.name.clone();
    let built: Result<Arc<dyn Publisher>, PublishError> = match &config.settings {
        #[cfg(feature = "slack")]
        TargetSettings::Slack(c) => crate::slack::SlackPublisher::new(name, c.clone(), &options)
            .map(|p| Arc::new(p) as Arc<dyn Publisher>),
        #[cfg(feature = "pagerduty")]
        TargetSettings::PagerDuty(c) => {
            crate::pagerduty::PagerDutyPublisher::new(name, c.clone(), &options)
                .map(|p| Arc::new(p) as Arc<dyn Publisher>)
        }
        #[cfg(feature = "rootly")]
        TargetSettings::Rootly(c) => crate::rootly::RootlyPublisher::new(name, c.clone(), &options)
            .map(|p| Arc::new(p) as Arc<dyn Publisher>),
        #[cfg(feature = "webhook")]
        TargetSettings::Webhook(c) => {
            crate::webhook::WebhookPublisher::new(name, c.clone(), &options)
                .map(|p| Arc::new(p) as Arc<dyn Publisher>)
        }
    };
    built.map_err(|e| match e {
        PublishError::Config(message) => match message.split_once(": ") {
            Some((key, rest)) if !key.contains(' ') => {
                ConfigError::invalid(config.name.clone(), key, rest)
            }
            _ => ConfigError::invalid(config.name.clone(), "", message),
        },
        other => ConfigError::invalid(config.name.clone(), "", other.to_string()),
    })
}

/// One configured target and, when enabled, its publisher.
#[derive(Clone)]
pub struct Target {
    config: Arc<TargetConfig>,
    publisher: Option<Arc<dyn Publisher>>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("config", &self.config)
            .field("built", &self.publisher.is_some())
            .finish()
    }
}

impl Target {
    /// Validates `config` and builds its publisher (disabled targets are only validated).
    ///
    /// # Errors
    ///
    /// See [`build_publisher`].
    pub fn build(config: TargetConfig) -> Result<Self, ConfigError> {
        let publisher = build_publisher(&config)?;
        Ok(Self {
            publisher: config.enabled.then_some(publisher),
            config: Arc::new(config),
        })
    }

    /// The target's name.
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// Its configuration (serializes redacted).
    pub fn config(&self) -> &TargetConfig {
        &self.config
    }

    /// Whether it is enabled.
    pub fn is_enabled(&self) -> bool {
        self.publisher.is_some()
    }

    /// The unfiltered publisher (`None` when disabled): for delivery
    /// machinery that applies [`filter`](Self::filter) itself.
    pub fn publisher(&self) -> Option<&Arc<dyn Publisher>> {
        self.publisher.as_ref()
    }

    /// The publisher behind its filter (`None` when disabled).
    pub fn filtered(&self) -> Option<Arc<dyn Publisher>> {
        self.publisher.as_ref().map(|p| {
            Arc::new(Filtered::new(Arc::clone(p), self.config.filters.clone()))
                as Arc<dyn Publisher>
        })
    }

    /// Its filters.
    pub fn filter(&self) -> &TargetFilter {
        &self.config.filters
    }

    /// Its rate limit, if any.
    pub fn rate_limit(&self) -> Option<RateLimit> {
        self.config.rate_limit
    }
}

/// An immutable set of targets; a reload replaces the whole set.
///
/// Serializes as the **redacted** list of target configurations.
#[derive(Debug, Clone, Default)]
pub struct TargetSet {
    targets: Vec<Target>,
    generation: u64,
}

impl TargetSet {
    /// Builds every target.
    ///
    /// # Errors
    ///
    /// The first target that fails to build.
    pub fn build(configs: Vec<TargetConfig>) -> Result<Self, ConfigError> {
        Self::build_reusing(configs, &Self::default(), 0)
    }

    /// Builds targets, keeping `previous`'s publishers (and their connection
    /// pools) for configurations that did not change.
    fn build_reusing(
        configs: Vec<TargetConfig>,
        previous: &TargetSet,
        generation: u64,
    ) -> Result<Self, ConfigError> {
        let old: HashMap<&str, &Target> = previous.targets.iter().map(|t| (t.name(), t)).collect();
        let targets = configs
            .into_iter()
            .map(|c| match old.get(c.name.as_str()) {
                Some(t) if *t.config == c => Ok((*t).clone()),
                _ => Target::build(c),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            targets,
            generation,
        })
    }

    /// All targets, in file order.
    pub fn iter(&self) -> impl Iterator<Item = &Target> {
        self.targets.iter()
    }

    /// The enabled targets.
    pub fn enabled(&self) -> impl Iterator<Item = &Target> {
        self.targets.iter().filter(|t| t.is_enabled())
    }

    /// The target named `name`.
    pub fn get(&self, name: &str) -> Option<&Target> {
        self.targets.iter().find(|t| t.name() == name)
    }

    /// Number of targets (enabled or not).
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// Counts successful loads: 1 for the first, +1 per applied reload.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// A [`FanOut`] over the enabled targets, each behind its filter.
    pub fn fanout(&self) -> FanOut {
        self.enabled()
            .filter_map(Target::filtered)
            .fold(FanOut::new(), FanOut::with_publisher)
    }
}

impl Serialize for TargetSet {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.targets.iter().map(|t| &*t.config))
    }
}

/// What a successful reload changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ReloadSummary {
    /// The new set's generation.
    pub generation: u64,
    /// Targets that are new.
    pub added: Vec<String>,
    /// Targets that are gone.
    pub removed: Vec<String>,
    /// Targets whose configuration changed (rebuilt).
    pub changed: Vec<String>,
    /// Targets kept as they were.
    pub unchanged: usize,
}

/// The configured targets, reloadable from their file without a restart.
///
/// A reload parses and builds the whole new set first and swaps it in
/// atomically; if anything is wrong the current set stays and the error
/// (naming target and key) is returned and kept in
/// [`last_error`](Self::last_error). Readers take a snapshot with
/// [`current`](Self::current) or follow changes with
/// [`subscribe`](Self::subscribe).
///
/// Loading reads the file and builds HTTP clients synchronously: call it
/// from `spawn_blocking` (or at startup).
///
/// ```
/// use alertkit_publish::TargetRegistry;
///
/// let registry = TargetRegistry::from_toml(r#"
///     [[targets]]
///     name = "hook"
///     type = "webhook"
///     url = "https://receiver.example/alerts?token=s3cret"
/// "#).unwrap();
/// assert_eq!(registry.current().len(), 1);
/// let view = serde_json::to_string(&*registry.current()).unwrap();
/// assert!(view.contains("https://receiver.example/***") && !view.contains("s3cret"));
///
/// // An invalid file keeps the old set.
/// let err = registry.reload_from_str("[[targets]]\nname = \"hook\"\ntype = \"webhook\"\nurl = 5").unwrap_err();
/// assert!(err.to_string().contains(r#"key "url""#));
/// assert_eq!(registry.current().generation(), 1);
/// ```
pub struct TargetRegistry {
    path: Option<PathBuf>,
    env: EnvLookup,
    tx: watch::Sender<Arc<TargetSet>>,
    last_error: Mutex<Option<String>>,
    reloading: Mutex<()>,
}

impl std::fmt::Debug for TargetRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TargetRegistry")
            .field("path", &self.path)
            .field("targets", &self.current())
            .finish_non_exhaustive()
    }
}

fn process_env() -> EnvLookup {
    Arc::new(|name| std::env::var(name).ok())
}

impl TargetRegistry {
    /// Loads `path`, reading `*_env` keys from the process environment.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] when the file cannot be read, parsed or built.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        Self::from_file_with_env(path, process_env())
    }

    /// Loads `path` with another environment lookup.
    ///
    /// # Errors
    ///
    /// As [`from_file`](Self::from_file).
    pub fn from_file_with_env(path: impl AsRef<Path>, env: EnvLookup) -> Result<Self, ConfigError> {
        let path = path.as_ref().to_path_buf();
        let text = read(&path)?;
        let registry = Self::new(Some(path), env);
        registry.apply(&text)?;
        Ok(registry)
    }

    /// Loads targets from TOML text (no file: [`reload`](Self::reload) is
    /// then a no-op; use [`reload_from_str`](Self::reload_from_str)).
    ///
    /// # Errors
    ///
    /// [`ConfigError`] when the text cannot be parsed or built.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        Self::from_toml_with_env(text, process_env())
    }

    /// Loads targets from TOML text with another environment lookup.
    ///
    /// # Errors
    ///
    /// As [`from_toml`](Self::from_toml).
    pub fn from_toml_with_env(text: &str, env: EnvLookup) -> Result<Self, ConfigError> {
        let registry = Self::new(None, env);
        registry.apply(text)?;
        Ok(registry)
    }

    /// An empty registry reading `path` on [`reload`](Self::reload).
    fn new(path: Option<PathBuf>, env: EnvLookup) -> Self {
        Self {
            path,
            env,
            tx: watch::Sender::new(Arc::new(TargetSet::default())),
            last_error: Mutex::new(None),
            reloading: Mutex::new(()),
        }
    }

    /// The current set.
    pub fn current(&self) -> Arc<TargetSet> {
        Arc::clone(&self.tx.borrow())
    }

    /// Follows the current set across reloads.
    pub fn subscribe(&self) -> watch::Receiver<Arc<TargetSet>> {
        self.tx.subscribe()
    }

    /// Why the last reload failed, if it did (cleared by a successful one).
    pub fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Reads the file again and swaps in the new set.
    ///
    /// # Errors
    ///
    /// The [`ConfigError`] that kept the old set in place.
    pub fn reload(&self) -> Result<ReloadSummary, ConfigError> {
        let Some(path) = &self.path else {
            return Ok(ReloadSummary {
                generation: self.current().generation(),
                unchanged: self.current().len(),
                ..ReloadSummary::default()
            });
        };
        let result = read(path).and_then(|text| self.apply(&text));
        if let Err(e) = &result {
            self.record_error(e);
        }
        result
    }

    /// Swaps in the set `text` describes.
    ///
    /// # Errors
    ///
    /// The [`ConfigError`] that kept the old set in place.
    pub fn reload_from_str(&self, text: &str) -> Result<ReloadSummary, ConfigError> {
        let result = self.apply(text);
        if let Err(e) = &result {
            self.record_error(e);
        }
        result
    }

    fn record_error(&self, e: &ConfigError) {
        tracing::warn!(error = %e, "targets reload failed; keeping the current targets");
        *self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(e.to_string());
    }

    fn apply(&self, text: &str) -> Result<ReloadSummary, ConfigError> {
        let _serial = self
            .reloading
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let env = Arc::clone(&self.env);
        let configs = parse_targets_with_env(text, &move |name| env(name))?;
        let old = self.current();
        let new = TargetSet::build_reusing(configs, &old, old.generation() + 1)?;
        let mut summary = ReloadSummary {
            generation: new.generation(),
            ..ReloadSummary::default()
        };
        for t in new.iter() {
            match old.get(t.name()) {
                None => summary.added.push(t.name().to_owned()),
                Some(o) if Arc::ptr_eq(&o.config, &t.config) => summary.unchanged += 1,
                Some(_) => summary.changed.push(t.name().to_owned()),
            }
        }
        summary.removed = old
            .iter()
            .filter(|t| new.get(t.name()).is_none())
            .map(|t| t.name().to_owned())
            .collect();
        self.tx.send_replace(Arc::new(new));
        *self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
        tracing::info!(generation = summary.generation, added = ?summary.added, removed = ?summary.removed, changed = ?summary.changed, "targets loaded");
        Ok(summary)
    }
}

fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.display().to_string(),
        source,
    })
}
