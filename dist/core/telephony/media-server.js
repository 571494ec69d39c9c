import { WebSocketServer } from 'ws';
import { metrics } from '../observability/metrics.js';
export const MEDIA_PATH = '/twilio/media';
/** A 20 ms μ-law frame is ~220 base64 chars; 64 KiB leaves room for big `start` frames and nothing else. */
export const MAX_PAYLOAD = 64 * 1024;
const START_TIMEOUT_MS = 5_000;
const IDLE_TIMEOUT_MS = 60_000;
const MAX_MALFORMED = 20;
/** Twilio sends 50 frames/s; anything far above that is abuse, not audio. */
const MAX_FRAMES_PER_SEC = 400;
const MAX_EARLY_FRAMES = 50;
const MAX_CONN_PER_IP = 2_000;
/** Bytes a well-formed base64 string decodes to (-1 when its length cannot be base64). */
function base64Length(b64) {
    if (b64.length % 4 !== 0)
        return -1;
    const pad = b64.endsWith('==') ? 2 : b64.endsWith('=') ? 1 : 0;
    return (b64.length / 4) * 3 - pad;
}
/** Stream lifecycle for one socket: pre-start (only `connected`/`start`), started, ended. */
class MediaConnection {
    ws;
    o;
    streamSid = null;
    handler = null;
    starting = false;
    ended = false;
    malformed = 0;
    frames = 0;
    windowStart = Date.now();
    early = [];
    startTimer;
    idleTimer;
    streamKey = null;
    constructor(ws, o) {
        this.ws = ws;
        this.o = o;
        this.startTimer = setTimeout(() => this.fail(1008, 'no start', 'start_timeout'), o.startTimeoutMs ?? START_TIMEOUT_MS);
        this.idleTimer = setTimeout(() => this.fail(1000, 'idle', 'idle'), IDLE_TIMEOUT_MS);
        ws.on('message', (data, isBinary) => this.onMessage(data, isBinary));
        ws.on('close', () => this.end('socket_closed'));
        ws.on('error', () => this.end('error'));
    }
    drop(reason) {
        metrics.mediaFramesDropped.inc({ reason });
        if (++this.malformed > MAX_MALFORMED)
            this.fail(1008, 'too many malformed frames', 'malformed_limit');
    }
    fail(code, reason, metric) {
        metrics.mediaFramesDropped.inc({ reason: metric });
        this.ws.close(code, reason);
        this.end('error');
    }
    onMessage(data, isBinary) {
        if (this.ended)
            return;
        const now = Date.now();
        if (now - this.windowStart >= 1000) {
            this.windowStart = now;
            this.frames = 0;
        }
        if (++this.frames > MAX_FRAMES_PER_SEC)
            return this.fail(1008, 'frame rate', 'rate_limit');
        if (isBinary)
            return this.drop('binary');
        let f;
        try {
            f = JSON.parse(data.toString());
        }
        catch {
            return this.drop('json');
        }
        if (!f || typeof f !== 'object' || typeof f.event !== 'string')
            return this.drop('shape');
        this.idleTimer.refresh();
        switch (f.event) {
            case 'connected': return;
            case 'start': return void this.onStart(f);
            case 'media': {
                if (this.streamSid && f.streamSid !== this.streamSid)
                    return this.drop('stream_sid');
                const payload = f.media?.payload;
                if (typeof payload !== 'string' || payload.length === 0 || payload.length > 8192)
                    return this.drop('payload');
                const audio = Buffer.from(payload, 'base64');
                // Node's decoder skips characters outside the alphabet, so bad base64 shows as a short decode.
                if (audio.length === 0 || audio.length !== base64Length(payload))
                    return this.drop('base64');
                if (this.handler)
                    this.handler.onAudio(audio);
                else if (this.starting) {
                    // Real audio that arrived while voice was starting: keep the newest, never count it as malformed.
                    if (this.early.push(audio) > MAX_EARLY_FRAMES) {
                        this.early.shift();
                        metrics.mediaFramesDropped.inc({ reason: 'early_overflow' });
                    }
                }
                else
                    this.drop('before_start');
                return;
            }
            case 'dtmf': {
                const d = f.dtmf?.digit;
                if (typeof d !== 'string' || !/^[0-9*#A-D]$/.test(d))
                    return this.drop('dtmf');
                this.handler?.onDtmf(d);
                return;
            }
            case 'mark': {
                const n = f.mark?.name;
                if (typeof n !== 'string')
                    return this.drop('mark');
                this.handler?.onMark(n);
                return;
            }
            case 'stop':
                this.ws.close(1000, 'stop');
                this.end('stop');
                return;
            default: return this.drop('event');
        }
    }
    async onStart(f) {
        if (this.starting || this.handler)
            return this.drop('second_start');
        const s = f.start;
        const callSid = s?.callSid;
        const streamSid = typeof f.streamSid === 'string' ? f.streamSid : s?.streamSid;
        const token = s?.customParameters?.callToken;
        const encoding = s?.mediaFormat?.encoding;
        if (typeof callSid !== 'string' || typeof streamSid !== 'string' || typeof token !== 'string' || token.length > 200) {
            return this.fail(1008, 'bad start', 'start_shape');
        }
        if (encoding !== undefined && encoding !== 'audio/x-mulaw')
            return this.fail(1003, 'codec', 'codec');
        this.starting = true;
        clearTimeout(this.startTimer);
        try {
            // GETDEL: a token works once, for the call it was minted for, and only before it expires.
            const raw = await this.o.state.take(`streamtok:${token}`);
            const ticket = raw ? JSON.parse(raw) : null;
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
            const prefix = `{"event":"media","streamSid":${JSON.stringify(streamSid)},"media":{"payload":"`;
            const link = {
                streamSid,
                sendAudio: (mulaw) => { if (ws.readyState === ws.OPEN)
                    ws.send(prefix + mulaw.toString('base64') + '"}}'); },
                sendMark: (name) => { if (ws.readyState === ws.OPEN)
                    ws.send(JSON.stringify({ event: 'mark', streamSid, mark: { name } })); },
                clear: () => { if (ws.readyState === ws.OPEN)
                    ws.send(JSON.stringify({ event: 'clear', streamSid })); },
                close: () => ws.close(1000, 'done'),
                get bufferedAmount() { return ws.bufferedAmount; },
            };
            const start = {
                tenantId: ticket.tenantId, callSid, streamSid, accountSid: ticket.accountSid, direction: ticket.direction,
                from: ticket.from, to: ticket.to, callId: ticket.callId, params: ticket.params,
            };
            this.handler = await this.o.startCall(start, link);
            if (this.ended) {
                this.handler.onEnd('socket_closed');
                return;
            }
            for (const a of this.early.splice(0))
                this.handler.onAudio(a);
        }
        catch (e) {
            this.o.logger.error({ err: e.message, callSid }, 'media stream start failed');
            this.fail(1011, 'start failed', 'start_error');
        }
        finally {
            this.starting = false;
        }
    }
    end(reason) {
        if (this.ended)
            return;
        this.ended = true;
        clearTimeout(this.startTimer);
        clearTimeout(this.idleTimer);
        this.early = [];
        if (this.streamKey) {
            const k = this.streamKey;
            this.streamKey = null;
            void this.o.state.delete(k).catch(() => { });
        }
        try {
            this.handler?.onEnd(reason);
        }
        catch (e) {
            this.o.logger.error({ err: e.message }, 'call end handler threw');
        }
    }
}
/**
 * Attaches the Twilio media WebSocket to the HTTP server. Path, drain state and per-IP caps are checked
 * before the upgrade completes; stream identity is proven by the one-time token on `start`.
 */
export function attachMediaServer(server, o) {
    const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_PAYLOAD, perMessageDeflate: false });
    const perIp = new Map();
    const reject = (socket, status, text) => {
        socket.write(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
        socket.destroy();
    };
    server.on('upgrade', (req, socket, head) => {
        const path = (req.url ?? '').split('?')[0];
        if (path !== MEDIA_PATH)
            return reject(socket, 404, 'Not Found');
        if (o.isDraining())
            return reject(socket, 503, 'Service Unavailable');
        const ip = req.socket.remoteAddress ?? 'unknown';
        const n = perIp.get(ip) ?? 0;
        if (n >= MAX_CONN_PER_IP)
            return reject(socket, 429, 'Too Many Requests');
        wss.handleUpgrade(req, socket, head, (ws) => {
            perIp.set(ip, (perIp.get(ip) ?? 0) + 1);
            ws.on('close', () => { const c = (perIp.get(ip) ?? 1) - 1; if (c <= 0)
                perIp.delete(ip);
            else
                perIp.set(ip, c); });
            new MediaConnection(ws, o);
        });
    });
    return {
        wss,
        close: () => new Promise((resolve) => {
            for (const c of wss.clients)
                c.close(1001, 'shutdown');
            wss.close(() => resolve());
        }),
    };
}
//# sourceMappingURL=media-server.js.map