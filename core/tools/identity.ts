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
}

/** Failed verification attempts per call before verify/search stop being offered. */
export const MAX_VERIFICATION_ATTEMPTS = 3;
/** Caps the candidate list so a chatty caller can't make verification compare against half the CRM. */
export const MAX_CANDIDATES = 10;

/** The identity a call starts with: nothing verified, nothing looked up. */
export function newCallIdentity(o: { tenantId: string; callSid: string; callerPhone: string | null }): CallIdentity {
  return {
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
