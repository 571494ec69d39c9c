import type { VoiceSlot } from './providers.js';

/** Per-turn latency marks (performance.now() ms), emitted as `turn` once the first model audio went out. */
export interface TurnTiming {
  turn: number;
  sttFinalAt: number;
  llmFirstTokenAt?: number;
  firstClauseAt?: number;
  ttsFirstByteAt?: number;
  firstAudioOutAt?: number;
}

export interface BargeInEvent {
  kind: 'speech' | 'backchannel' | 'noise';
  speechStartedAt: number;
  decidedAt: number;
  /** Agent audio was paused at SpeechStarted. */
  paused: boolean;
  /** speech only: the model text the caller heard, which the context was truncated to. */
  heard?: string;
  /** speech only: an LLM stream was running and got aborted. */
  llmAborted?: boolean;
}

export type EndReason = 'stop' | 'socket_closed' | 'error' | 'drain' | 'end_call' | 'silence' | 'max_duration' | 'provider_failed' | 'transferred';

/**
 * Events, for tests, the bench and the console: `greeting` ({ startAt, firstFrameAt }), `turn` (TurnTiming),
 * `barge_in` (BargeInEvent), `utterance` ({ role, text }), `failed` ({ kind, category }), `ended` ({ reason }).
 */
export interface CallSessionEvents {
  greeting: [{ startAt: number; firstFrameAt: number | undefined }];
  turn: [TurnTiming];
  barge_in: [BargeInEvent];
  utterance: [{ role: 'caller' | 'agent'; text: string }];
  failed: [{ kind: VoiceSlot; category: string }];
  language: [{ language: string }];
  ended: [{ reason: EndReason }];
}

/**
 * Where a call stands, shared read-only with its collaborators (the session alone writes it): `closing` is a
 * scripted ending under way (goodbye, transfer, wrap-up), `failing` a provider fault being handled.
 */
export interface CallStatus {
  ended: boolean;
  closing: boolean;
  failing: boolean;
}
