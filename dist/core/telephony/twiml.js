import twilio from 'twilio';
/** Stream URLs carry no query string (Twilio rejects or drops it); per-call data travels as <Parameter>. */
export function streamTwiml(o) {
    const vr = new twilio.twiml.VoiceResponse();
    const stream = vr.connect().stream({ url: o.wsUrl, name: 'servicelane' });
    stream.parameter({ name: 'callToken', value: o.callToken });
    // Runs only after the stream ends (we closed it, or Twilio did): end the call rather than sit in silence.
    vr.hangup();
    return vr.toString();
}
export function apologyTwiml(text = 'Sorry, this number is not in service. Goodbye.') {
    const vr = new twilio.twiml.VoiceResponse();
    vr.say(text);
    vr.hangup();
    return vr.toString();
}
/** Ends the call without a word: for replays of calls that are already over. */
export function hangupTwiml() {
    const vr = new twilio.twiml.VoiceResponse();
    vr.hangup();
    return vr.toString();
}
/** The media WebSocket URL Twilio dials, derived from the configured public base (never from request headers). */
export function mediaUrl(publicBaseUrl) {
    const u = new URL(publicBaseUrl);
    u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
    u.pathname = `${u.pathname.replace(/\/$/, '')}/twilio/media`;
    u.search = '';
    return u.toString();
}
//# sourceMappingURL=twiml.js.map