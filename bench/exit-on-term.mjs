// Preloaded into the bare proxy when it gets node flags (cpu-per-request.sh UNDICI_ARGS): it has
// no SIGTERM handler, and node writes a --cpu-prof / --heap-prof profile only on a normal exit.
process.once('SIGTERM', () => process.exit(0));
