//! A real local EVM node (anvil, from the npm package pinned in `tools/`) with a deployed
//! `ZynkRegistry`, for tests of `chain = "evm"`.

use std::path::PathBuf;

use alloy::node_bindings::{Anvil, AnvilInstance};
use zynk_server::Config;
use zynk_server::config::ChainKind;

/// The anvil binary: `ZYNK_ANVIL`, else `tools/node_modules/...` (installed by
/// `npm ci --prefix tools`, which `scripts/test.sh` runs). Panics, never skips, when missing.
pub fn anvil_path() -> PathBuf {
    let path = match std::env::var_os("ZYNK_ANVIL") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../tools/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"),
    };
    assert!(
        path.is_file(),
        "anvil not found at {}: run `npm ci --prefix tools` in the repository root (scripts/test.sh \
         does), or set ZYNK_ANVIL",
        path.display()
    );
    path
}

/// A running anvil with the registry deployed by its first dev account.
pub struct EvmChain {
    anvil: AnvilInstance,
    /// The registry's address.
    pub contract: zynk_evm::Address,
    /// The owner's private key.
    pub key: [u8; 32],
    /// A directory holding the key file.
    dir: tempfile::TempDir,
}

impl EvmChain {
    /// Starts anvil (mining each transaction at once) and deploys the registry.
    pub async fn start() -> Self {
        zynk_evm::install_tls_provider();
        let anvil = Anvil::at(anvil_path()).try_spawn().expect("spawning anvil");
        let mut key = [0u8; 32];
        key.copy_from_slice(&anvil.keys()[0].to_bytes());
        let contract = zynk_evm::EvmRegistry::deploy(&anvil.endpoint(), &key)
            .await
            .expect("deploying ZynkRegistry");
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("evm-signer.key"), hex::encode(key)).expect("key file");
        Self {
            anvil,
            contract,
            key,
            dir,
        }
    }

    /// The JSON-RPC endpoint.
    pub fn rpc_url(&self) -> String {
        self.anvil.endpoint()
    }

    /// The chain id.
    pub fn chain_id(&self) -> u64 {
        self.anvil.chain_id()
    }

    /// Points `config` at this chain (`chain = "evm"`, publishing every 100 ms).
    pub fn configure(&self, config: &mut Config) {
        config.chain = ChainKind::Evm;
        config.evm.rpc_url = Some(self.rpc_url());
        config.evm.contract = Some(self.contract.to_string());
        config.evm.key_file = Some(self.dir.path().join("evm-signer.key"));
        config.evm.chain_id = Some(self.chain_id());
        config.evm.poll_interval_ms = 100;
    }

    /// Turns mining of each transaction on arrival on or off (off: transactions stay pending
    /// until [`Self::mine`]).
    pub async fn set_automine(&self, on: bool) {
        use alloy::providers::{Provider, ProviderBuilder};
        let provider = ProviderBuilder::new().connect_http(self.anvil.endpoint_url());
        let _: serde_json::Value = provider
            .raw_request("evm_setAutomine".into(), (on,))
            .await
            .expect("evm_setAutomine");
    }

    /// Mines `blocks` blocks.
    pub async fn mine(&self, blocks: u64) {
        use alloy::providers::{Provider, ProviderBuilder};
        let provider = ProviderBuilder::new().connect_http(self.anvil.endpoint_url());
        for _ in 0..blocks {
            let _: serde_json::Value = provider
                .raw_request("evm_mine".into(), ())
                .await
                .expect("evm_mine");
        }
    }

    /// A registry client (to read back what was recorded).
    pub async fn registry(&self) -> zynk_evm::EvmRegistry {
        let config = zynk_evm::EvmConfig::new(self.rpc_url(), self.key, Some(self.contract));
        zynk_evm::EvmRegistry::connect(&config)
            .await
            .expect("connecting to the registry")
    }
}
