//! Loading: the defaults, then the TOML file, then the `ZYNK_*` variables, merged with figment
//! and then validated.

use std::path::Path;

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};

use super::{Config, ConfigError};

impl Config {
    /// Loads defaults, then `file` (if given; it must exist), then `ZYNK_*` variables from
    /// `env`, and validates the result.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.is_file() {
                return Err(ConfigError(format!(
                    "config file {} not found",
                    path.display()
                )));
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        // Only ZYNK_* variables naming a configuration key are read (`ZYNK_LOG` is the log
        // filter); others, such as the test suite's ZYNK_TEST_*, are not configuration.
        let known = Config::top_level_keys();
        let vars: Vec<(String, String)> = env
            .into_iter()
            .filter(|(k, _)| {
                k.strip_prefix("ZYNK_").is_some_and(|rest| {
                    let top = rest.split("__").next().unwrap_or("").to_ascii_lowercase();
                    known.contains(&top)
                })
            })
            .collect();
        figment = figment.merge(EnvSnapshot { vars });
        let config: Config = figment.extract().map_err(|e| ConfigError(describe(e)))?;
        config.validate()?;
        Ok(config)
    }

    /// The names of the top-level keys (from the defaults, so they never drift from the struct).
    fn top_level_keys() -> Vec<String> {
        let mut keys: Vec<String> = match figment::value::Value::serialize(Config::default()) {
            Ok(figment::value::Value::Dict(_, dict)) => dict.keys().cloned().collect(),
            _ => Vec::new(),
        };
        // Optional keys whose default is unset are absent from the serialised defaults.
        keys.extend(["database_url", "redis_url", "ledger_key_file"].map(str::to_owned));
        keys
    }

    /// Loads from the process environment.
    pub fn from_process_env(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load(file, std::env::vars())
    }
}

/// `ZYNK_*` variables captured once, so loading is deterministic and testable.
struct EnvSnapshot {
    vars: Vec<(String, String)>,
}

impl figment::Provider for EnvSnapshot {
    fn metadata(&self) -> figment::Metadata {
        figment::Metadata::named("ZYNK_ environment variable(s)")
    }

    fn data(
        &self,
    ) -> Result<figment::value::Map<figment::Profile, figment::value::Dict>, figment::Error> {
        let mut dict = figment::value::Dict::new();
        for (name, value) in &self.vars {
            let Some(rest) = name.strip_prefix("ZYNK_") else {
                continue;
            };
            let path: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
            let parsed = value
                .parse::<figment::value::Value>()
                .unwrap_or_else(|_| figment::value::Value::from(value.clone()));
            insert_path(&mut dict, &path, parsed);
        }
        Ok(figment::Profile::Default.collect(dict))
    }
}

fn insert_path(dict: &mut figment::value::Dict, path: &[String], value: figment::value::Value) {
    match path {
        [] => {}
        [last] => {
            dict.insert(last.clone(), value);
        }
        [first, rest @ ..] => {
            let entry = dict
                .entry(first.clone())
                .or_insert_with(|| figment::value::Value::from(figment::value::Dict::new()));
            if let figment::value::Value::Dict(_, inner) = entry {
                insert_path(inner, rest, value);
            }
        }
    }
}

fn describe(err: figment::Error) -> String {
    err.into_iter()
        .map(|e| {
            let key = if e.path.is_empty() {
                "<root>".to_owned()
            } else {
                e.path.join(".")
            };
            let source = e
                .metadata
                .as_ref()
                .map(
                    |m| match &e.metadata.as_ref().and_then(|m| m.source.as_ref()) {
                        Some(src) => format!(" (from {} {src})", m.name),
                        None => format!(" (from {})", m.name),
                    },
                )
                .unwrap_or_default();
            format!("key `{key}`: {}{source}", e.kind)
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_are_the_embedded_default() {
        let config = Config::load(None, vars(&[])).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.data_dir, PathBuf::from("./zynk-data"));
        assert_eq!(
            config.effective_database_url(),
            "sqlite://./zynk-data/zynk.db"
        );
        assert!(config.redis_url.is_none());
        assert_eq!(config.auth.pbkdf2_iterations, 600_000);
    }

    #[test]
    fn env_overrides_file_overrides_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("zynk.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9000\"\n[auth]\npbkdf2_iterations = 700000\n",
        )
        .unwrap();
        let config = Config::load(
            Some(&file),
            vars(&[
                ("ZYNK_LISTEN", "0.0.0.0:9999"),
                ("ZYNK_DATA_DIR", "/var/lib/zynk"),
                ("ZYNK_DATABASE_URL", "postgres://zynk@localhost/zynk"),
                ("ZYNK_REDIS_URL", "redis://127.0.0.1:6379"),
                ("ZYNK_RATE_LIMITS__PER_IP", "7"),
                ("OTHER", "ignored"),
            ]),
        )
        .unwrap();
        assert_eq!(config.listen.to_string(), "0.0.0.0:9999");
        assert_eq!(config.data_dir, PathBuf::from("/var/lib/zynk"));
        assert_eq!(
            config.database_url.as_deref(),
            Some("postgres://zynk@localhost/zynk")
        );
        assert_eq!(config.redis_url.as_deref(), Some("redis://127.0.0.1:6379"));
        assert_eq!(config.auth.pbkdf2_iterations, 700_000);
        assert_eq!(config.rate_limits.per_ip, 7);
    }

    #[test]
    fn invalid_values_name_the_key() {
        let err = Config::load(None, vars(&[("ZYNK_LISTEN", "not-an-address")])).unwrap_err();
        assert!(err.to_string().contains("listen"), "{err}");
        let err = Config::load(None, vars(&[("ZYNK_DATABASE_URL", "mysql://x")])).unwrap_err();
        assert!(err.to_string().contains("database_url"), "{err}");
        let err = Config::load(None, vars(&[("ZYNK_AUTH__PBKDF2_ITERATIONS", "10")])).unwrap_err();
        assert!(err.to_string().contains("auth.pbkdf2_iterations"), "{err}");
        let err = Config::load(None, vars(&[("ZYNK_AUTH__NO_SUCH_KEY", "1")])).unwrap_err();
        assert!(err.to_string().contains("no_such_key"), "{err}");
        let err = Config::load(None, vars(&[("ZYNK_REDIS_URL", "rediss://h")])).unwrap_err();
        assert!(err.to_string().contains("redis_url"), "{err}");
        let err = Config::load(None, vars(&[("ZYNK_RETENTION__INTERVAL_SECS", "0")])).unwrap_err();
        assert!(err.to_string().contains("retention.interval_secs"), "{err}");
    }

    #[test]
    fn web_settings_load_from_the_environment_and_bad_origins_are_refused() {
        let config = Config::load(None, vars(&[])).unwrap();
        assert!(config.web.enabled);
        assert!(config.web.cors_allowed_origins.is_empty());
        let config = Config::load(
            None,
            vars(&[
                ("ZYNK_WEB__ENABLED", "false"),
                (
                    "ZYNK_WEB__CORS_ALLOWED_ORIGINS",
                    "[\"https://chat.example\", \"http://127.0.0.1:3000\"]",
                ),
            ]),
        )
        .unwrap();
        assert!(!config.web.enabled);
        assert_eq!(
            config.web.cors_allowed_origins,
            ["https://chat.example", "http://127.0.0.1:3000"]
        );
        for bad in [
            "[\"*\"]",
            "[\"chat.example\"]",
            "[\"https://chat.example/app\"]",
        ] {
            let err =
                Config::load(None, vars(&[("ZYNK_WEB__CORS_ALLOWED_ORIGINS", bad)])).unwrap_err();
            assert!(
                err.to_string().contains("web.cors_allowed_origins"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn unrelated_zynk_variables_are_ignored() {
        let config = Config::load(
            None,
            vars(&[
                ("ZYNK_TEST_POSTGRES_URL", "postgres://x"),
                ("ZYNK_KILL_SEED", "5"),
            ]),
        )
        .unwrap();
        assert_eq!(config, Config::default());
    }
}
