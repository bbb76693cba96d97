#![forbid(unsafe_code)]

/// mimalloc, not glibc's malloc: under load glibc grew and trimmed its heap
/// again and again, 5% of a first webhook's CPU (BENCHMARKS.md, sixth round).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    if let Err(e) = vouch::cli::run() {
        eprintln!("vouch: {e:#}");
        std::process::exit(1);
    }
}
