import twilio from 'twilio';

/** Stream URLs carry no query string (Twilio rejects or drops it); per-call data travels as <Parameter>. */
export function streamTwiml(o: { wsUrl: string; callToken: string }): string {
  const vr = new twilio.twiml.VoiceResponse();
  const stream = vr.connect().stream({ url: o.wsUrl, name: 'servicelane' });
  stream.parameter({ name: 'callToken', value: o.callToken });
  // Runs only after the stream ends (we closed it, or Twilio did): end the call rather than sit in silence.
  vr.hangup();
  return vr.toString();
}

export function apologyTwiml(text = 'Sorry, this number is not in service. Goodbye.'): string {
  const vr = new twilio.twiml.VoiceResponse();
  vr.say(text);
  vr.hangup();
  return vr.toString();
}

/** When the agent cannot take the call: say so and ring the dealership's own transfer number instead. */
export function apologyTransferTwiml(transferNumber: string): string {
  const vr = new twilio.twiml.VoiceResponse();
  vr.say('Sorry, our assistant is not available right now. Let me connect you to the service desk.');
  vr.dial({ timeout: 30 }, transferNumber);
  return vr.toString();
}

/**
 * The agent may not take the call (a usage limit, docs/usage.md): the caller hears `text`, then is put
 * through to the dealership's own transfer number when it has one, else the call ends.
 */
export function politeBusyTwiml(o: { text: string; transferTo?: string }): string {
  const vr = new twilio.twiml.VoiceResponse();
  if (o.transferTo) {
    vr.say('Thank you for calling. All of our lines are busy right now. Let me connect you to the service desk.');
    vr.dial({ timeout: 30 }, o.transferTo);
    return vr.toString();
  }
  vr.say(o.text);
  vr.hangup();
  return vr.toString();
}

/** Ends the call without a word: for replays of calls that are already over. */
export function hangupTwiml(): string {
  const vr = new twilio.twiml.VoiceResponse();
  vr.hangup();
  return vr.toString();
}

/** The media WebSocket URL Twilio dials, derived from the configured public base (never from request headers). */
export function mediaUrl(publicBaseUrl: string): string {
  const u = new URL(publicBaseUrl);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  u.pathname = `${u.pathname.replace(/\/$/, '')}/twilio/media`;
  u.search = '';
  return u.toString();
}
