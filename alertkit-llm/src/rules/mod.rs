//! The rule classifier: an ordered, CPU-only [`RulePack`] behind
//! [`RuleClassifier`], with a built-in default pack.
//!
//! # How an alert is classified
//!
//! Rules are tried in file order. Each output field (`severity`, `category`,
//! `summary`, `recommendations`) is taken from the **first matching rule that
//! sets it**, so a pack can put narrow severity-only rules ("the alert calls
//! itself critical") before broad rules that set everything. The alert's own
//! `severity` label wins over the rules unless
//! [`RuleClassifier::reassess`] is on (see [`RuleClassifier`] for the
//! confidence, source and fallbacks).
//!
//! A rule looks at four texts of the alert, matched ASCII case-insensitively:
//!
//! | haystack | what it holds |
//! |---|---|
//! | `alertname` | the `alertname` label split into words: `KubePodCrashLooping` → `kube pod crash looping`, `HTTP5xxErrorRate` → `http 5xx error rate`, `node_down` → `node down` |
//! | `summary` | the `summary` annotation |
//! | `description` | the `description` annotation, else `message` |
//! | `expr` | the PromQL expression Prometheus sends URL-encoded as `g0.expr=` in the `generatorURL` |
//!
//! Each is cut to its first 2 KiB. The condition fields `title` (alertname
//! and summary), `text` (alertname, summary and description) and `any`
//! (those and `expr`) try a pattern against several haystacks. Prefer `title`
//! for words that decide a severity: descriptions often speculate ("may lead
//! to crashes", "the tunnel may be down").
//!
//! # Rule format
//!
//! ```toml
//! name = "my-pack"        # optional (default "custom"): letters, digits, - _ .
//! version = "2026.11"     # required: part of the classifier id and so of cache keys
//! description = "…"       # optional
//!
//! [[rule]]
//! name = "disk-full"                          # required, unique
//! matchers = '{env="prod", team=~"db|infra"}' # optional Alertmanager matchers, ANDed
//! when.title = ['\bdisk\b', '\bfilesystem\b'] # one regex or a list: any may match
//! when.expr = 'avail|free'                    # every `when` field given must match
//! unless.text = 'predict|will fill'           # any match rejects the rule
//! severity = "critical"                       # critical | warning | info | noise
//! category = "capacity"                       # an alertkit_core::Category, snake_case
//! confidence = 0.8                            # 0..=1, default 0.7
//! summary = "Disk almost full on {instance}: {summary}"
//! recommendations = ["Find what grew: du -xh / | sort -h | tail on {instance}"]
//! ```
//!
//! Condition fields under `when` and `unless`: `alertname`, `summary`,
//! `description`, `expr`, `title`, `text`, `any`. `when` may also be an array
//! of such tables, of which any may match, to accept either words or a
//! PromQL shape:
//!
//! ```toml
//! when = [
//!     { title = ['\bdown\b', '\bunreachable\b'] },
//!     { expr = '(^|[^a-z_])up\s*==\s*0' },
//! ]
//! ```
//!
//! An element of a pattern list may itself be an array of regexes that must
//! all match (in any of the field's haystacks): `when.title =
//! ['\bunhealthy\b', ['\bprobe\b', '\bfail']]` means "unhealthy, or probe and
//! fail". Prefer this to `probe.*fail`: gaps like `.*` multiply the states of
//! the combined automaton and slow every alert down.
//!
//! Regexes use the [`regex`] crate syntax in ASCII mode, case-insensitively
//! (`\b`, `\w`, `\d` are ASCII), unanchored: `\bdown\b` finds the word
//! anywhere. A rule with no conditions matches every alert: put one last as
//! a catch-all.
//!
//! In `summary` and `recommendations`, `{label}` is replaced by the alert's
//! label value (or `<label>` when it has none, which reads naturally in
//! command lines) and `{summary}` by the alert's own summary; other braces,
//! such as PromQL selectors, are kept as written.
//!
//! Loading checks everything and names what is wrong:
//! `rule 3 ("disk-full"): invalid severity: unknown severity "sever" …`.
//!
//! # Speed
//!
//! All patterns are compiled into one [`regex::bytes::RegexSet`] per
//! haystack (the single-regex alternatives of one condition merged into one
//! pattern), so an alert costs one pass over each text however many rules
//! the pack has, then a lookup of each pattern a rule needs in those
//! passes' results, stopping at the first rule that decides each output:
//! a few microseconds with the default pack (`benches/benches/rules.rs`).
//! Compiling the default pack takes about 0.1 s, once per process.
//!
//! # Example
//!
//! ```
//! use alertkit_core::{Alert, Annotations, Category, LabelSet, Severity};
//! use alertkit_llm::rules::{RuleClassifier, RulePack};
//!
//! let pack = RulePack::from_toml_str(r#"
//!     name = "tiny"
//!     version = "1"
//!
//!     [[rule]]
//!     name = "target-down"
//!     when.any = ['\bdown\b', '(\b|_)up\s*==\s*0']
//!     severity = "critical"
//!     category = "availability"
//!     summary = "{instance} is down"
//!     recommendations = ["Check the process on {instance} and its logs"]
//!
//!     [[rule]]
//!     name = "everything-else"
//!     severity = "warning"
//!     category = "other"
//! "#).unwrap();
//!
//! let alert = Alert::firing(
//!     LabelSet::from_pairs([("alertname", "RedisDown"), ("instance", "cache-1")]),
//!     time::OffsetDateTime::now_utc(),
//! )
//! .with_annotations(Annotations::from_pairs([("summary", "Redis down")]));
//!
//! let verdict = RuleClassifier::new(pack).classify_now(&alert);
//! assert_eq!(verdict.severity, Severity::Critical);
//! assert_eq!(verdict.category, Category::Availability);
//! assert_eq!(verdict.summary, "cache-1 is down");
//! assert_eq!(verdict.recommendations, ["Check the process on cache-1 and its logs"]);
//! ```

mod classifier;
mod compile;
mod error;
mod pack;
mod spec;
mod template;
mod text;

pub use classifier::{RuleClassifier, RulesConfig};
pub use error::RulePackError;
pub use pack::{DEFAULT_PACK_TOML, Evaluation, Rule, RulePack};
