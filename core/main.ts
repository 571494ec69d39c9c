import type { AddressInfo } from 'node:net';
import { loadConfig, missingProviderKeys } from './config.js';
import { buildPlatform, createHttpApp, listen } from './app.js';
import { createLogger } from './observability/logger.js';
import { isServiceLaneError } from './errors.js';
import { devStartBanner } from './admin-api/dev-banner.js';
import type { Platform } from './app.js';
import { superviseVoiceWorkers, voiceWorkerCount, voiceWorkerId } from './voice-cluster.js';

/** The platform once built, so a failure after that point still stops what it started (embedded Postgres). */
let platform: Platform | undefined;

/**
 * Entrypoint: parse the role, build the platform, start, and drain on SIGTERM/SIGINT. Dev conveniences
 * (embedded Postgres, seeded demo, printed token) happen only in the `all` role outside production.
 */
async function main(): Promise<void> {
  let cfg;
  let voiceWorkers;
  try { cfg = loadConfig(); voiceWorkers = voiceWorkerCount(process.env.VOICE_WORKERS); } catch (e) {
    process.stderr.write(`servicelane: ${(e as Error).message}\n`);
    process.exit(78);
  }
  const root = createLogger({ level: cfg.logLevel, production: cfg.production });
  // VOICE_WORKERS > 1 in the voice role: this process only supervises the workers (core/voice-cluster.ts).
  if (superviseVoiceWorkers({ role: cfg.role, workers: voiceWorkers, logger: root })) return;
  const worker = voiceWorkerId();
  const logger = worker === undefined ? root : root.child({ worker });
  // A signal while starting (migrations can take a while) has nothing to drain: exit at once. The embedded
  // Postgres, if already started, is stopped by its own 'exit' hook (it runs in its own session, so the
  // terminal's Ctrl-C does not reach it).
  let onSignal = (signal: string): void => {
    logger.info({ signal }, 'servicelane stopped during start');
    process.exit(0);
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
  const p = await buildPlatform(cfg, { logger });
  platform = p;
  // Every role listens: workers serve only /healthz, /readyz and /metrics (the Helm probes and Prometheus need them).
  const server = await listen(p, createHttpApp(p));
  const port = (server.address() as AddressInfo).port;
  // BANNER (seed + banner owner prints here)
  if (cfg.role === 'all' && !cfg.production) process.stdout.write(`${await devStartBanner(p, { port })}\n`);
  logger.info({ role: cfg.role, port, missingKeys: missingProviderKeys(cfg) }, 'servicelane started');

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    // /readyz answers 503 and new media sockets are refused from here on; live calls carry on.
    p.draining = true;
    logger.info({ signal, liveCalls: p.voice.active, drainTimeoutMs: cfg.drainTimeoutMs }, 'draining');
    // Live calls finish before the HTTP server (and with it every media socket) closes. At DRAIN_TIMEOUT_MS the
    // rest hear the wrap-up line and are hung up. Voice pods get a longer Kubernetes grace period (helm).
    await p.voice.close({ graceMs: cfg.drainTimeoutMs });
    await p.close();
    logger.info({ signal }, 'servicelane stopped');
    process.exit(0);
  };
  onSignal = (signal) => void stop(signal);
}

main().catch(async (e) => {
  // A coded error (a busy PORT, say) is one line a person can act on; anything else keeps its stack.
  const line = isServiceLaneError(e) ? `${e.code}: ${e.message}` : (e as Error).stack ?? String(e);
  process.stderr.write(`servicelane failed to start: ${line}\n`);
  await platform?.close();
  process.exit(1);
});
