//! [`EvmRegistry`]: deploying, connecting to, writing to and reading the registry contract.

use std::fmt;
use std::time::Duration;

use alloy::consensus::TxEnvelope;
use alloy::consensus::transaction::SignerRecoverable;
use alloy::eips::eip2718::{Decodable2718, Encodable2718};
use alloy::network::{EthereumWallet, NetworkTransactionBuilder, TransactionBuilder};
use alloy::primitives::{Bytes, FixedBytes, TxKind};
use alloy::providers::{Provider, RootProvider};
use alloy::rpc::types::{BlockNumberOrTag, TransactionReceipt, TransactionRequest};
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolEventInterface;
use alloy::transports::RpcError;

use crate::bindings::ZynkRegistry;
use crate::error::{contract_error, rpc_error};
use crate::transport::connect_provider;
use crate::{
    Address, B256, DEFAULT_RPC_TIMEOUT, EvmConfig, EvmError, EvmReceipt, PreparedTx, RegistryCall,
    RegistryEvent,
};

/// A connection to a deployed `ZynkRegistry`, with the signer that writes to it.
pub struct EvmRegistry {
    provider: RootProvider,
    wallet: EthereumWallet,
    from: Address,
    contract: Address,
    chain_id: u64,
    confirmations: u64,
    url: String,
}

impl fmt::Debug for EvmRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EvmRegistry")
            .field("url", &self.url)
            .field("chain_id", &self.chain_id)
            .field("contract", &self.contract)
            .field("from", &self.from)
            .field("confirmations", &self.confirmations)
            .finish()
    }
}
fn signer_from(key: &[u8; 32]) -> Result<PrivateKeySigner, EvmError> {
    PrivateKeySigner::from_bytes(&B256::from(*key)).map_err(|_| EvmError::InvalidSignerKey)
}
/// Fee fields for a transaction: EIP-1559 where the chain has a base fee, legacy otherwise.
enum Fees {
    Eip1559 {
        max_fee: u128,
        max_priority_fee: u128,
    },
    Legacy {
        gas_price: u128,
    },
}

async fn fees(provider: &RootProvider, url: &str) -> Result<Fees, EvmError> {
    match provider.estimate_eip1559_fees().await {
        Ok(est) => Ok(Fees::Eip1559 {
            max_fee: est.max_fee_per_gas,
            max_priority_fee: est.max_priority_fee_per_gas,
        }),
        Err(RpcError::UnsupportedFeature(_)) => {
            let gas_price = provider
                .get_gas_price()
                .await
                .map_err(|e| rpc_error(url, "eth_gasPrice", e))?;
            Ok(Fees::Legacy { gas_price })
        }
        Err(e) => Err(rpc_error(url, "eth_feeHistory", e)),
    }
}

fn apply_fees(tx: TransactionRequest, fees: &Fees) -> TransactionRequest {
    match *fees {
        Fees::Eip1559 {
            max_fee,
            max_priority_fee,
        } => tx
            .with_max_fee_per_gas(max_fee)
            .with_max_priority_fee_per_gas(max_priority_fee),
        Fees::Legacy { gas_price } => tx.with_gas_price(gas_price),
    }
}

/// The deployed code of the registry has the owner address where the compiler output has zero
/// bytes (the `immutable`); everything else, the metadata hash at the end included, must match.
fn is_registry_code(code: &[u8]) -> bool {
    let expected: &[u8] = &ZynkRegistry::DEPLOYED_BYTECODE;
    code.len() == expected.len() && code.iter().zip(expected).all(|(c, e)| c == e || *e == 0)
}

impl EvmRegistry {
    /// Connects to the registry at [`EvmConfig::contract`]: reads the chain id (checking it
    /// against [`EvmConfig::chain_id`] when set) and checks that the address holds the
    /// `ZynkRegistry` code this crate was built with.
    pub async fn connect(config: &EvmConfig) -> Result<Self, EvmError> {
        let contract = config.contract.ok_or(EvmError::NoContract)?;
        let signer = signer_from(&config.signer_key)?;
        let (provider, url) = connect_provider(&config.rpc_url, config.rpc_timeout)?;
        let chain_id = provider
            .get_chain_id()
            .await
            .map_err(|e| rpc_error(&url, "eth_chainId", e))?;
        if let Some(expected) = config.chain_id
            && expected != chain_id
        {
            return Err(EvmError::WrongChain {
                expected,
                actual: chain_id,
            });
        }
        let code = provider
            .get_code_at(contract)
            .await
            .map_err(|e| rpc_error(&url, "eth_getCode", e))?;
        if code.is_empty() {
            return Err(EvmError::NoCode {
                address: contract,
                chain_id,
            });
        }
        if !is_registry_code(&code) {
            return Err(EvmError::NotRegistry {
                address: contract,
                chain_id,
            });
        }
        let from = signer.address();
        Ok(Self {
            provider,
            wallet: EthereumWallet::from(signer),
            from,
            contract,
            chain_id,
            confirmations: config.confirmations.max(1),
            url,
        })
    }

    /// Deploys a new registry owned by `signer_key` and waits until the deployment is mined.
    /// Returns its address, to be stored as [`EvmConfig::contract`]. The signer pays the gas
    /// (632,000 on anvil 1.7.1).
    pub async fn deploy(rpc_url: &str, signer_key: &[u8; 32]) -> Result<Address, EvmError> {
        const POLL: Duration = Duration::from_millis(250);
        const WAIT: Duration = Duration::from_secs(600);
        let signer = signer_from(signer_key)?;
        let from = signer.address();
        let wallet = EthereumWallet::from(signer);
        let (provider, url) = connect_provider(rpc_url, DEFAULT_RPC_TIMEOUT)?;
        let chain_id = provider
            .get_chain_id()
            .await
            .map_err(|e| rpc_error(&url, "eth_chainId", e))?;
        let nonce = provider
            .get_transaction_count(from)
            .pending()
            .await
            .map_err(|e| rpc_error(&url, "eth_getTransactionCount", e))?;
        let fees = fees(&provider, &url).await?;
        let deploy_tx = TransactionRequest::default()
            .with_from(from)
            .with_kind(TxKind::Create)
            .with_input(ZynkRegistry::BYTECODE.clone())
            .with_nonce(nonce)
            .with_chain_id(chain_id);
        let gas = provider
            .estimate_gas(deploy_tx.clone())
            .await
            .map_err(|e| rpc_error(&url, "eth_estimateGas", e))?;
        let deploy_tx = apply_fees(deploy_tx.with_gas_limit(gas + gas / 5), &fees);
        let envelope: TxEnvelope = deploy_tx
            .build(&wallet)
            .await
            .map_err(|e| EvmError::Signing(e.to_string()))?;
        let hash = *envelope.tx_hash();
        let _pending = provider
            .send_raw_transaction(&envelope.encoded_2718())
            .await
            .map_err(|e| rpc_error(&url, "eth_sendRawTransaction", e))?;
        let started = std::time::Instant::now();
        let receipt = loop {
            let receipt = provider
                .get_transaction_receipt(hash)
                .await
                .map_err(|e| rpc_error(&url, "eth_getTransactionReceipt", e))?;
            if let Some(r) = receipt {
                break r;
            }
            if started.elapsed() > WAIT {
                return Err(EvmError::Deploy(format!(
                    "transaction {hash} not mined after {} s",
                    WAIT.as_secs()
                )));
            }
            tokio::time::sleep(POLL).await;
        };
        if !receipt.status() {
            return Err(EvmError::Deploy(format!("transaction {hash} reverted")));
        }
        receipt.contract_address.ok_or_else(|| {
            EvmError::Deploy(format!("the receipt of {hash} has no contract address"))
        })
    }

    /// The chain id of the endpoint.
    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// The registry's address.
    pub fn contract(&self) -> Address {
        self.contract
    }

    /// The signer's address.
    pub fn from(&self) -> Address {
        self.from
    }

    /// Confirmations [`EvmRegistry::receipt`] waits for (at least 1).
    pub fn confirmations(&self) -> u64 {
        self.confirmations
    }

    /// The registry's owner, the only address whose writes succeed.
    pub async fn owner(&self) -> Result<Address, EvmError> {
        ZynkRegistry::new(self.contract, &self.provider)
            .owner()
            .call()
            .await
            .map_err(|e| contract_error(&self.url, "owner()", e))
    }

    /// The signer's next nonce, counting its pending transactions.
    pub async fn next_nonce(&self) -> Result<u64, EvmError> {
        self.provider
            .get_transaction_count(self.from)
            .pending()
            .await
            .map_err(|e| rpc_error(&self.url, "eth_getTransactionCount", e))
    }

    /// Builds and signs the transaction for `call` at `nonce`, without sending it. Fees come
    /// from the node; the gas limit is [`RegistryCall::gas_limit`]. Fails with
    /// [`EvmError::InvalidCall`] for a call the contract would certainly revert.
    pub async fn prepare(&self, call: &RegistryCall, nonce: u64) -> Result<PreparedTx, EvmError> {
        call.validate()?;
        let fees = fees(&self.provider, &self.url).await?;
        let gas_limit = call.gas_limit();
        let tx = TransactionRequest::default()
            .with_from(self.from)
            .with_to(self.contract)
            .with_input(Bytes::from(call.calldata()))
            .with_nonce(nonce)
            .with_chain_id(self.chain_id)
            .with_gas_limit(gas_limit);
        let envelope: TxEnvelope = apply_fees(tx, &fees)
            .build(&self.wallet)
            .await
            .map_err(|e| EvmError::Signing(e.to_string()))?;
        Ok(PreparedTx {
            hash: envelope.tx_hash().0,
            raw: envelope.encoded_2718(),
            nonce,
            to: self.contract,
            from: self.from,
            gas_limit,
        })
    }

    /// Sends a signed transaction (a [`PreparedTx::raw`]). Idempotent: when the node refuses
    /// it but already knows it (pending or mined), that is success. Returns the hash.
    pub async fn broadcast(&self, raw: &[u8]) -> Result<[u8; 32], EvmError> {
        let envelope = TxEnvelope::decode_2718(&mut &raw[..])
            .map_err(|e| EvmError::MalformedTx(e.to_string()))?;
        let hash = *envelope.tx_hash();
        let err = match self.provider.send_raw_transaction(raw).await {
            Ok(pending) => {
                if *pending.tx_hash() != hash {
                    return Err(EvmError::BadResponse {
                        during: "eth_sendRawTransaction",
                        message: format!(
                            "the node answered hash {}, the transaction's is {hash}",
                            pending.tx_hash()
                        ),
                    });
                }
                return Ok(hash.0);
            }
            Err(e) => e,
        };
        let message = match err {
            RpcError::ErrorResp(payload) => payload.message.to_string(),
            other => return Err(rpc_error(&self.url, "eth_sendRawTransaction", other)),
        };
        if self.is_known(hash.0).await? {
            return Ok(hash.0);
        }
        let from = envelope
            .recover_signer()
            .map_err(|e| EvmError::MalformedTx(e.to_string()))?;
        let nonce = alloy::consensus::Transaction::nonce(&envelope);
        let mined = self
            .provider
            .get_transaction_count(from)
            .await
            .map_err(|e| rpc_error(&self.url, "eth_getTransactionCount", e))?;
        if mined > nonce {
            // Mined between the refusal and the count, or another transaction took the nonce.
            if self.is_known(hash.0).await? {
                return Ok(hash.0);
            }
            return Err(EvmError::NonceUsed { hash, nonce, from });
        }
        Err(EvmError::Rejected { hash, message })
    }

    /// Whether the node knows the transaction, pending or mined.
    pub async fn is_known(&self, hash: [u8; 32]) -> Result<bool, EvmError> {
        let tx = self
            .provider
            .get_transaction_by_hash(B256::from(hash))
            .await
            .map_err(|e| rpc_error(&self.url, "eth_getTransactionByHash", e))?;
        Ok(tx.is_some())
    }

    /// The receipt of a transaction once it is mined with [`EvmRegistry::confirmations`]
    /// confirmations on the canonical chain; `None` before that (unknown, pending, or not yet
    /// confirmed enough).
    pub async fn receipt(&self, hash: [u8; 32]) -> Result<Option<EvmReceipt>, EvmError> {
        let receipt: Option<TransactionReceipt> = self
            .provider
            .get_transaction_receipt(B256::from(hash))
            .await
            .map_err(|e| rpc_error(&self.url, "eth_getTransactionReceipt", e))?;
        let Some(receipt) = receipt else {
            return Ok(None);
        };
        let (Some(block_number), Some(block_hash)) = (receipt.block_number, receipt.block_hash)
        else {
            return Ok(None); // some nodes answer pending receipts
        };
        let head = self
            .provider
            .get_block_number()
            .await
            .map_err(|e| rpc_error(&self.url, "eth_blockNumber", e))?;
        let confirmations = (head + 1).saturating_sub(block_number);
        if confirmations < self.confirmations {
            return Ok(None);
        }
        // A receipt from a block reorganised away: the transaction will be in another block.
        let canonical = self
            .provider
            .get_block_by_number(BlockNumberOrTag::Number(block_number))
            .await
            .map_err(|e| rpc_error(&self.url, "eth_getBlockByNumber", e))?;
        if canonical.map(|b| b.header.hash) != Some(block_hash) {
            return Ok(None);
        }
        let mut events = Vec::new();
        let mut log_index = None;
        for log in receipt.inner.logs() {
            if log.address() != self.contract {
                continue;
            }
            let decoded =
                ZynkRegistry::ZynkRegistryEvents::decode_log(&log.inner).map_err(|e| {
                    EvmError::BadResponse {
                        during: "decoding a registry event",
                        message: e.to_string(),
                    }
                })?;
            log_index = log_index.or(log.log_index);
            events.push(RegistryEvent::from_binding(decoded.data));
        }
        Ok(Some(EvmReceipt {
            tx_hash: hash,
            success: receipt.status(),
            block_number,
            block_hash: block_hash.0,
            gas_used: receipt.gas_used,
            effective_gas_price: receipt.effective_gas_price,
            confirmations,
            log_index,
            events,
        }))
    }

    /// The root anchored at `height` and its tree size, `None` when none is.
    pub async fn anchored_root(&self, height: u64) -> Result<Option<([u8; 32], u64)>, EvmError> {
        let r = ZynkRegistry::new(self.contract, &self.provider)
            .roots(height)
            .call()
            .await
            .map_err(|e| contract_error(&self.url, "roots()", e))?;
        Ok((r.root != FixedBytes::ZERO).then_some((r.root.0, r.treeSize)))
    }

    /// The current key of `did`, `None` when none was registered.
    pub async fn identity_key(&self, did: &str) -> Result<Option<[u8; 32]>, EvmError> {
        let key = ZynkRegistry::new(self.contract, &self.provider)
            .identityKey(did.to_string())
            .call()
            .await
            .map_err(|e| contract_error(&self.url, "identityKey()", e))?;
        Ok((key != FixedBytes::ZERO).then_some(key.0))
    }

    /// The current trust score of `did`, `None` when none was recorded.
    pub async fn trust_score(&self, did: &str) -> Result<Option<u8>, EvmError> {
        let r = ZynkRegistry::new(self.contract, &self.provider)
            .trustScore(did.to_string())
            .call()
            .await
            .map_err(|e| contract_error(&self.url, "trustScore()", e))?;
        Ok(r.isSet.then_some(r.score))
    }

    /// Whether the registry applied the write of ledger transaction `ledger_tx`.
    pub async fn recorded(&self, ledger_tx: [u8; 32]) -> Result<bool, EvmError> {
        ZynkRegistry::new(self.contract, &self.provider)
            .recorded(B256::from(ledger_tx))
            .call()
            .await
            .map_err(|e| contract_error(&self.url, "recorded()", e))
    }
}
