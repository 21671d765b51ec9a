//! RFC 9162 (formerly RFC 6962) Merkle trees over SHA-256: tree hashes, inclusion proofs
//! (§2.1.3) and consistency proofs (§2.1.4), with generation and verification.
//!
//! Hashing: a leaf is `SHA-256(0x00 ‖ data)`, an interior node is `SHA-256(0x01 ‖ left ‖ right)`,
//! a tree of `n > 1` leaves splits at the largest power of two strictly below `n`, and the empty
//! tree hashes to `SHA-256("")`. Odd nodes are never duplicated and pairs are never sorted.
//!
//! [`MerkleTree`] computes every level once. Level `k + 1` holds `node(a, b)` for each pair of
//! level `k` and carries a lone last node up unchanged, which yields exactly the RFC tree; proofs
//! for the full tree are then read from the stored levels without hashing.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::types::Hash32;

/// Longest inclusion or consistency path any `u64`-sized tree can need. Verifiers reject longer
/// input before hashing anything.
pub const MAX_PATH_LEN: usize = 64;

const LEAF_PREFIX: u8 = 0x00;
const NODE_PREFIX: u8 = 0x01;

/// Which side of the running hash a sibling sits on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// The sibling is the left input: `node(sibling, current)`.
    Left,
    /// The sibling is the right input: `node(current, sibling)`.
    Right,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Left => "left",
            Side::Right => "right",
        })
    }
}

/// Why a Merkle operation failed. Every variant carries the numbers involved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MerkleError {
    /// `index` is not below the tree size.
    #[error("leaf index out of range: expected below {size}, got {index}")]
    IndexOutOfRange {
        /// Leaf index asked for.
        index: u64,
        /// Tree size it was checked against.
        size: u64,
    },
    /// A proof was asked for a tree larger than the leaves held.
    #[error("tree size out of range: expected at most {available}, got {requested}")]
    SizeOutOfRange {
        /// Size asked for.
        requested: u64,
        /// Leaves held.
        available: u64,
    },
    /// A path is longer than [`MAX_PATH_LEN`].
    #[error("path too long: expected at most {max} entries, got {got}", max = MAX_PATH_LEN)]
    PathTooLong {
        /// Entries supplied.
        got: usize,
    },
    /// An inclusion path has the wrong number of entries for its index and tree size.
    #[error("inclusion path length: expected {expected}, got {got}")]
    PathLength {
        /// Entries the index and size require.
        expected: usize,
        /// Entries supplied.
        got: usize,
    },
    /// The recomputed root differs from the trusted one.
    #[error("root mismatch: expected {expected}, got {got}")]
    RootMismatch {
        /// Root the proof was checked against.
        expected: Hash32,
        /// Root the proof recomputes to.
        got: Hash32,
    },
    /// A consistency proof was asked or given for a shrinking tree.
    #[error("consistency: old size {old} is larger than new size {new}")]
    OldSizeLarger {
        /// Old tree size.
        old: u64,
        /// New tree size.
        new: u64,
    },
    /// A consistency proof has the wrong number of entries for its sizes.
    #[error("consistency proof length: expected {expected}, got {got}")]
    ConsistencyLength {
        /// Entries the sizes require.
        expected: usize,
        /// Entries supplied.
        got: usize,
    },
    /// The consistency proof does not reproduce the old root.
    #[error("consistency old root mismatch: expected {expected}, got {got}")]
    OldRootMismatch {
        /// Trusted old root.
        expected: Hash32,
        /// Old root recomputed from the proof.
        got: Hash32,
    },
    /// The consistency proof does not reproduce the new root.
    #[error("consistency new root mismatch: expected {expected}, got {got}")]
    NewRootMismatch {
        /// Trusted new root.
        expected: Hash32,
        /// New root recomputed from the proof.
        got: Hash32,
    },
}

/// Root of the empty tree: `SHA-256("")`.
pub fn empty_root() -> Hash32 {
    Hash32::sha256(b"")
}

/// Leaf hash `SHA-256(0x00 ‖ data)`.
pub fn leaf_hash(data: &[u8]) -> Hash32 {
    let mut h = Sha256::new();
    h.update([LEAF_PREFIX]);
    h.update(data);
    Hash32(h.finalize().into())
}

/// Interior node hash `SHA-256(0x01 ‖ left ‖ right)`.
pub fn node_hash(left: &Hash32, right: &Hash32) -> Hash32 {
    let mut buf = [0u8; 65];
    buf[0] = NODE_PREFIX;
    buf[1..33].copy_from_slice(&left.0);
    buf[33..].copy_from_slice(&right.0);
    Hash32(Sha256::digest(buf).into())
}

/// The RFC 9162 split point: the largest power of two strictly below `n`, for `n >= 2`.
/// Returns 0 for `n < 2`, where no split exists.
pub fn split_point(n: u64) -> u64 {
    if n < 2 {
        0
    } else {
        1u64 << (63 - (n - 1).leading_zeros())
    }
}

/// Root of the tree whose leaf hashes are `leaves`, without keeping the levels.
pub fn root_of(leaves: &[Hash32]) -> Hash32 {
    if leaves.is_empty() {
        return empty_root();
    }
    let mut level = leaves.to_vec();
    while level.len() > 1 {
        level = next_level(&level);
    }
    level[0]
}

fn next_level(level: &[Hash32]) -> Vec<Hash32> {
    let mut next = Vec::with_capacity(level.len().div_ceil(2));
    let pairs = level.chunks_exact(2);
    let lone = pairs.remainder().first().copied();
    next.extend(pairs.map(|p| node_hash(&p[0], &p[1])));
    next.extend(lone);
    next
}

/// The RFC 9162 §2.1.3.2 walk over `(fn, sn)`: yields, bottom-up, the side on which each
/// sibling of leaf `index` sits in a tree of `size` leaves. Positions are derived from the
/// numbers alone, so a verifier never has to trust positions written in a proof.
#[derive(Debug, Clone)]
pub struct InclusionWalk {
    fn_: u64,
    sn: u64,
}

impl InclusionWalk {
    /// Starts the walk.
    ///
    /// # Errors
    /// [`MerkleError::IndexOutOfRange`] when `index >= size`.
    pub fn new(index: u64, size: u64) -> Result<Self, MerkleError> {
        if index >= size {
            return Err(MerkleError::IndexOutOfRange { index, size });
        }
        Ok(Self {
            fn_: index,
            sn: size - 1,
        })
    }
}

impl Iterator for InclusionWalk {
    type Item = Side;

    fn next(&mut self) -> Option<Side> {
        if self.sn == 0 {
            return None;
        }
        let side = if self.fn_ & 1 == 1 || self.fn_ == self.sn {
            while self.fn_ & 1 == 0 && self.fn_ != 0 {
                self.fn_ >>= 1;
                self.sn >>= 1;
            }
            Side::Left
        } else {
            Side::Right
        };
        self.fn_ >>= 1;
        self.sn >>= 1;
        Some(side)
    }
}

/// Number of entries in the inclusion path of leaf `index` in a tree of `size` leaves.
///
/// # Errors
/// [`MerkleError::IndexOutOfRange`] when `index >= size`.
pub fn inclusion_path_len(index: u64, size: u64) -> Result<usize, MerkleError> {
    Ok(InclusionWalk::new(index, size)?.count())
}

/// Sibling sides, bottom-up, for leaf `index` in a tree of `size` leaves.
///
/// # Errors
/// [`MerkleError::IndexOutOfRange`] when `index >= size`.
pub fn inclusion_sides(index: u64, size: u64) -> Result<Vec<Side>, MerkleError> {
    Ok(InclusionWalk::new(index, size)?.collect())
}

/// Recomputes the root implied by an inclusion proof (RFC 9162 §2.1.3.2).
///
/// # Errors
/// [`MerkleError::IndexOutOfRange`] when `index >= size`, [`MerkleError::PathTooLong`] for more
/// than [`MAX_PATH_LEN`] entries, [`MerkleError::PathLength`] when the path length does not fit
/// the index and size.
pub fn root_from_inclusion(
    leaf: &Hash32,
    index: u64,
    size: u64,
    path: &[Hash32],
) -> Result<Hash32, MerkleError> {
    if path.len() > MAX_PATH_LEN {
        return Err(MerkleError::PathTooLong { got: path.len() });
    }
    let expected = inclusion_path_len(index, size)?;
    if path.len() != expected {
        return Err(MerkleError::PathLength {
            expected,
            got: path.len(),
        });
    }
    let mut r = *leaf;
    for (side, p) in InclusionWalk::new(index, size)?.zip(path) {
        r = match side {
            Side::Left => node_hash(p, &r),
            Side::Right => node_hash(&r, p),
        };
    }
    Ok(r)
}

/// Verifies that `leaf` (a leaf hash) is at `index` in the tree of `size` leaves with `root`.
///
/// # Errors
/// Those of [`root_from_inclusion`], and [`MerkleError::RootMismatch`] when the path leads to
/// another root.
pub fn verify_inclusion(
    leaf: &Hash32,
    index: u64,
    size: u64,
    path: &[Hash32],
    root: &Hash32,
) -> Result<(), MerkleError> {
    let got = root_from_inclusion(leaf, index, size, path)?;
    if got != *root {
        return Err(MerkleError::RootMismatch {
            expected: *root,
            got,
        });
    }
    Ok(())
}

/// Number of entries in the consistency proof from `old` to `new` leaves (RFC 9162 §2.1.4.1).
/// It is 0 when `old` is 0 or equals `new`.
///
/// # Errors
/// [`MerkleError::OldSizeLarger`] when `old > new`.
pub fn consistency_proof_len(old: u64, new: u64) -> Result<usize, MerkleError> {
    if old > new {
        return Err(MerkleError::OldSizeLarger { old, new });
    }
    if old == 0 {
        return Ok(0);
    }
    let (mut m, mut n, mut complete, mut len) = (old, new, true, 0usize);
    while m != n {
        let k = split_point(n);
        if m <= k {
            n = k;
        } else {
            m -= k;
            n -= k;
            complete = false;
        }
        len += 1;
    }
    Ok(len + usize::from(!complete))
}

/// Verifies that the tree of `old` leaves with `old_root` is a prefix of the tree of `new`
/// leaves with `new_root` (RFC 9162 §2.1.4.2).
///
/// An `old` size of 0 is accepted only with an empty proof and `old_root` equal to
/// [`empty_root`]; equal sizes need an empty proof and equal roots.
///
/// # Errors
/// [`MerkleError::OldSizeLarger`], [`MerkleError::PathTooLong`],
/// [`MerkleError::ConsistencyLength`], [`MerkleError::OldRootMismatch`] or
/// [`MerkleError::NewRootMismatch`].
pub fn verify_consistency(
    old: u64,
    new: u64,
    old_root: &Hash32,
    new_root: &Hash32,
    proof: &[Hash32],
) -> Result<(), MerkleError> {
    if proof.len() > MAX_PATH_LEN {
        return Err(MerkleError::PathTooLong { got: proof.len() });
    }
    let expected = consistency_proof_len(old, new)?;
    if proof.len() != expected {
        return Err(MerkleError::ConsistencyLength {
            expected,
            got: proof.len(),
        });
    }
    if old == 0 || old == new {
        let (want_old, got_old) = if old == 0 {
            (empty_root(), *old_root)
        } else {
            (*old_root, *new_root)
        };
        if want_old != got_old {
            return Err(MerkleError::OldRootMismatch {
                expected: want_old,
                got: got_old,
            });
        }
        return Ok(());
    }
    // Step 2: a power-of-two old tree is itself a node of the new tree, so its root seeds
    // the walk instead of being sent.
    let (seed, rest) = if old.is_power_of_two() {
        (*old_root, proof)
    } else {
        // `expected >= 1` here: a non-power-of-two old size always needs its own subtree hash.
        match proof.split_first() {
            Some((first, rest)) => (*first, rest),
            None => {
                return Err(MerkleError::ConsistencyLength { expected, got: 0 });
            }
        }
    };
    let mut fn_ = old - 1;
    let mut sn = new - 1;
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let mut fr = seed;
    let mut sr = seed;
    for c in rest {
        if sn == 0 {
            return Err(MerkleError::ConsistencyLength {
                expected,
                got: proof.len(),
            });
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(MerkleError::ConsistencyLength {
            expected,
            got: proof.len(),
        });
    }
    if fr != *old_root {
        return Err(MerkleError::OldRootMismatch {
            expected: *old_root,
            got: fr,
        });
    }
    if sr != *new_root {
        return Err(MerkleError::NewRootMismatch {
            expected: *new_root,
            got: sr,
        });
    }
    Ok(())
}

/// An in-memory RFC 9162 tree that stores every level, so proofs are read rather than
/// recomputed.
///
/// Memory is about `2 × 32 × n` bytes. Proofs may be taken against the full tree or any prefix
/// of it (an older tree size), which is what consistency proofs between checkpoints need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MerkleTree {
    /// `levels[0]` are the leaf hashes; the last level has one element unless the tree is
    /// empty.
    levels: Vec<Vec<Hash32>>,
}

impl Default for MerkleTree {
    fn default() -> Self {
        Self::new()
    }
}

impl MerkleTree {
    /// An empty tree.
    pub fn new() -> Self {
        Self {
            levels: vec![Vec::new()],
        }
    }

    /// Builds the tree over already-computed leaf hashes, computing each level once.
    pub fn from_leaf_hashes(leaves: Vec<Hash32>) -> Self {
        let mut levels = vec![leaves];
        while let Some(top) = levels.last().filter(|l| l.len() > 1) {
            let next = next_level(top);
            levels.push(next);
        }
        Self { levels }
    }

    /// Builds the tree over raw leaf data, hashing each item with [`leaf_hash`].
    pub fn from_leaves<I, T>(data: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: AsRef<[u8]>,
    {
        Self::from_leaf_hashes(data.into_iter().map(|d| leaf_hash(d.as_ref())).collect())
    }

    /// Appends one leaf hash, updating the right edge of every level (O(log n) hashes).
    pub fn push(&mut self, leaf: Hash32) {
        self.levels[0].push(leaf);
        let mut k = 0;
        while self.levels[k].len() > 1 {
            let level = &self.levels[k];
            let last = level.len() - 1;
            let parent = if last % 2 == 1 {
                node_hash(&level[last - 1], &level[last])
            } else {
                level[last]
            };
            let parent_idx = last / 2;
            if self.levels.len() == k + 1 {
                self.levels.push(Vec::new());
            }
            let up = &mut self.levels[k + 1];
            if parent_idx < up.len() {
                up[parent_idx] = parent;
            } else {
                up.push(parent);
            }
            k += 1;
        }
    }

    /// Number of leaves.
    pub fn len(&self) -> u64 {
        self.levels[0].len() as u64
    }

    /// Whether the tree has no leaves.
    pub fn is_empty(&self) -> bool {
        self.levels[0].is_empty()
    }

    /// The leaf hashes in order.
    pub fn leaf_hashes(&self) -> &[Hash32] {
        &self.levels[0]
    }

    /// Hash of leaf `index`, if present.
    pub fn leaf(&self, index: u64) -> Option<Hash32> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.levels[0].get(i).copied())
    }

    /// Root of the full tree ([`empty_root`] when empty).
    pub fn root(&self) -> Hash32 {
        match self.levels.last().and_then(|l| l.first()) {
            Some(root) if !self.is_empty() => *root,
            _ => empty_root(),
        }
    }

    /// Root of the prefix of `size` leaves.
    ///
    /// # Errors
    /// [`MerkleError::SizeOutOfRange`] when `size` exceeds [`Self::len`].
    pub fn root_at(&self, size: u64) -> Result<Hash32, MerkleError> {
        self.check_size(size)?;
        Ok(if size == 0 {
            empty_root()
        } else {
            self.range_hash(0, size)
        })
    }

    /// Inclusion path of leaf `index` in the full tree, bottom-up.
    ///
    /// # Errors
    /// [`MerkleError::IndexOutOfRange`] when `index >= len`.
    pub fn inclusion_proof(&self, index: u64) -> Result<Vec<Hash32>, MerkleError> {
        let mut path = Vec::with_capacity(self.levels.len());
        self.inclusion_proof_into(index, &mut path)?;
        Ok(path)
    }

    /// Like [`Self::inclusion_proof`], writing into `out` (cleared first) to reuse its buffer.
    ///
    /// # Errors
    /// [`MerkleError::IndexOutOfRange`] when `index >= len`.
    pub fn inclusion_proof_into(
        &self,
        index: u64,
        out: &mut Vec<Hash32>,
    ) -> Result<(), MerkleError> {
        out.clear();
        let size = self.len();
        let mut pos = usize::try_from(index)
            .ok()
            .filter(|&i| i < self.levels[0].len())
            .ok_or(MerkleError::IndexOutOfRange { index, size })?;
        for level in &self.levels[..self.levels.len() - 1] {
            if let Some(sibling) = level.get(pos ^ 1) {
                out.push(*sibling);
            }
            pos >>= 1;
        }
        Ok(())
    }

    /// Every leaf's inclusion path in the full tree, in one flat allocation: what sealing a
    /// batch needs. Equivalent to calling [`Self::inclusion_proof`] for each index, without a
    /// heap allocation per proof.
    pub fn all_inclusion_proofs(&self) -> InclusionProofs {
        let n = self.levels[0].len();
        let depth = self.levels.len() - 1;
        let mut hashes = Vec::with_capacity(n.saturating_mul(depth));
        let mut offsets = Vec::with_capacity(n + 1);
        offsets.push(0);
        for i in 0..n {
            let mut pos = i;
            for level in &self.levels[..depth] {
                if let Some(sibling) = level.get(pos ^ 1) {
                    hashes.push(*sibling);
                }
                pos >>= 1;
            }
            offsets.push(hashes.len());
        }
        InclusionProofs { hashes, offsets }
    }

    /// Inclusion path of leaf `index` in the prefix of `size` leaves (an older tree).
    ///
    /// # Errors
    /// [`MerkleError::SizeOutOfRange`] when `size > len`, [`MerkleError::IndexOutOfRange`]
    /// when `index >= size`.
    pub fn inclusion_proof_at(&self, index: u64, size: u64) -> Result<Vec<Hash32>, MerkleError> {
        self.check_size(size)?;
        if index >= size {
            return Err(MerkleError::IndexOutOfRange { index, size });
        }
        if size == self.len() {
            return self.inclusion_proof(index);
        }
        let mut out = Vec::with_capacity(MAX_PATH_LEN);
        self.path_rec(index, 0, size, &mut out);
        Ok(out)
    }

    /// Consistency proof from the prefix of `old` leaves to the prefix of `new` leaves
    /// (RFC 9162 §2.1.4.1). Empty when `old` is 0 or equals `new`.
    ///
    /// # Errors
    /// [`MerkleError::SizeOutOfRange`] when `new > len`, [`MerkleError::OldSizeLarger`] when
    /// `old > new`.
    pub fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash32>, MerkleError> {
        self.check_size(new)?;
        if old > new {
            return Err(MerkleError::OldSizeLarger { old, new });
        }
        let mut out = Vec::with_capacity(MAX_PATH_LEN);
        if old > 0 && old < new {
            self.subproof(old, 0, new, true, &mut out);
        }
        Ok(out)
    }

    fn check_size(&self, size: u64) -> Result<(), MerkleError> {
        if size > self.len() {
            return Err(MerkleError::SizeOutOfRange {
                requested: size,
                available: self.len(),
            });
        }
        Ok(())
    }

    /// MTH of leaves `[start, end)`, `start < end <= len`. Every aligned power-of-two range
    /// inside the tree is a complete stored node; other ranges split per RFC 9162.
    fn range_hash(&self, start: u64, end: u64) -> Hash32 {
        let n = end - start;
        if n.is_power_of_two() && start.is_multiple_of(n) {
            let k = n.trailing_zeros() as usize;
            // In range: start + n <= len, so the node at level k exists and is complete.
            return self.levels[k][(start >> k) as usize];
        }
        let k = split_point(n);
        node_hash(
            &self.range_hash(start, start + k),
            &self.range_hash(start + k, end),
        )
    }

    /// PATH(m, D[start:end]) from RFC 9162 §2.1.3.1, `m` relative to `start`.
    fn path_rec(&self, m: u64, start: u64, end: u64, out: &mut Vec<Hash32>) {
        let n = end - start;
        if n <= 1 {
            return;
        }
        let k = split_point(n);
        if m < k {
            self.path_rec(m, start, start + k, out);
            out.push(self.range_hash(start + k, end));
        } else {
            self.path_rec(m - k, start + k, end, out);
            out.push(self.range_hash(start, start + k));
        }
    }

    /// SUBPROOF(m, D[start:end], complete) from RFC 9162 §2.1.4.1.
    fn subproof(&self, m: u64, start: u64, end: u64, complete: bool, out: &mut Vec<Hash32>) {
        let n = end - start;
        if m == n {
            if !complete {
                out.push(self.range_hash(start, end));
            }
            return;
        }
        let k = split_point(n);
        if m <= k {
            self.subproof(m, start, start + k, complete, out);
            out.push(self.range_hash(start + k, end));
        } else {
            self.subproof(m - k, start + k, end, false, out);
            out.push(self.range_hash(start, start + k));
        }
    }
}

/// All inclusion paths of a tree, stored back to back (see
/// [`MerkleTree::all_inclusion_proofs`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InclusionProofs {
    hashes: Vec<Hash32>,
    /// `offsets[i]..offsets[i + 1]` is leaf `i`'s path in `hashes`.
    offsets: Vec<usize>,
}

impl InclusionProofs {
    /// Number of proofs (the tree size).
    pub fn len(&self) -> u64 {
        self.offsets.len().saturating_sub(1) as u64
    }

    /// Whether there are no proofs.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The path of leaf `index`, bottom-up, or `None` when out of range.
    pub fn get(&self, index: u64) -> Option<&[Hash32]> {
        let i = usize::try_from(index).ok()?;
        let start = *self.offsets.get(i)?;
        let end = *self.offsets.get(i + 1)?;
        self.hashes.get(start..end)
    }

    /// Total number of path entries over all proofs.
    pub fn total_entries(&self) -> usize {
        self.hashes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(n: u64) -> MerkleTree {
        MerkleTree::from_leaves((0..n).map(|i| i.to_be_bytes()))
    }

    #[test]
    fn split_point_is_largest_power_below() {
        let cases = [(2, 1), (3, 2), (4, 2), (5, 4), (8, 4), (9, 8), (1000, 512)];
        for (n, k) in cases {
            assert_eq!(split_point(n), k, "n={n}");
        }
        assert_eq!(split_point(u64::MAX), 1 << 63);
        assert_eq!(split_point((1 << 63) + 1), 1 << 63);
    }

    #[test]
    fn push_matches_bulk_build() {
        let mut t = MerkleTree::new();
        for n in 0..70u64 {
            assert_eq!(t, tree(n), "n={n}");
            t.push(leaf_hash(&n.to_be_bytes()));
        }
    }

    #[test]
    fn stored_level_proofs_equal_rfc_recursion() {
        for n in 1..70u64 {
            let t = tree(n);
            let all = t.all_inclusion_proofs();
            assert_eq!(all.len(), n);
            for i in 0..n {
                let mut rec = Vec::new();
                t.path_rec(i, 0, n, &mut rec);
                assert_eq!(all.get(i), Some(rec.as_slice()), "i={i} n={n}");
                assert_eq!(t.inclusion_proof(i), Ok(rec), "i={i} n={n}");
            }
            assert_eq!(all.get(n), None);
        }
    }

    #[test]
    fn prefix_roots_and_proofs_match_smaller_trees() {
        let big = tree(45);
        for size in 0..=45u64 {
            let small = tree(size);
            assert_eq!(big.root_at(size), Ok(small.root()));
            for i in 0..size {
                assert_eq!(big.inclusion_proof_at(i, size), small.inclusion_proof(i));
            }
        }
    }

    #[test]
    fn path_len_bounds() {
        assert_eq!(inclusion_path_len(0, 1), Ok(0));
        assert_eq!(inclusion_path_len(u64::MAX - 1, u64::MAX), Ok(63));
        assert_eq!(inclusion_path_len(0, u64::MAX), Ok(64));
        assert_eq!(
            inclusion_path_len(3, 3),
            Err(MerkleError::IndexOutOfRange { index: 3, size: 3 })
        );
    }
}
