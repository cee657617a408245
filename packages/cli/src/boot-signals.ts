/**
 * SIGHUP while `serve` boots. Until `onReloadSignal` installs the reload handler (config load,
 * module loading, the eager etcd connect: up to ~25 s) a SIGHUP would take Node's default
 * action and kill the process. From the start of `serve` one is held instead, and the reload
 * handler acts on it once it is in place: a resources file read before the change is read
 * again; without a file it is ignored, as it is later. Kept apart from the serve modules so
 * `main` installs it before loading them.
 */
let held = false;
const hold = (): void => {
  held = true;
};

export function holdReloadSignals(): void {
  process.on('SIGHUP', hold);
}

/** Stops holding (call with the reload handler installed); true when a SIGHUP was held. */
export function releaseReloadSignals(): boolean {
  process.off('SIGHUP', hold);
  const was = held;
  held = false;
  return was;
}
