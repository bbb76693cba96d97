# Sourced by the profiling scripts (callgrind-webhooks, wal-frames): the
# webhooks bench's load generator, built with the bench profile, and the
# state secret it seals states with (a server it loads must share it).
# Run from the repository's root.

# Builds the webhooks bench and prints its executable's path.
webhooks_generator() {
  cargo bench --locked --bench webhooks --no-run --message-format=json 2>/dev/null |
    python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "webhooks" and m.get("executable"): print(m["executable"])'
}

# Prints the bench's state secret (benches/webhooks.rs, STATE_SECRET).
webhooks_state_secret() {
  sed -n 's/^const STATE_SECRET: &str = "\(.*\)";$/\1/p' benches/webhooks.rs
}
