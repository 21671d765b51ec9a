//! zynk-testkit
