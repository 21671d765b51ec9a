//! zynk-server
