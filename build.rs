fn main() {
    // Rebuild when a migration is added or changed: `sqlx::migrate!` embeds them.
    println!("cargo:rerun-if-changed=migrations");
    pack_relative_relocations();
}

/// Links the `vouch` binary with its relative relocations packed (`-z
/// pack-relative-relocs`, the `DT_RELR` format) when it is built for the
/// glibc it is built on and that glibc is 2.36 or later, the first to read
/// that format. A position-independent binary carries one relocation per
/// pointer in its read-only data (vtables, string tables: about 30,000
/// here), which the loader reads at every start: 460 KB of table as
/// 24-byte entries, about 9 KB packed. The table's pages stay mapped, so
/// packing it takes 0.65 MiB off the release build's idle RSS (BENCHMARKS.md,
/// sixteenth round). An older glibc, another C library or a cross build
/// links as before.
fn pack_relative_relocations() {
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    if var("CARGO_CFG_TARGET_OS") != "linux" || var("CARGO_CFG_TARGET_ENV") != "gnu" || var("HOST") != var("TARGET") {
        return;
    }
    let Ok(out) = std::process::Command::new("getconf").arg("GNU_LIBC_VERSION").output() else { return };
    // "glibc 2.36"
    let text = String::from_utf8_lossy(&out.stdout);
    let version = text.trim().strip_prefix("glibc ").unwrap_or("");
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    if (major, minor) >= (2, 36) {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
