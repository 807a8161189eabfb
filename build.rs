//! With mimalloc (the default), the `frontline` binary routes librdkafka's
//! `malloc`, `calloc`, `realloc` and `free` through its own functions
//! (`c_alloc` in `src/main.rs`), so that fetch responses take slots of
//! their own (`src/c_blocks.rs`). GNU ld's `--wrap` renames the undefined
//! references of the objects linked statically (librdkafka's among them);
//! the C library's own calls are not renamed. Linux only (GNU ld or a
//! linker that takes its `--wrap`).

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    if linux && std::env::var_os("CARGO_FEATURE_MIMALLOC").is_some() {
        for f in ["malloc", "calloc", "realloc", "free"] {
            println!("cargo:rustc-link-arg-bin=frontline=-Wl,--wrap={f}");
        }
    }
}
