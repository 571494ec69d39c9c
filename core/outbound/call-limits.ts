import crypto from 'node:crypto';
import type { SlotResult, StateStore } from '../state/store.js';

/**
 * Twilio's two limits on outbound calls, shared by every worker process through the state store (Redis or
 * Postgres, whichever the install runs; core/state `acquireSlot`):
 * - calls created per second per Twilio account (`TWILIO_CPS`, default 1): one turn per `1000 / cps` ms on the
 *   store's single clock (see withCallTurn), so creations are spaced evenly across processes, not bursty per process;
 * - live outbound calls per tenant (`reminders.maxConcurrentCalls`): a slot per attempt, held from before the call
 *   is created until its final status callback, and expiring on its own after an hour so a lost callback or a dead
 *   worker cannot hold a tenant's slot for ever.
 * No starvation: a tenant at its concurrency cap never takes a call-rate reservation (it is checked first and the
 * job is re-queued instead of waiting in a worker), so the account's rate goes to tenants that can call.
 */
export const LIVE_SLOT_TTL_MS = 3600_000;

export class OutboundLimits {
  constructor(private readonly o: { state: Pick<StateStore, 'acquireSlot' | 'releaseSlot' | 'reserveTurn'> }) {}

  /** Takes (or keeps) the attempt's live-call slot of its tenant. */
  tryLiveSlot(o: { tenantId: string; attemptId: string; limit: number }): Promise<SlotResult> {
    return this.o.state.acquireSlot({ key: `outbound:live:${o.tenantId}`, holder: o.attemptId, limit: o.limit, ttlMs: LIVE_SLOT_TTL_MS });
  }

  releaseLiveSlot(o: { tenantId: string; attemptId: string }): Promise<void> {
    return this.o.state.releaseSlot(`outbound:live:${o.tenantId}`, o.attemptId);
  }

  /**
   * Runs `create` (one call creation) in the account's next turn and returns its result.
   *
   * Up to 10 CPS the turn is held through the REST round trip and ends 1/CPS after Twilio answered: Twilio counts
   * calls when they reach it, and a request that took 300 ms longer than the previous one (a loaded host, a cold
   * process) would otherwise land there closer than 1/CPS to it. The cost is the round trip per call (a few % at
   * these rates). Above 10 CPS the round trip would cost most of the rate, so turns are booked on an evenly spaced
   * schedule in the store (`reserveTurn`, one round trip, no polling): each caller learns its start time and sleeps
   * until then, and a late timer delays that one call without pushing the schedule back, so the account gets its
   * full rate. The jitter then left is a small share of Twilio's own queueing of early calls.
   */
  async withCallTurn<T>(o: { account: string; cps: number; signal?: AbortSignal }, create: () => Promise<T>): Promise<{ result: T; waitedMs: number }> {
    const started = Date.now();
    const key = `outbound:cps:${o.account}`;
    if (o.cps > 10) {
      o.signal?.throwIfAborted();
      const waitMs = await this.o.state.reserveTurn(key, 1000 / o.cps);
      if (waitMs > 0) await new Promise((res) => setTimeout(res, waitMs));
      // Aborted while waiting: the turn goes unused (a gap in the schedule, never a burst).
      o.signal?.throwIfAborted();
      return { result: await create(), waitedMs: Date.now() - started };
    }
    const holder = crypto.randomUUID();
    // 3 % longer than 1/cps (whole ms, rounded down): the store's clock and Twilio's are not the same clock.
    const intervalMs = Math.max(1, Math.floor((1000 / o.cps) * 1.03));
    for (;;) {
      o.signal?.throwIfAborted();
      // Held through the round trip; a crashed holder frees the turn after 30 s.
      const r = await this.o.state.acquireSlot({ key, holder, limit: 1, ttlMs: 30_000 });
      if (r.ok) break;
      // A little jitter so waiting workers do not ask in lockstep (the first to ask after the turn frees wins).
      await new Promise((res) => setTimeout(res, Math.min(r.retryAfterMs, 50) + Math.floor(Math.random() * 3)));
    }
    const waitedMs = Date.now() - started;
    try {
      return { result: await create(), waitedMs };
    } finally {
      // The same holder refreshes its own slot: it now ends 1/CPS after Twilio's answer.
      await this.o.state.acquireSlot({ key, holder, limit: 1, ttlMs: intervalMs });
    }
  }
}
