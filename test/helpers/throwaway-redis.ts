// A real redis-server of our own on a free loopback port, for fault tests: stop() kills it (its data is gone,
// as after a crash of a non-persistent Redis), start() brings up an empty one on the same port, so clients
// that reconnect on their own (ioredis, BullMQ) find it again.
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { Redis } from 'ioredis';

export interface ThrowawayRedis {
  readonly port: number;
  readonly url: string;
  /** Whether the server is running now. */
  readonly running: boolean;
  /** Kills the server (SIGKILL) and waits until the port refuses connections. */
  stop(): Promise<void>;
  /** Starts an empty server on the same port and waits until it answers PING. */
  start(): Promise<void>;
  /** Stops it for good (test teardown). */
  close(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

async function waitFor(cond: () => Promise<boolean>, what: string): Promise<void> {
  const end = Date.now() + 10_000;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`throwaway redis: timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function answersPing(port: number): Promise<boolean> {
  const c = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
  c.on('error', () => { /* probing: a refused connection is the expected answer while it is down */ });
  try { await c.connect(); return (await c.ping()) === 'PONG'; } catch { return false; } finally { c.disconnect(); }
}

export async function startThrowawayRedis(): Promise<ThrowawayRedis> {
  const port = await freePort();
  let child: ChildProcess | null = null;
  const start = async (): Promise<void> => {
    if (child) return;
    // No persistence: a restart is an empty Redis, like a crashed cache node without AOF.
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no'], { stdio: 'ignore' });
    const c = child;
    c.once('exit', () => { if (child === c) child = null; });
    await waitFor(() => answersPing(port), `redis answers on ${port}`);
  };
  const stop = async (): Promise<void> => {
    const c = child;
    if (!c) return;
    const exited = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill('SIGKILL');
    await exited;
    child = null;
    await waitFor(async () => !(await answersPing(port)), `port ${port} refuses connections`);
  };
  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    get running() { return child !== null; },
    stop, start,
    close: stop,
  };
}
