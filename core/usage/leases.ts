import { ServiceLaneError } from '../errors.js';
import type { StateStore } from '../state/store.js';

/**
 * Concurrent-call leases for one tenant, in the shared state store (Redis or Postgres, the same on every
 * process): one versioned document per tenant mapping a lease id (the CallSid, or the dialer's own key until
 * the CallSid is known) to its expiry. Acquiring is a compare-and-set on that document, so two processes
 * taking the last slot at the same moment cannot both win. A lease that is never released — the process
 * holding the call crashed — simply expires: live calls renew theirs, so only dead ones run out.
 */
interface LeaseDoc { leases: Record<string, number> }

/** Consecutive CAS conflicts tolerated before giving up (each one means another process just wrote). */
const MAX_RACES = 25;

export class LeaseStore {
  constructor(private readonly o: { state: StateStore; clock?: () => number }) {}

  private now(): number { return this.o.clock ? this.o.clock() : Date.now(); }
  private key(tenantId: string): string { return `usage:leases:${tenantId}`; }

  private live(doc: LeaseDoc, now: number): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [id, exp] of Object.entries(doc.leases ?? {})) if (exp > now) out[id] = exp;
    return out;
  }

  /** Document TTL: a little beyond the longest lease in it, so an abandoned document also goes away. */
  private docTtlSec(leases: Record<string, number>, now: number): number {
    const last = Math.max(now, ...Object.values(leases));
    return Math.max(1, Math.ceil((last - now) / 1000) + 60);
  }

  /**
   * Takes a lease unless `max` live leases exist already. Taking one the id already holds renews it (a
   * replayed webhook counts once). Returns whether it was granted and how many are live now.
   */
  async acquire(o: { tenantId: string; id: string; max: number; ttlMs: number }): Promise<{ granted: boolean; active: number }> {
    const key = this.key(o.tenantId);
    for (let i = 0; i < MAX_RACES; i++) {
      const now = this.now();
      const cur = await this.o.state.getDoc<LeaseDoc>(key);
      if (!cur) {
        if (o.max < 1) return { granted: false, active: 0 };
        const leases = { [o.id]: now + o.ttlMs };
        if (await this.o.state.createDoc(key, { leases }, this.docTtlSec(leases, now))) return { granted: true, active: 1 };
        continue;
      }
      const leases = this.live(cur.doc, now);
      const held = o.id in leases;
      const count = Object.keys(leases).length;
      if (!held && count >= o.max) return { granted: false, active: count };
      leases[o.id] = now + o.ttlMs;
      const r = await this.o.state.casDoc(key, cur.version, { leases }, this.docTtlSec(leases, now));
      if (r.ok) return { granted: true, active: held ? count : count + 1 };
    }
    throw new ServiceLaneError('USG_ERR_LIMIT_CHECK_FAILED', `usage lease for tenant ${o.tenantId} lost ${MAX_RACES} races in a row`);
  }

  /** Pushes a held lease's expiry forward; a lease that is gone (expired, released) is not recreated. */
  async renew(o: { tenantId: string; id: string; ttlMs: number }): Promise<boolean> {
    return this.edit(o.tenantId, (leases, now) => {
      if (!(o.id in leases)) return false;
      leases[o.id] = now + o.ttlMs;
      return true;
    });
  }

  async release(o: { tenantId: string; id: string }): Promise<void> {
    await this.edit(o.tenantId, (leases) => {
      if (!(o.id in leases)) return false;
      delete leases[o.id];
      return true;
    });
  }

  /** Moves a lease to a new id (the dialer's key → the CallSid Twilio returned), keeping its expiry. */
  async rebind(o: { tenantId: string; from: string; to: string; ttlMs: number }): Promise<boolean> {
    return this.edit(o.tenantId, (leases, now) => {
      if (!(o.from in leases)) return false;
      delete leases[o.from];
      leases[o.to] = now + o.ttlMs;
      return true;
    });
  }

  async active(tenantId: string): Promise<number> {
    const cur = await this.o.state.getDoc<LeaseDoc>(this.key(tenantId));
    return cur ? Object.keys(this.live(cur.doc, this.now())).length : 0;
  }

  /** CAS loop around `change`, which edits the live leases in place and says whether to write. */
  private async edit(tenantId: string, change: (leases: Record<string, number>, now: number) => boolean): Promise<boolean> {
    const key = this.key(tenantId);
    for (let i = 0; i < MAX_RACES; i++) {
      const now = this.now();
      const cur = await this.o.state.getDoc<LeaseDoc>(key);
      if (!cur) return false;
      const leases = this.live(cur.doc, now);
      if (!change(leases, now)) return false;
      const r = await this.o.state.casDoc(key, cur.version, { leases }, this.docTtlSec(leases, now));
      if (r.ok) return true;
      if (r.reason === 'missing') return false;
    }
    throw new ServiceLaneError('USG_ERR_LIMIT_CHECK_FAILED', `usage lease for tenant ${tenantId} lost ${MAX_RACES} races in a row`);
  }
}
