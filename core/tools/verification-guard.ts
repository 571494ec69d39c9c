import type { StateStore } from '../state/store.js';

/**
 * Cross-call limits on verify_customer (docs/caller-verification.md), kept in the state store (soft state with
 * a window: losing it only resets counters, and the per-call cap of MAX_VERIFICATION_ATTEMPTS still holds).
 *
 * Three counters, because the caller controls two of the obvious keys:
 * - per caller number (10 misses / 1 h): slows one line grinding through guesses. A withheld or rotating number
 *   escapes it, so it is not the defence, and a spoofer can trip it for the real customer's number.
 * - per TARGET ACCOUNT (5 misses / 24 h): every account a guess was compared against (each account whose name
 *   matched) counts the miss, whatever number the guess came from. At the limit the account is "under attack"
 *   for 24 h: knowledge factors alone (name + ZIP / VIN last 4) no longer verify it, and the tool escalates to
 *   a human without saying whether the details matched.
 * - per account, for the strong path (5 misses / 24 h): an account under attack still verifies when the call
 *   comes from the number on file for that account AND the caller gives the last 6 of a VIN on the account.
 *   Caller ID is spoofable, so it is never enough alone; the VIN last 6 is the second factor, and this budget
 *   keeps a spoofer from guessing it (5 tries a day against ~10^6 values).
 */
export const VERIFY_FAILURES_PER_PHONE = 10;
export const VERIFY_PHONE_WINDOW_SEC = 3600;
export const VERIFY_FAILURES_PER_ACCOUNT = 5;
export const VERIFY_ACCOUNT_WINDOW_SEC = 24 * 3600;
export const STRONG_FAILURES_PER_ACCOUNT = 5;
/** One escalation (callback task) per account per hour, however often an attacker calls. */
export const ESCALATION_DEDUPE_SEC = 3600;

export class VerificationGuard {
  constructor(private readonly o: { state: StateStore; tenantId: string }) {}

  // The per-number key is the one used before account counters existed, so a deploy keeps running locks.
  private phoneKey(phone: string): string { return `tools:verify-fail:${this.o.tenantId}:${phone}`; }
  private accountKey(customerId: string): string { return `tools:verify-fail-acct:${this.o.tenantId}:${customerId}`; }
  private strongKey(customerId: string): string { return `tools:verify-strong-fail:${this.o.tenantId}:${customerId}`; }

  async phoneLocked(phone: string | null): Promise<boolean> {
    return phone !== null && (await this.o.state.get(`${this.phoneKey(phone)}:locked`)) !== null;
  }

  /** The subset of `customerIds` under attack (knowledge factors alone no longer verify them). */
  async accountsLocked(customerIds: readonly string[]): Promise<Set<string>> {
    const flags = await Promise.all(customerIds.map((id) => this.o.state.get(`${this.accountKey(id)}:locked`)));
    return new Set(customerIds.filter((_, i) => flags[i] !== null));
  }

  /** A miss: counts against the caller's number (if any) and every account the guess was compared against. */
  async recordFailure(o: { phone: string | null; customerIds: readonly string[] }): Promise<void> {
    const { state } = this.o;
    const bump = async (key: string, limit: number, windowSec: number): Promise<void> => {
      // The lock is (re)armed on every miss at or past the limit, so an attack in progress keeps it closed.
      if (await state.hit(key, windowSec) >= limit) await state.set(`${key}:locked`, '1', windowSec);
    };
    await Promise.all([
      ...(o.phone !== null ? [bump(this.phoneKey(o.phone), VERIFY_FAILURES_PER_PHONE, VERIFY_PHONE_WINDOW_SEC)] : []),
      ...o.customerIds.map((id) => bump(this.accountKey(id), VERIFY_FAILURES_PER_ACCOUNT, VERIFY_ACCOUNT_WINDOW_SEC)),
    ]);
  }

  async strongBudgetLeft(customerId: string): Promise<boolean> {
    return (await this.o.state.get(`${this.strongKey(customerId)}:locked`)) === null;
  }

  async recordStrongFailure(customerId: string): Promise<void> {
    const key = this.strongKey(customerId);
    if (await this.o.state.hit(key, VERIFY_ACCOUNT_WINDOW_SEC) >= STRONG_FAILURES_PER_ACCOUNT) {
      await this.o.state.set(`${key}:locked`, '1', VERIFY_ACCOUNT_WINDOW_SEC);
    }
  }

  /** True the first time an escalation for `subject` (an account id, or a call) is claimed within the window. */
  async claimEscalation(subject: string): Promise<boolean> {
    return this.o.state.setIfAbsent(`tools:verify-escalated:${this.o.tenantId}:${subject}`, '1', ESCALATION_DEDUPE_SEC);
  }
}
