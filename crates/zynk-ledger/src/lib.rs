//! zynk-ledger
