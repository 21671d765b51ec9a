//! zynk-sdk
