#![forbid(unsafe_code)]

fn main() {
    if let Err(e) = vouch::cli::run() {
        eprintln!("vouch: {e:#}");
        std::process::exit(1);
    }
}
