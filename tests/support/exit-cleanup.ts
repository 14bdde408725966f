/**
 * Synchronous clean-ups that must run however this process ends: normally ("exit"), or killed by SIGTERM,
 * SIGHUP or SIGINT (a test runner stopping a worker, a closed terminal, Ctrl-C), where Node runs no "exit"
 * handlers. Without them a crashed test leaves redis-server, PostgreSQL or app processes orphaned and temp
 * dirs behind. Ctrl-C reaches the whole foreground process group, but not what runs in a session of its
 * own: a Docker engine's containers and shims (tests/containers) outlive it unless swept here.
 */
const cleanups = new Set<() => void>();
let installed = false;

function runAll(): void {
  for (const cleanup of cleanups) {
    try {
      cleanup();
    } catch {
      // Best effort: one failing clean-up must not keep the others from running.
    }
  }
  cleanups.clear();
}

function install(): void {
  if (installed) return;
  installed = true;
  process.once("exit", runAll);
  for (const signal of ["SIGTERM", "SIGHUP", "SIGINT"] as const) {
    process.once(signal, () => {
      runAll();
      // Nobody else handles the signal: end the process the way the signal would have.
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    });
  }
}

/** Registers a synchronous clean-up; the returned function unregisters it (after a normal stop). */
export function onExitCleanup(cleanup: () => void): () => void {
  install();
  cleanups.add(cleanup);
  return () => {
    cleanups.delete(cleanup);
  };
}
