import crypto from 'node:crypto';
import type { StateStore } from '../state/store.js';
import { STREAM_TOKEN_TTL_SEC, type StreamTicket } from './webhooks.js';

/**
 * The one-time media-stream token for an answered outbound reminder call. Same shape and life as the inbound
 * ticket (core/telephony/webhooks.ts: GETDEL'd by the media server, 60 s, bound to the CallSid), with
 * `direction: 'outbound'` and `params.reminderAttemptId` naming the tenant's `reminder_attempts.id`: that pair is
 * the contract the outbound conversation reads to know which reminder it is calling about. Every field comes from
 * the server (the signed, server-issued webhook path and the database), never from the webhook body's free fields.
 */
export async function issueOutboundTicket(o: {
  keys: Pick<StateStore, 'set'>;
  callSid: string;
  accountSid: string;
  tenantId: string;
  /** The tenant's `calls.id` row for this call. */
  callId: string;
  /** The dialled customer (media-link.ts CallStart: `from` is the customer on outbound calls). */
  from: string;
  /** The dealership number the call was placed from. */
  to: string;
  reminderAttemptId: string;
}): Promise<string> {
  const callToken = crypto.randomBytes(24).toString('base64url');
  const ticket: StreamTicket = {
    callSid: o.callSid, accountSid: o.accountSid, tenantId: o.tenantId, callId: o.callId,
    from: o.from, to: o.to, direction: 'outbound', params: { reminderAttemptId: o.reminderAttemptId },
  };
  await o.keys.set(`streamtok:${callToken}`, JSON.stringify(ticket), STREAM_TOKEN_TTL_SEC);
  return callToken;
}
