import type { Knex } from 'knex';

/**
 * The tenant `callback_tasks` table (001_init + 046): work for a human advisor, shown to the dealership.
 * Kept here so the tools have one place that writes it; the voice session's provider-failure task
 * (core/voice/call-session.ts) writes the same columns.
 */
export interface CallbackTaskInput {
  /** The call that raised it (calls.call_sid); linked when the call row exists, else the task stands alone. */
  callSid: string;
  /** The number the advisor should call. */
  phone: string | null;
  /** Short machine-readable reason, e.g. `verification_locked`. */
  reason: string;
  /** The CRM account the task is about, when it is about one. */
  customerId?: string | null;
}

/** Inserts one open task inside the caller's tenant transaction. */
export async function insertCallbackTask(trx: Knex.Transaction, t: CallbackTaskInput): Promise<void> {
  await trx('callback_tasks').insert({
    call_id: trx('calls').where({ call_sid: t.callSid }).select('id').first(),
    phone: t.phone,
    reason: t.reason.slice(0, 200),
    customer_id: t.customerId ?? null,
  });
}
