import crypto from 'node:crypto';
import type { SlotResult, StateStore } from '../state/store.js';

/**
 * Twilio's two limits on outbound calls, shared by every worker process through the state store (Redis or
 * Postgres, whichever the install runs; core/state `acquireSlot`):
 * - calls created per second per Twilio account (`TWILIO_CPS`, default 1): one reservation per `1000 / cps` ms,
 *   never released, so creations are spaced evenly by the store's single clock, not bursty per process;
 * - live outbound calls per tenant (`reminders.maxConcurrentCalls`): a slot per attempt, held from before the call
 *   is created until its final status callback, and expiring on its own after an hour so a lost callback or a dead
 *   worker cannot hold a tenant's slot for ever.
 * No starvation: a tenant at its concurrency cap never takes a call-rate reservation (it is checked first and the
 * job is re-queued instead of waiting in a worker), so the account's rate goes to tenants that can call.
 */
export const LIVE_SLOT_TTL_MS = 3600_000;

export class OutboundLimits {
  constructor(private readonly o: { state: Pick<StateStore, 'acquireSlot' | 'releaseSlot'> }) {}

  /** Takes (or keeps) the attempt's live-call slot of its tenant. */
  tryLiveSlot(o: { tenantId: string; attemptId: string; limit: number }): Promise<SlotResult> {
    return this.o.state.acquireSlot({ key: `outbound:live:${o.tenantId}`, holder: o.attemptId, limit: o.limit, ttlMs: LIVE_SLOT_TTL_MS });
  }

  releaseLiveSlot(o: { tenantId: string; attemptId: string }): Promise<void> {
    return this.o.state.releaseSlot(`outbound:live:${o.tenantId}`, o.attemptId);
  }

  /** Waits for the account's next call-creation turn; returns how long it waited (ms). */
  async waitCallTurn(o: { account: string; cps: number; signal?: AbortSignal }): Promise<number> {
    const started = Date.now();
    const holder = crypto.randomUUID();
    const ttlMs = Math.max(1, Math.ceil(1000 / o.cps));
    for (;;) {
      o.signal?.throwIfAborted();
      const r = await this.o.state.acquireSlot({ key: `outbound:cps:${o.account}`, holder, limit: 1, ttlMs });
      if (r.ok) return Date.now() - started;
      // A little jitter so waiting workers do not ask in lockstep (the first to ask after the turn frees wins).
      await new Promise((res) => setTimeout(res, r.retryAfterMs + Math.floor(Math.random() * 3)));
    }
  }
}
