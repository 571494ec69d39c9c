/** Failed verification attempts per call before verify/search stop being offered. */
export const MAX_VERIFICATION_ATTEMPTS = 3;
/** Caps the candidate list so a chatty caller can't make verification compare against half the CRM. */
export const MAX_CANDIDATES = 10;
/** The identity a call starts with: nothing verified, nothing looked up. */
export function newCallIdentity(o) {
    return {
        tenantId: o.tenantId,
        callSid: o.callSid,
        callerPhone: o.callerPhone,
        verifiedCustomerId: null,
        candidateCustomerIds: [],
        verificationAttempts: 0,
    };
}
export function callState(identity) {
    return identity.verifiedCustomerId ? 'verified' : 'unverified';
}
//# sourceMappingURL=identity.js.map