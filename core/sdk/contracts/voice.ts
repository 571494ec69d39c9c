import type { CallOptions, VehicleInfo } from './common.js';

/** Audio on the phone leg: 8 kHz μ-law, mono, no container. */
export interface AudioFormat { encoding: 'mulaw'; sampleRateHz: 8000 }

/**
 * What a live STT session reports. `final.speechFinal` marks the end of the caller's turn.
 *
 * `final.language` is the BCP-47 tag of the language the words were spoken in, when the vendor says so (a
 * session opened with `language: "multi"`, e.g. Deepgram's code-switching mode): the dominant one when a final
 * mixes languages. Leave it out when the vendor reports none; never echo the language the session was opened
 * with, since core reads a reported language as evidence of what the caller speaks (docs/languages.md).
 */
export type TranscriptEvent =
  | { type: 'speech_started' }
  | { type: 'interim'; text: string }
  | { type: 'final'; text: string; speechFinal: boolean; language?: string }
  | { type: 'utterance_end' }
  | { type: 'closed'; error?: Error };

/** The result of {@link SttProvider.transcribe}. */
export interface PrerecordedTranscript {
  text: string;
  /** BCP-47 language the vendor detected or was told. */
  language?: string;
  durationSec?: number;
  /** 0..1, the vendor's confidence in `text`. */
  confidence?: number;
}

/** A live speech-to-text session. `push` is on the hot path: no allocation beyond what the transport needs. */
export interface SttSession {
  push(chunk: Uint8Array): void;
  /** Ask the provider to emit what it has now (end of caller turn forced by DTMF or silence). */
  finalize(): void;
  /** Idempotent; resolves when the provider socket is closed. */
  close(): Promise<void>;
}

/**
 * A streaming speech-to-text vendor. `open` resolves with a live session (or rejects with a PluginError);
 * failures after that arrive as a `closed` event carrying the error.
 *
 * @remarks Capabilities: `interim`, `vad`, `languages` (string[]). Must reject `open` when `signal` is
 * already aborted, and close the vendor socket when it aborts later.
 */
export interface SttProvider {
  /**
   * `language`: BCP-47 (`en-US`, `es`), or `multi` for a session that hears several languages and reports each
   * final's language; a vendor without such a mode should reject `multi` with an `invalid_request` PluginError
   * and not declare `multi` in its `languages` capability.
   */
  open(o: CallOptions & AudioFormat & { language?: string; onEvent: (e: TranscriptEvent) => void }): Promise<SttSession>;
  /**
   * Transcribes a whole recording (a voicemail) in one request. Optional: declare the `prerecorded`
   * capability when present. `audio` is the file as downloaded (e.g. `audio/x-wav`); an empty transcript is an
   * answer, not an error.
   */
  transcribe?(o: CallOptions & { audio: Uint8Array; contentType: string; language?: string }): Promise<PrerecordedTranscript>;
  close?(): Promise<void>;
}

/** A live text-to-speech session: text in clause by clause, μ-law audio out in arbitrary chunk sizes. */
export interface TtsSession {
  speak(text: string): void;
  /** Ends a clause; returns its sequence number, echoed in `onFlushed` when its audio is complete. */
  flush(): number;
  /** Drop queued text and audio now (barge-in). */
  clear(): void;
  close(): Promise<void>;
}

/**
 * A text-to-speech vendor: a streaming session for the live call and one-shot `synthesize` for cached lines.
 * Audio is raw μ-law 8 kHz, never in a container.
 *
 * @remarks Capabilities: `streamingInput`, `clear`.
 */
export interface TtsProvider {
  open(o: CallOptions & AudioFormat & {
    voice?: string;
    onAudio: (chunk: Buffer) => void;
    onFlushed: (sequence: number) => void;
    onError: (e: Error) => void;
  }): Promise<TtsSession>;
  /** One-shot synthesis, used for cached greetings and scripted lines. */
  synthesize(o: CallOptions & AudioFormat & { text: string; voice?: string }): Promise<Buffer>;
  close?(): Promise<void>;
}

/** Provider-neutral chat message (OpenAI chat shape, which most vendors accept). */
export type ChatMessage =
  | { role: 'system' | 'user'; content: string }
  | { role: 'assistant'; content: string | null; tool_calls?: ToolCall[] }
  | { role: 'tool'; tool_call_id: string; content: string };

/** A complete tool call from the model; `arguments` is the JSON text the model produced (core validates it). */
export interface ToolCall { id: string; type: 'function'; function: { name: string; arguments: string } }

/** A tool offered to the model: JSON Schema parameters, provider formats it. */
export interface ToolSchema { name: string; description: string; parameters: Record<string, unknown> }

/** Streamed model output. Tool calls arrive whole (the plugin accumulates fragments). */
export type LlmDelta =
  | { type: 'text'; text: string }
  | { type: 'tool_call'; call: ToolCall }
  | { type: 'done'; finishReason: 'stop' | 'tool_calls' | 'length' | 'content_filter' | 'other'; usage?: { promptTokens: number; completionTokens: number } };

/** @remarks Capabilities: `tools`, `parallelToolCalls`. */
export interface LlmProvider {
  /** Streams deltas; aborting `signal` must close the vendor stream at once (barge-in). */
  generate(o: CallOptions & { messages: ChatMessage[]; tools?: ToolSchema[]; model?: string; temperature?: number }): AsyncIterable<LlmDelta>;
  close?(): Promise<void>;
}

/** One call as the telephony vendor lists it. */
export interface ProviderCall {
  callSid: string;
  to: string;
  from: string;
  /** The vendor's status, e.g. `queued`, `ringing`, `in-progress`, `completed`, `no-answer`. */
  status: string;
  createdAt: Date;
  /** The answering-machine verdict when the vendor knows it (`human`, `machine_end_beep`, …). */
  answeredBy: string | null;
}

/** Outbound call control for a telephony vendor. Inbound webhooks and media streams are handled in core. */
export interface TelephonyProvider {
  hangUp(o: CallOptions & { callSid: string }): Promise<void>;
  /** Bridges the caller to `to` (the tenant's transfer number, never one chosen by the model). */
  transfer(o: CallOptions & { callSid: string; to: string }): Promise<void>;
  /** Replaces a live call's TwiML with core's (e.g. `<Record>` for voicemail). Optional; without it core hangs up. */
  redirect?(o: CallOptions & { callSid: string; twiml: string }): Promise<void>;
  /**
   * Creates an outbound call. The vendor fetches `url` (signed, POST) for the call's instructions when it is
   * answered, or plays `twiml` (one of the two). Status changes are posted to `statusCallbackUrl` (for each of
   * `statusCallbackEvents`, default initiated/ringing/answered/completed). With `machineDetection`, the vendor runs
   * asynchronous answering-machine detection that waits for the end of a greeting and posts its verdict
   * (`AnsweredBy`) to `amdCallbackUrl`. Not idempotent: core records its intent before calling it and reconciles
   * with {@link TelephonyProvider.findCalls} instead of calling it twice.
   */
  placeCall(o: CallOptions & {
    to: string; from: string; url?: string; twiml?: string; statusCallbackUrl: string; statusCallbackEvents?: string[];
    machineDetection?: boolean; amdCallbackUrl?: string; timeoutSec?: number;
  }): Promise<{ callSid: string }>;
  /**
   * Calls from `from` to `to` created at or after `createdAfter`, newest first: how core finds out whether a call
   * it meant to place (and then lost track of, e.g. a worker crash) exists at the vendor.
   */
  findCalls(o: CallOptions & { to: string; from: string; createdAfter: Date }): Promise<ProviderCall[]>;
  /** Speaks `text` on a live call and hangs up (a voicemail after the beep). A call already over is not an error. */
  sayAndHangUp(o: CallOptions & { callSid: string; text: string; /** BCP-47 tag of the text (Twilio `<Say language>`); the vendor's default when absent. */ language?: string }): Promise<void>;
  /** Points a number the account owns at this deployment. `configured: false` with a reason when it can't. */
  configureNumber(o: CallOptions & { e164: string; voiceUrl: string; statusCallbackUrl: string }): Promise<{ configured: boolean; reason?: string; providerSid?: string }>;
  close?(): Promise<void>;
}

/** A calendar invite carried by a message: the iCalendar text and its iTIP method (RFC 5546). */
export interface CalendarInvite {
  method: 'REQUEST' | 'CANCEL';
  /** The whole VCALENDAR, CRLF line endings; core builds it (one UID per appointment, increasing SEQUENCE). */
  ics: string;
  /** Attachment name; `invite.ics` when absent. */
  filename?: string;
}

/** One message for {@link NotifyProvider.send}. `html`, `replyTo` and `calendar` are optional extras. */
export interface NotifyMessage {
  to: string;
  subject: string;
  text: string;
  html?: string;
  replyTo?: string;
  /** Sent as a `text/calendar; method=…` part so mail clients offer "add to calendar". */
  calendar?: CalendarInvite;
}

/**
 * Sends a message: appointment confirmations to customers (with a calendar invite), and alerts to dealership
 * staff. `send` is not idempotent, so core retries it only for a PluginError with `retryable: true`.
 *
 * @remarks Mark an error retryable only when the vendor certainly did not accept the message (throttled,
 * refused the connection, 5xx before acceptance); a rejected recipient or sender is `invalid_request`
 * (not retryable), and core records it as a final outcome. Capabilities: `delivers`, `email`, `sms`,
 * `calendarInvites`.
 */
export interface NotifyProvider {
  send(o: CallOptions & NotifyMessage): Promise<{ messageId: string }>;
  close?(): Promise<void>;
}

/**
 * Decodes VINs into vehicle facts. Answer `null` for a VIN the vendor doesn't know; throw a PluginError only
 * for vendor failures.
 */
export interface VehicleDecoder {
  /** `vin` is already validated by core (length, alphabet, check digit). */
  decodeVin(o: CallOptions & { vin: string }): Promise<VehicleInfo | null>;
  close?(): Promise<void>;
}
