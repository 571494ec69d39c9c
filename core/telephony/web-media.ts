import crypto from 'node:crypto';
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import type { Logger } from '../observability/logger.js';
import { metrics } from '../observability/metrics.js';
import type { StateStore } from '../state/store.js';
import type { WithTenant } from '../tenancy/with-tenant.js';
import type { CallHandler, CallStart, MediaLink } from './media-link.js';

/**
 * The browser's "talk to your agent" transport, next to the Twilio media socket: the same CallStart and
 * MediaLink seam, so the browser call runs through the very CallSession a phone call does (docs/console.md).
 *
 * Wire protocol (WebSocket at WEB_MEDIA_PATH): the browser sends binary messages of μ-law 8 kHz audio, one
 * 20 ms frame (160 bytes) each, and text `{"event":"mark","name"}` when its player reaches a mark, or
 * `{"event":"stop"}`. The server sends binary μ-law audio, `{"event":"mark","name"}` after the audio it
 * marks, and `{"event":"clear"}` (drop queued audio, return pending marks at once) — Twilio's semantics.
 */
export const WEB_MEDIA_PATH = '/console/talk';
/** A one-time ticket lives just long enough for the page to open its socket. */
export const TALK_TICKET_TTL_SEC = 60;
/** 100 ms of audio per message at most; a browser sends 20 ms. */
const MAX_FRAME_BYTES = 800;
const MAX_MESSAGES_PER_SEC = 200;
/** Talk calls are a test tool: a forgotten tab must not hold provider sessions open for long. */
const IDLE_TIMEOUT_MS = 30_000;

interface TalkTicket { tenantId: string; callId: string; callSid: string; userId: string }

export interface WebMediaOptions {
  state: Pick<StateStore, 'set' | 'take'>;
  logger: Logger;
  startCall: (start: CallStart, link: MediaLink) => Promise<CallHandler>;
  isDraining: () => boolean;
  /** The console session's user for this upgrade request (cookie), or null: the ticket must be theirs. */
  userOf: (req: http.IncomingMessage) => Promise<string | null>;
}

/**
 * Opens a browser test call: its calls row (direction inbound, number `browser`) and a one-time ticket bound
 * to the signed-in user. The socket must present both the ticket and that user's session cookie.
 */
export async function mintTalkTicket(o: { state: Pick<StateStore, 'set'>; withTenant: WithTenant; tenantId: string; userId: string }): Promise<{ ticket: string; callSid: string; callId: string }> {
  const callSid = `WB${crypto.randomBytes(16).toString('hex')}`;
  const row = await o.withTenant(o.tenantId, (trx) => trx('calls').insert({
    call_sid: callSid, direction: 'inbound', from_number: null, to_number: 'browser', status: 'in-progress', status_rank: 3,
  }).returning('id')) as { id: string }[];
  const callId = row[0]!.id;
  const ticket = crypto.randomBytes(24).toString('base64url');
  const t: TalkTicket = { tenantId: o.tenantId, callId, callSid, userId: o.userId };
  await o.state.set(`talktok:${ticket}`, JSON.stringify(t), TALK_TICKET_TTL_SEC);
  return { ticket, callSid, callId };
}

class WebConnection {
  private handler: CallHandler | null = null;
  private ended = false;
  private frames = 0;
  private windowStart = Date.now();
  private readonly idle: NodeJS.Timeout;

  constructor(private readonly ws: WebSocket, private readonly o: WebMediaOptions, ticket: TalkTicket) {
    this.idle = setTimeout(() => { ws.close(1000, 'idle'); this.end('socket_closed'); }, IDLE_TIMEOUT_MS);
    ws.on('message', (d, bin) => this.onMessage(d, bin));
    ws.on('close', () => this.end('socket_closed'));
    ws.on('error', () => this.end('error'));
    void this.start(ticket);
  }

  private async start(t: TalkTicket): Promise<void> {
    const ws = this.ws;
    const link: MediaLink = {
      streamSid: `MZ${t.callSid.slice(2)}`,
      sendAudio: (mulaw) => { if (ws.readyState === ws.OPEN) ws.send(mulaw, { binary: true }); },
      sendMark: (name) => { if (ws.readyState === ws.OPEN) ws.send(JSON.stringify({ event: 'mark', name })); },
      clear: () => { if (ws.readyState === ws.OPEN) ws.send(JSON.stringify({ event: 'clear' })); },
      close: () => ws.close(1000, 'done'),
      get bufferedAmount() { return ws.bufferedAmount; },
    };
    const start: CallStart = {
      tenantId: t.tenantId, callSid: t.callSid, streamSid: link.streamSid, accountSid: '', direction: 'inbound',
      from: null, to: 'browser', callId: t.callId, params: { transport: 'web' },
    };
    try {
      this.handler = await this.o.startCall(start, link);
      if (this.ended) this.handler.onEnd('socket_closed');
      else if (ws.readyState === ws.OPEN) ws.send(JSON.stringify({ event: 'started', callSid: t.callSid }));
    } catch (e) {
      this.o.logger.error({ err: (e as Error).message, tenantId: t.tenantId, callSid: t.callSid }, 'browser test call start failed');
      ws.close(1011, 'start failed');
      this.end('error');
    }
  }

  private onMessage(data: RawData, isBinary: boolean): void {
    if (this.ended) return;
    const now = Date.now();
    if (now - this.windowStart >= 1000) { this.windowStart = now; this.frames = 0; }
    if (++this.frames > MAX_MESSAGES_PER_SEC) { this.ws.close(1008, 'rate'); this.end('error'); return; }
    this.idle.refresh();
    if (isBinary) {
      const b = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
      if (b.length === 0 || b.length > MAX_FRAME_BYTES) { metrics.mediaFramesDropped.inc({ reason: 'web_size' }); return; }
      this.handler?.onAudio(b);
      return;
    }
    let m: { event?: unknown; name?: unknown };
    try { m = JSON.parse(data.toString()) as typeof m; } catch { metrics.mediaFramesDropped.inc({ reason: 'web_json' }); return; }
    if (m.event === 'mark' && typeof m.name === 'string') this.handler?.onMark(m.name);
    else if (m.event === 'stop') { this.ws.close(1000, 'stop'); this.end('stop'); }
    else metrics.mediaFramesDropped.inc({ reason: 'web_event' });
  }

  private end(reason: 'stop' | 'socket_closed' | 'error'): void {
    if (this.ended) return;
    this.ended = true;
    clearTimeout(this.idle);
    try { this.handler?.onEnd(reason); } catch (e) { this.o.logger.error({ err: (e as Error).message }, 'call end handler threw'); }
  }
}

/**
 * Attaches the browser media socket. The session cookie and the one-time ticket are both checked before the
 * upgrade completes, so an unauthenticated client never gets a socket (401/403, ACC_ERR_TALK_TICKET).
 */
export function attachWebMedia(server: http.Server, o: WebMediaOptions): { close(): Promise<void> } {
  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024, perMessageDeflate: false });
  const reject = (socket: Duplex, status: number, text: string) => {
    socket.write(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    socket.destroy();
  };
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== WEB_MEDIA_PATH) return;
    if (o.isDraining()) return reject(socket, 503, 'Service Unavailable');
    void (async () => {
      const userId = await o.userOf(req);
      const raw = url.searchParams.get('ticket') ?? '';
      // Taken (GETDEL) only once the session checked out, so a stray request can't burn a user's ticket.
      const json = userId && raw && raw.length <= 100 ? await o.state.take(`talktok:${raw}`) : null;
      const ticket = json ? JSON.parse(json) as TalkTicket : null;
      if (!ticket || ticket.userId !== userId) {
        o.logger.warn({ code: 'ACC_ERR_TALK_TICKET' }, 'browser test call socket refused');
        return reject(socket, userId ? 403 : 401, userId ? 'Forbidden' : 'Unauthorized');
      }
      wss.handleUpgrade(req, socket, head, (ws) => { new WebConnection(ws, o, ticket); });
    })().catch((e: unknown) => { o.logger.error({ err: (e as Error).message }, 'browser test call upgrade failed'); reject(socket, 500, 'Internal Server Error'); });
  });
  return {
    close: () => new Promise<void>((resolve) => {
      for (const c of wss.clients) c.close(1001, 'shutdown');
      wss.close(() => resolve());
    }),
  };
}
