//! Rebuild when the browser client's build (`web/dist`, embedded by `http/web.rs`) changes.
fn main() {
    println!("cargo:rerun-if-changed=../../web/dist");
}
