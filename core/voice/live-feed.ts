import type { Logger } from '../observability/logger.js';
import type { StateStore } from '../state/store.js';
import type { CallSession } from './call-session.js';

/** One line of a tenant's live feed: what the console's live view and test-call page draw. */
export type LiveEvent =
  | { type: 'started'; callSid: string; direction: 'inbound' | 'outbound'; at: string }
  | { type: 'utterance'; callSid: string; role: 'caller' | 'agent'; text: string; at: string }
  | { type: 'barge_in'; callSid: string; kind: string; heard?: string; at: string }
  | { type: 'ended'; callSid: string; reason: string; at: string };

const channel = (tenantId: string) => `live:${tenantId}`;

/**
 * Publishes live call events per tenant through the state store's pub/sub, so a console connected to any api
 * process sees calls running in any voice process. Fire-and-forget: a lost live line never touches the call
 * (the persisted transcript in call_events stays the record).
 */
export class LiveFeed {
  constructor(private readonly o: { state: Pick<StateStore, 'publish' | 'subscribe'>; logger: Logger }) {}

  publish(tenantId: string, e: LiveEvent): void {
    this.o.state.publish(channel(tenantId), JSON.stringify(e))
      .catch((err: unknown) => this.o.logger.debug({ err: (err as Error).message, tenantId }, 'live feed publish dropped'));
  }

  /** Subscribes to one tenant's feed; returns the unsubscribe function. */
  subscribe(tenantId: string, fn: (e: LiveEvent) => void): Promise<() => Promise<void>> {
    return this.o.state.subscribe(channel(tenantId), (m) => {
      try { fn(JSON.parse(m) as LiveEvent); } catch { this.o.logger.warn({ tenantId }, 'unreadable live feed message dropped'); }
    });
  }

  /** Wires one call session's events into the feed (VoiceService emits `call` for each new session). */
  follow(session: CallSession): void {
    const tenantId = session.tenantId;
    const callSid = session.callSid;
    const at = () => new Date().toISOString();
    this.publish(tenantId, { type: 'started', callSid, direction: session.direction, at: at() });
    session.on('utterance', (u) => this.publish(tenantId, { type: 'utterance', callSid, role: u.role, text: u.text, at: at() }));
    session.on('barge_in', (b) => { if (b.kind === 'speech') this.publish(tenantId, { type: 'barge_in', callSid, kind: b.kind, heard: b.heard, at: at() }); });
    session.on('ended', (e) => this.publish(tenantId, { type: 'ended', callSid, reason: e.reason, at: at() }));
  }
}
