// SPDX-License-Identifier: AGPL-3.0-only
pragma solidity ^0.8.24;

/// @title ZynkRegistry
/// @notice Public mirror of a Zynk ledger: identity keys, trust scores, Merkle roots and
///         credential issuances, written by one Zynk server (the deployer).
/// @dev Every write carries `ledgerTx`, the Zynk ledger's own SHA-256 transaction hash. A write
///      whose `ledgerTx` was recorded before is a no-op: it neither reverts nor emits an event, so
///      a publisher may resend after a crash without double effects. Writes that change nothing
///      (the same key registered again, the same root anchored again under a new `ledgerTx`)
///      record `ledgerTx` and emit nothing.
contract ZynkRegistry {
    struct Root {
        bytes32 root;
        uint64 treeSize;
    }

    struct Score {
        uint8 score;
        bool isSet;
    }

    /// @notice The only address allowed to write: the deployer. It cannot be changed.
    address public immutable owner;

    /// @notice True once a ledger transaction hash has been applied.
    mapping(bytes32 => bool) public recorded;

    mapping(bytes32 => bytes32) private _keys; // keccak256(did) => Ed25519 public key
    mapping(bytes32 => Score) private _scores; // keccak256(did) => trust score
    mapping(uint64 => Root) private _roots; // ledger height => anchored root

    /// @notice First key registered for a DID.
    event IdentityRegistered(bytes32 indexed ledgerTx, string did, bytes32 publicKey);
    /// @notice A DID that already had a key now has another one.
    event IdentityKeyRotated(bytes32 indexed ledgerTx, string did, bytes32 oldKey, bytes32 newKey);
    event TrustScoreUpdated(
        bytes32 indexed ledgerTx, string did, uint8 oldScore, uint8 newScore, uint8 reason
    );
    event RootAnchored(
        bytes32 indexed ledgerTx, uint64 indexed height, bytes32 root, uint64 treeSize
    );
    event CredentialIssued(
        bytes32 indexed ledgerTx, bytes32 indexed credentialHash, string subjectDid
    );

    error NotOwner(address caller);
    error ZeroLedgerTx();
    error EmptyDid();
    error ZeroKey();
    error ZeroRoot();
    error ScoreOutOfRange(uint8 score);
    error RootConflict(uint64 height, bytes32 anchoredRoot, uint64 anchoredTreeSize);

    constructor() {
        owner = msg.sender;
    }

    /// @dev Owner check first (a stranger is refused even for a recorded ledgerTx), then the
    ///      idempotency check: returns false when `ledgerTx` was applied before.
    function _claim(bytes32 ledgerTx) private returns (bool) {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        if (ledgerTx == bytes32(0)) revert ZeroLedgerTx();
        if (recorded[ledgerTx]) return false;
        recorded[ledgerTx] = true;
        return true;
    }

    function registerIdentity(bytes32 ledgerTx, string calldata did, bytes32 publicKey) external {
        if (!_claim(ledgerTx)) return;
        if (bytes(did).length == 0) revert EmptyDid();
        if (publicKey == bytes32(0)) revert ZeroKey();
        bytes32 id = keccak256(bytes(did));
        bytes32 old = _keys[id];
        if (old == publicKey) return;
        _keys[id] = publicKey;
        if (old == bytes32(0)) {
            emit IdentityRegistered(ledgerTx, did, publicKey);
        } else {
            emit IdentityKeyRotated(ledgerTx, did, old, publicKey);
        }
    }

    /// @dev `oldScore` is the ledger's own before-value, recorded as given (the ledger is the
    ///      source of truth; this contract mirrors it).
    function updateTrustScore(
        bytes32 ledgerTx,
        string calldata did,
        uint8 oldScore,
        uint8 newScore,
        uint8 reason
    ) external {
        if (!_claim(ledgerTx)) return;
        if (bytes(did).length == 0) revert EmptyDid();
        if (newScore > 100) revert ScoreOutOfRange(newScore);
        _scores[keccak256(bytes(did))] = Score(newScore, true);
        emit TrustScoreUpdated(ledgerTx, did, oldScore, newScore, reason);
    }

    /// @dev A height can be anchored once. The same (root, treeSize) again is a silent no-op;
    ///      anything else reverts with RootConflict.
    function anchorRoot(bytes32 ledgerTx, uint64 height, bytes32 root, uint64 treeSize) external {
        if (!_claim(ledgerTx)) return;
        if (root == bytes32(0)) revert ZeroRoot();
        Root storage r = _roots[height];
        if (r.root != bytes32(0)) {
            if (r.root == root && r.treeSize == treeSize) return;
            revert RootConflict(height, r.root, r.treeSize);
        }
        r.root = root;
        r.treeSize = treeSize;
        emit RootAnchored(ledgerTx, height, root, treeSize);
    }

    function issueCredential(bytes32 ledgerTx, bytes32 credentialHash, string calldata subjectDid)
        external
    {
        if (!_claim(ledgerTx)) return;
        if (bytes(subjectDid).length == 0) revert EmptyDid();
        emit CredentialIssued(ledgerTx, credentialHash, subjectDid);
    }

    /// @notice The current key of a DID; zero when none was registered.
    function identityKey(string calldata did) external view returns (bytes32) {
        return _keys[keccak256(bytes(did))];
    }

    /// @notice The current trust score of a DID; `isSet` is false when none was recorded.
    function trustScore(string calldata did) external view returns (uint8 score, bool isSet) {
        Score memory s = _scores[keccak256(bytes(did))];
        return (s.score, s.isSet);
    }

    /// @notice The root anchored at a height; zero root when none.
    function roots(uint64 height) external view returns (bytes32 root, uint64 treeSize) {
        Root memory r = _roots[height];
        return (r.root, r.treeSize);
    }
}
