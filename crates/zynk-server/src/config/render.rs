//! The configuration as TOML: the example file (`zynkd config example`) and the configuration in
//! force with passwords hidden (`zynkd config show`).

use super::Config;

impl Config {
    /// The configuration as TOML with passwords in URLs replaced by `***`.
    pub fn to_redacted_toml(&self) -> Result<String, toml::ser::Error> {
        let mut shown = self.clone();
        shown.database_url = shown.database_url.as_deref().map(redact_url);
        shown.redis_url = shown.redis_url.as_deref().map(redact_url);
        shown.push.webhook_url = shown.push.webhook_url.as_deref().map(redact_url);
        shown.evm.rpc_url = shown.evm.rpc_url.as_deref().map(redact_url);
        shown.files.storage_url = shown.files.storage_url.as_deref().map(redact_url);
        if shown.turn.shared_secret.is_some() {
            shown.turn.shared_secret = Some("***".into());
        }
        toml::to_string_pretty(&shown)
    }

    /// The example configuration file: every key with its default and its documentation.
    pub fn example_toml() -> String {
        include_str!("../../../../docs/zynk.example.toml").to_owned()
    }
}

/// `url` with the password of its user-info part replaced by `***`.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_configuration_hides_passwords() {
        let config = Config {
            database_url: Some("postgres://zynk:s3cret@db:5432/zynk".into()),
            ..Config::default()
        };
        let shown = config.to_redacted_toml().unwrap();
        assert!(
            shown.contains("postgres://zynk:***@db:5432/zynk"),
            "{shown}"
        );
        assert!(!shown.contains("s3cret"));
    }

    #[test]
    fn example_config_documents_every_key() {
        fn keys(prefix: &str, value: &toml::Value, out: &mut Vec<String>) {
            if let toml::Value::Table(table) = value {
                for (k, v) in table {
                    let path = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    match v {
                        toml::Value::Table(_) if k != "per_ip_endpoints" => keys(&path, v, out),
                        _ => out.push(path),
                    }
                }
            }
        }
        let mut all = Vec::new();
        let defaults = toml::Value::try_from(Config::default()).unwrap();
        keys("", &defaults, &mut all);
        all.extend(
            [
                "database_url",
                "redis_url",
                "ledger_key_file",
                "push.webhook_url",
                "files.storage_url",
                "turn.shared_secret",
            ]
            .map(str::to_owned),
        );
        let example = Config::example_toml();
        for key in all {
            let name = key.rsplit('.').next().unwrap();
            let present = example.lines().any(|l| {
                let l = l.trim_start_matches('#').trim();
                l.starts_with(&format!("{name} =")) || l == format!("[{key}]")
            });
            assert!(present, "docs/zynk.example.toml does not document `{key}`");
        }
    }

    #[test]
    fn example_config_parses_to_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("zynk.toml");
        std::fs::write(&file, Config::example_toml()).unwrap();
        let config = Config::load(Some(&file), std::iter::empty()).unwrap();
        assert_eq!(config, Config::default());
    }
}
