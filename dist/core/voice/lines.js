/**
 * Scripted lines the agent speaks without the model. They are synthesised once per tenant config over REST
 * and cached with the greeting, so they play instantly and still play when the TTS socket is down.
 */
export const LINES = {
    filler: 'One moment while I check that.',
    providerFallback: "I'm having trouble right now, someone from the service desk will call you back.",
    toolFallback: "Sorry, I couldn't do that just now. Could you tell me again what you need?",
    silencePrompt: 'Are you still there?',
    silenceGoodbye: "I haven't heard anything, so I'll let you go. Thanks for calling, goodbye.",
    wrapUp: "We're out of time for this call. Someone from the service desk will follow up if you need anything else. Goodbye.",
    goodbye: 'Thanks for calling. Goodbye!',
    transfer: 'Let me connect you with someone from our service team.',
    transferFailed: "I'm sorry, I can't connect you right now. Someone from the service desk will call you back.",
};
export const LINE_NAMES = Object.keys(LINES);
/** The default greeting when the tenant config has none. */
export function defaultGreeting(dealership) {
    return `Thanks for calling ${dealership} service. How can I help you today?`;
}
//# sourceMappingURL=lines.js.map