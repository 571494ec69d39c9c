/**
 * Who is on the line, as the server knows it. The model never supplies any of these fields: the tenant
 * comes from the dialled number, the caller's number from the signed webhook, and the verified customer
 * only from a server-side comparison in verify_customer (or create_customer, for a caller who just
 * introduced themselves). Plain JSON, so the voice session can keep it in its state document.
 */
export interface CallIdentity {
  tenantId: string;
  callSid: string;
  /** E.164 from the signed webhook's `From`, or null when withheld. A lookup hint, never authorization. */
  callerPhone: string | null;
  /** Set only by the server after verification; gates every account tool. */
  verifiedCustomerId: string | null;
  /** Found by caller ID or name search, NOT verified: nothing about them is told to the caller. */
  candidateCustomerIds: string[];
  /** Failed verify_customer attempts in this call; the tool disappears at the cap. */
  verificationAttempts: number;
  /** The customer create_customer made in this call (at most one per call). */
  createdCustomerId?: string;
  /**
   * Present only on an outbound reminder call a person answered: the attempt, appointment and customer it is
   * about, loaded by the server from the stream ticket (docs/reminders.md, "When a person answers"). The reminder
   * tools act on exactly this appointment; inbound account tools are not offered on such a call.
   */
  reminder?: ReminderCallFacts;
  /** The language the call is held in (tenant `languages`, or the caller's keypad choice); absent means English. */
  language?: string;
}

/** The conversation's result for the attempt; written once to reminder_attempts.outcome. */
export type ReminderCallOutcome =
  | 'confirmed' | 'rescheduled' | 'cancelled' | 'opted_out' | 'wrong_person' | 'not_available' | 'identity_unconfirmed' | 'answered';

export interface ReminderCallFacts {
  attemptId: string;
  appointmentId: string;
  /** The appointment's customer (the CRM's id). verify_callee sets verifiedCustomerId to it and to nothing else. */
  customerId: string;
  /** The dialled number: the one an opt-out applies to. */
  phone: string;
  /** Whether the person on the line proved to be the customer (verify_callee). */
  callee: 'unconfirmed' | 'confirmed';
  /** Failed verify_callee attempts in this call. */
  calleeAttempts: number;
  /** The outcome this call wrote, once written (the reminder tools disappear after it). */
  outcome: ReminderCallOutcome | null;
  /** The number was opted out in this call. */
  optedOut: boolean;
}

/** Failed callee confirmations per reminder call before verify_callee stops being offered. */
export const MAX_CALLEE_ATTEMPTS = 2;

/** Failed verification attempts per call before verify/search stop being offered. */
export const MAX_VERIFICATION_ATTEMPTS = 3;
/** Caps the candidate list so a chatty caller can't make verification compare against half the CRM. */
export const MAX_CANDIDATES = 10;

/** The identity a call starts with: nothing verified, nothing looked up. */
export function newCallIdentity(o: { tenantId: string; callSid: string; callerPhone: string | null; language?: string }): CallIdentity {
  return {
    ...(o.language ? { language: o.language } : {}),
    tenantId: o.tenantId,
    callSid: o.callSid,
    callerPhone: o.callerPhone,
    verifiedCustomerId: null,
    candidateCustomerIds: [],
    verificationAttempts: 0,
  };
}

export type CallState = 'unverified' | 'verified';

export function callState(identity: CallIdentity): CallState {
  return identity.verifiedCustomerId ? 'verified' : 'unverified';
}
