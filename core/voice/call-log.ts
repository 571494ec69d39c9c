import type { Logger } from '../observability/logger.js';
import type { WithTenant } from '../tenancy/with-tenant.js';

export type CallEventKind =
  | 'utterance' | 'tool_call' | 'tool_result' | 'barge_in' | 'dtmf' | 'error' | 'line' | 'transfer' | 'call_end' | 'greeting' | 'language'
  /** Per-turn latency marks in ms after the caller's final transcript (the console's waterfall). */
  | 'turn_timing';

/**
 * Persists a call's events to the tenant's call_events as they happen, a few at a time: a short batch window
 * keeps the write rate per call low (never per frame), and a failed write is logged, never thrown into the call.
 */
export class CallEventLog {
  private buf: Array<{ call_id: string; at: Date; kind: string; payload: string }> = [];
  private timer: NodeJS.Timeout | null = null;
  private writing: Promise<void> = Promise.resolve();
  private failures = 0;
  written = 0;

  constructor(private readonly o: { tenantId: string; callId: string; withTenant: WithTenant; logger: Logger; batchMs?: number; maxBatch?: number }) {}

  add(kind: CallEventKind, payload: Record<string, unknown>): void {
    this.buf.push({ call_id: this.o.callId, at: new Date(), kind, payload: JSON.stringify(payload) });
    if (this.buf.length >= (this.o.maxBatch ?? 20)) this.flushSoon(0);
    else this.flushSoon(this.o.batchMs ?? 250);
  }

  private flushSoon(ms: number): void {
    if (this.timer && ms > 0) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => { this.timer = null; void this.flush(); }, ms);
    this.timer.unref();
  }

  /** Writes what is buffered; resolves once every earlier write settled. */
  flush(): Promise<void> {
    if (this.timer) { clearTimeout(this.timer); this.timer = null; }
    const rows = this.buf;
    this.buf = [];
    if (rows.length === 0) return this.writing;
    this.writing = this.writing.then(async () => {
      try {
        await this.o.withTenant(this.o.tenantId, (trx) => trx('call_events').insert(rows));
        this.written += rows.length;
      } catch (e) {
        // Losing a transcript line must not end a live call; say so once per call, not per batch.
        if (this.failures++ === 0) this.o.logger.error({ err: (e as Error).message, rows: rows.length }, 'call event write failed');
      }
    });
    return this.writing;
  }
}
