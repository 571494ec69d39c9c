/**
 * The seam between the Twilio media WebSocket (core/telephony) and the conversation (core/voice).
 * Telephony owns the socket, auth, framing and limits; voice sees only audio, marks, DTMF and stop.
 */
export interface MediaLink {
  readonly streamSid: string;
  /** Sends μ-law bytes (any length; callers send 20 ms multiples) as one `media` message. */
  sendAudio(mulaw: Buffer): void;
  /** Twilio echoes the mark once all audio queued before it has played. */
  sendMark(name: string): void;
  /** Drops audio buffered at Twilio; pending marks come back at once. */
  clear(): void;
  /** Closes the stream (the call continues with the TwiML after <Connect>, usually a hang-up). */
  close(): void;
  /** Bytes queued on the socket but not yet written: back-pressure signal for the pacer. */
  readonly bufferedAmount: number;
}

/** What voice gives telephony for one call; telephony calls these as frames arrive. */
export interface CallHandler {
  /** Inbound caller audio: the decoded μ-law payload of one `media` frame (usually 160 bytes). */
  onAudio(mulaw: Buffer): void;
  onDtmf(digit: string): void;
  onMark(name: string): void;
  /** Twilio sent `stop` or the socket closed; must release every provider session. Idempotent. */
  onEnd(reason: 'stop' | 'socket_closed' | 'error' | 'drain'): void;
}

/** Facts telephony established from the signed webhook and the consumed one-time token — never from the model. */
export interface CallStart {
  tenantId: string;
  callSid: string;
  streamSid: string;
  accountSid: string;
  direction: 'inbound' | 'outbound';
  /** The caller's number (inbound) or the dialled customer (outbound), E.164 when known. */
  from: string | null;
  to: string;
  /** The tenant's calls.id row created by the voice webhook. */
  callId: string;
  /** Extra server-minted parameters (e.g. reminder appointment id for outbound calls). */
  params: Record<string, string>;
}
