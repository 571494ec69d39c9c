import cluster from 'node:cluster';
import os from 'node:os';
import type { Logger } from './observability/logger.js';

/**
 * The `voice` role on every core: with VOICE_WORKERS > 1 this process becomes a small supervisor and forks
 * that many workers (node:cluster), each one the whole voice role (core/main.ts), all listening on the one PORT.
 *
 * Why processes and not threads: a call's hot path (20 ms pacing of every outbound frame, the STT writes, the
 * LLM stream, the TTS socket) all lives on one event loop; with one process the loop carries every call and
 * the tail latency and playback gaps of one call grow with all the others. The cluster's primary hands each
 * new TCP connection to the next worker, and a media WebSocket is one connection, so a live call stays pinned
 * to the worker that accepted it for its whole life. Nothing else changes: the call token and the stream
 * claim are in the shared state store (Redis or Postgres), so any worker can take any call.
 *
 * Drain (docs/deploy.md): SIGTERM/SIGINT reach the supervisor (PID 1 in a pod); it forwards the signal to every
 * worker, each drains exactly as a single voice process does (/readyz 503, new media sockets refused, live
 * calls finish or hear the wrap-up line at DRAIN_TIMEOUT_MS), and the supervisor exits when the last worker
 * has, with the worst exit code. A worker that dies outside a drain is replaced.
 *
 * Only the `voice` role is clustered: the api and worker roles (and `all`) run as one process, as before.
 */

/** Most workers one process may fork; far above any sensible core count, it only catches typos. */
const MAX_WORKERS = 64;

/** VOICE_WORKERS: unset or 1 → no cluster; `auto` → one per available core; an integer 1..64. */
export function voiceWorkerCount(raw: string | undefined): number {
  const v = (raw ?? '').trim();
  if (v === '') return 1;
  if (v === 'auto') return os.availableParallelism();
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > MAX_WORKERS) {
    // A start-up misconfiguration, reported by main() as one line before anything runs (like loadConfig's errors).
    throw new RangeError(`VOICE_WORKERS must be "auto" or an integer 1..${MAX_WORKERS} (got "${v}")`);
  }
  return n;
}

/** In a voice cluster worker: its number, so every log line of a call names the process it runs in. */
export function voiceWorkerId(): number | undefined {
  return cluster.isWorker ? cluster.worker?.id : undefined;
}

/**
 * Starts the supervisor when this is the primary of a clustered voice role and returns true (the caller then
 * does nothing else); returns false where the platform itself should run (a worker, or no cluster wanted).
 */
export function superviseVoiceWorkers(o: { role: string; workers: number; logger: Logger }): boolean {
  if (!cluster.isPrimary || o.role !== 'voice' || o.workers <= 1) return false;
  const log = o.logger.child({ supervisor: true });
  let stopping: string | null = null;
  let worstExit = 0;
  const fork = () => cluster.fork();
  cluster.on('exit', (w, code, signal) => {
    if (stopping) {
      worstExit = Math.max(worstExit, code ?? (signal ? 1 : 0));
      if (Object.keys(cluster.workers ?? {}).length === 0) {
        log.info({ signal: stopping, exitCode: worstExit }, 'every voice worker has stopped');
        process.exit(worstExit);
      }
      return;
    }
    log.error({ worker: w.id, code, signal }, 'voice worker died; starting a replacement (its live calls were dropped)');
    fork();
  });
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = signal;
    const live = Object.values(cluster.workers ?? {});
    log.info({ signal, workers: live.length }, 'draining every voice worker');
    for (const w of live) w?.process.kill(signal);
    if (live.length === 0) process.exit(0);
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  for (let i = 0; i < o.workers; i++) fork();
  log.info({ workers: o.workers }, 'voice role clustered: one worker per core, calls pinned to the worker that accepted them');
  return true;
}
