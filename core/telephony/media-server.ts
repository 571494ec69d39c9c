import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket, type RawData } from 'ws';
import type { Logger } from '../observability/logger.js';
import { metrics } from '../observability/metrics.js';
import type { StateStore } from '../state/store.js';
import type { CallHandler, CallStart, MediaLink } from './media-link.js';
import { MediaFrameEncoder } from './media-frames.js';
import type { StreamTicket } from './webhooks.js';

export const MEDIA_PATH = '/twilio/media';
/** A 20 ms μ-law frame is ~220 base64 chars; 64 KiB leaves room for big `start` frames and nothing else. */
export const MAX_PAYLOAD = 64 * 1024;
const START_TIMEOUT_MS = 5_000;
/**
 * Twilio sends a frame every 20 ms for as long as the call lives, silence included; a socket with no frame
 * for a minute belongs to a call that is gone without a `stop`, and holds STT/TTS sessions open until closed.
 */
export const IDLE_TIMEOUT_MS = 60_000;
const MAX_MALFORMED = 20;
/** Twilio reads every message as JSON text; a Buffer must still go out in a text frame. */
const TEXT_FRAME = { binary: false } as const;
/** Twilio sends 50 frames/s; anything far above that is abuse, not audio. */
const MAX_FRAMES_PER_SEC = 400;
const MAX_EARLY_FRAMES = 50;
/** Twilio's media edge is a handful of addresses carrying every call; a cap per address stops one client
 * from holding every socket, and is set far above what one Twilio edge carries to one voice process. */
export const MAX_CONN_PER_IP = 2_000;

export interface MediaServerOptions {
  /** The one-time tokens and per-call stream claims (CallKeys: the state store, Postgres while it is down). */
  state: Pick<StateStore, 'take' | 'setIfAbsent' | 'delete'>;
  logger: Logger;
  /** Called once a stream proved it belongs to a signed call; returns the call's handler. */
  startCall: (start: CallStart, link: MediaLink) => Promise<CallHandler>;
  isDraining: () => boolean;
  startTimeoutMs?: number;
  /** Default {@link IDLE_TIMEOUT_MS}; tests shorten it. */
  idleTimeoutMs?: number;
  /** Default {@link MAX_CONN_PER_IP}; tests lower it. */
  maxConnPerIp?: number;
  /** Upgrade paths another handler on the same server answers (left alone here, not 404'd). */
  otherPaths?: readonly string[];
}

interface TwilioFrame {
  event?: unknown; streamSid?: unknown;
  start?: { callSid?: unknown; accountSid?: unknown; streamSid?: unknown; customParameters?: Record<string, unknown>; mediaFormat?: { encoding?: unknown } };
  media?: { payload?: unknown; track?: unknown };
  dtmf?: { digit?: unknown };
  mark?: { name?: unknown };
}

/** Bytes a well-formed base64 string decodes to (-1 when its length cannot be base64). */
function base64Length(b64: string): number {
  if (b64.length % 4 !== 0) return -1;
  const pad = b64.endsWith('==') ? 2 : b64.endsWith('=') ? 1 : 0;
  return (b64.length / 4) * 3 - pad;
}

/** Stream lifecycle for one socket: pre-start (only `connected`/`start`), started, ended. */
class MediaConnection {
  private streamSid: string | null = null;
  private handler: CallHandler | null = null;
  private starting = false;
  private ended = false;
  private malformed = 0;
  private frames = 0;
  private windowStart = Date.now();
  private early: Buffer[] = [];
  private readonly startTimer: NodeJS.Timeout;
  private idleTimer: NodeJS.Timeout;
  private streamKey: string | null = null;

  constructor(private readonly ws: WebSocket, private readonly o: MediaServerOptions) {
    this.startTimer = setTimeout(() => this.fail(1008, 'no start', 'start_timeout'), o.startTimeoutMs ?? START_TIMEOUT_MS);
    this.idleTimer = setTimeout(() => this.fail(1000, 'idle', 'idle'), o.idleTimeoutMs ?? IDLE_TIMEOUT_MS);
    ws.on('message', (data, isBinary) => this.onMessage(data, isBinary));
    ws.on('close', () => this.end('socket_closed'));
    ws.on('error', () => this.end('error'));
  }

  private drop(reason: string): void {
    metrics.mediaFramesDropped.inc({ reason });
    if (++this.malformed > MAX_MALFORMED) this.fail(1008, 'too many malformed frames', 'malformed_limit');
  }

  private fail(code: number, reason: string, metric: string): void {
    metrics.mediaFramesDropped.inc({ reason: metric });
    this.ws.close(code, reason);
    this.end('error');
  }

  private onMessage(data: RawData, isBinary: boolean): void {
    if (this.ended) return;
    const now = Date.now();
    if (now - this.windowStart >= 1000) { this.windowStart = now; this.frames = 0; }
    if (++this.frames > MAX_FRAMES_PER_SEC) return this.fail(1008, 'frame rate', 'rate_limit');
    if (isBinary) return this.drop('binary');
    let f: TwilioFrame;
    try { f = JSON.parse(data.toString()) as TwilioFrame; } catch { return this.drop('json'); }
    if (!f || typeof f !== 'object' || typeof f.event !== 'string') return this.drop('shape');
    this.idleTimer.refresh();
    switch (f.event) {
      case 'connected': return;
      case 'start': return void this.onStart(f);
      case 'media': {
        if (this.streamSid && f.streamSid !== this.streamSid) return this.drop('stream_sid');
        const payload = f.media?.payload;
        if (typeof payload !== 'string' || payload.length === 0 || payload.length > 8192) return this.drop('payload');
        const audio = Buffer.from(payload, 'base64');
        // Node's decoder skips characters outside the alphabet, so bad base64 shows as a short decode.
        if (audio.length === 0 || audio.length !== base64Length(payload)) return this.drop('base64');
        if (this.handler) this.handler.onAudio(audio);
        else if (this.starting) {
          // Real audio that arrived while voice was starting: keep the newest, never count it as malformed.
          if (this.early.push(audio) > MAX_EARLY_FRAMES) { this.early.shift(); metrics.mediaFramesDropped.inc({ reason: 'early_overflow' }); }
        } else this.drop('before_start');
        return;
      }
      case 'dtmf': {
        const d = f.dtmf?.digit;
        if (typeof d !== 'string' || !/^[0-9*#A-D]$/.test(d)) return this.drop('dtmf');
        this.handler?.onDtmf(d);
        return;
      }
      case 'mark': {
        const n = f.mark?.name;
        if (typeof n !== 'string') return this.drop('mark');
        this.handler?.onMark(n);
        return;
      }
      case 'stop': this.ws.close(1000, 'stop'); this.end('stop'); return;
      default: return this.drop('event');
    }
  }

  private async onStart(f: TwilioFrame): Promise<void> {
    if (this.starting || this.handler) return this.drop('second_start');
    const s = f.start;
    const callSid = s?.callSid;
    const streamSid = typeof f.streamSid === 'string' ? f.streamSid : s?.streamSid;
    const token = s?.customParameters?.callToken;
    const encoding = s?.mediaFormat?.encoding;
    if (typeof callSid !== 'string' || typeof streamSid !== 'string' || typeof token !== 'string' || token.length > 200) {
      return this.fail(1008, 'bad start', 'start_shape');
    }
    if (encoding !== undefined && encoding !== 'audio/x-mulaw') return this.fail(1003, 'codec', 'codec');
    this.starting = true;
    clearTimeout(this.startTimer);
    try {
      // GETDEL: a token works once, for the call it was minted for, and only before it expires.
      const raw = await this.o.state.take(`streamtok:${token}`);
      const ticket = raw ? (JSON.parse(raw) as StreamTicket) : null;
      if (!ticket || ticket.callSid !== callSid || (typeof s?.accountSid === 'string' && ticket.accountSid && s.accountSid !== ticket.accountSid)) {
        this.o.logger.warn({ code: 'TEL_ERR_STREAM_TOKEN', callSid }, 'media stream refused: bad call token');
        return this.fail(1008, 'bad token', 'token');
      }
      const streamKey = `stream:${callSid}`;
      if (!(await this.o.state.setIfAbsent(streamKey, streamSid, 3600))) {
        this.o.logger.warn({ code: 'TEL_ERR_STREAM_DUPLICATE', callSid }, 'second media stream for a live call refused');
        return this.fail(1008, 'duplicate stream', 'duplicate');
      }
      if (this.ended) {
        // The socket went away while we claimed the call; end() has run, so release the claim here.
        await this.o.state.delete(streamKey);
        return;
      }
      this.streamKey = streamKey;
      this.streamSid = streamSid;
      const ws = this.ws;
      // The hot path out (50 messages a second per speaking call): envelopes built once per stream (media-frames.ts).
      const frames = new MediaFrameEncoder(streamSid);
      const clear = JSON.stringify({ event: 'clear', streamSid });
      const link: MediaLink = {
        streamSid,
        sendAudio: (mulaw) => { if (ws.readyState === ws.OPEN) ws.send(frames.encode(mulaw, ws.bufferedAmount === 0), TEXT_FRAME); },
        sendMark: (name) => { if (ws.readyState === ws.OPEN) ws.send(JSON.stringify({ event: 'mark', streamSid, mark: { name } })); },
        clear: () => { if (ws.readyState === ws.OPEN) ws.send(clear); },
        close: () => ws.close(1000, 'done'),
        get bufferedAmount() { return ws.bufferedAmount; },
      };
      const start: CallStart = {
        tenantId: ticket.tenantId, callSid, streamSid, accountSid: ticket.accountSid, direction: ticket.direction,
        from: ticket.from, to: ticket.to, callId: ticket.callId, params: ticket.params,
      };
      this.handler = await this.o.startCall(start, link);
      if (this.ended) { this.handler.onEnd('socket_closed'); return; }
      for (const a of this.early.splice(0)) this.handler.onAudio(a);
    } catch (e) {
      this.o.logger.error({ err: (e as Error).message, callSid }, 'media stream start failed');
      this.fail(1011, 'start failed', 'start_error');
    } finally {
      this.starting = false;
    }
  }

  end(reason: 'stop' | 'socket_closed' | 'error' | 'drain'): void {
    if (this.ended) return;
    this.ended = true;
    clearTimeout(this.startTimer);
    clearTimeout(this.idleTimer);
    this.early = [];
    if (this.streamKey) { const k = this.streamKey; this.streamKey = null; void this.o.state.delete(k).catch(() => {}); }
    try { this.handler?.onEnd(reason); } catch (e) { this.o.logger.error({ err: (e as Error).message }, 'call end handler threw'); }
  }
}

/**
 * Attaches the Twilio media WebSocket to the HTTP server. Path, drain state and per-IP caps are checked
 * before the upgrade completes; stream identity is proven by the one-time token on `start`.
 */
export function attachMediaServer(server: http.Server, o: MediaServerOptions): { wss: WebSocketServer; close(): Promise<void> } {
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_PAYLOAD, perMessageDeflate: false });
  const perIp = new Map<string, number>();
  const reject = (socket: Duplex, status: number, text: string) => {
    socket.write(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    socket.destroy();
  };
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = (req.url ?? '').split('?')[0];
    // Other sockets on this server (the console's browser test call) have their own upgrade handler.
    if (path !== MEDIA_PATH) { if (o.otherPaths?.includes(path ?? '')) return; return reject(socket, 404, 'Not Found'); }
    if (o.isDraining()) return reject(socket, 503, 'Service Unavailable');
    const ip = req.socket.remoteAddress ?? 'unknown';
    const n = perIp.get(ip) ?? 0;
    if (n >= (o.maxConnPerIp ?? MAX_CONN_PER_IP)) return reject(socket, 429, 'Too Many Requests');
    wss.handleUpgrade(req, socket, head, (ws) => {
      perIp.set(ip, (perIp.get(ip) ?? 0) + 1);
      ws.on('close', () => { const c = (perIp.get(ip) ?? 1) - 1; if (c <= 0) perIp.delete(ip); else perIp.set(ip, c); });
      new MediaConnection(ws, o);
    });
  });
  return {
    wss,
    close: () => new Promise<void>((resolve) => {
      for (const c of wss.clients) c.close(1001, 'shutdown');
      wss.close(() => resolve());
    }),
  };
}
