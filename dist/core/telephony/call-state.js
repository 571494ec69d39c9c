/**
 * Twilio call status as a monotonic state machine: callbacks arrive late, duplicated and out of order,
 * so a status only ever moves a call forward (completed before in-progress leaves it completed).
 */
const RANK = {
    queued: 0, initiated: 1, ringing: 2, 'in-progress': 3, answered: 3,
    completed: 4, busy: 4, 'no-answer': 4, failed: 4, canceled: 4,
};
export function statusRank(status) {
    return RANK[status] ?? null;
}
/** The rank of every final status (completed, busy, no-answer, failed, canceled). */
export const TERMINAL_RANK = 4;
export function isTerminal(status) {
    return RANK[status] === TERMINAL_RANK;
}
//# sourceMappingURL=call-state.js.map