import { DeepgramClient } from '@deepgram/sdk';
import { PluginError, closeWithGrace, toPluginError } from '../../core/sdk/index.js';
const PROVIDER = 'deepgram';
/** Real Deepgram closes a socket after 10 s without audio or a text frame (NET-0001); docs advise 3–5 s. */
const KEEPALIVE_MS = 4000;
const OPEN_TIMEOUT_MS = 5000;
/** How long close() waits for the server's Metadata + close after CloseStream before dropping the socket. */
const CLOSE_GRACE_MS = 1000;
function isObject(v) {
    return typeof v === 'object' && v !== null;
}
/** Maps one listen message to our event; Metadata and unknown types map to nothing. */
export function mapListenMessage(m) {
    if (!isObject(m))
        return undefined;
    switch (m.type) {
        case 'Results': {
            const r = m;
            const text = r.channel?.alternatives?.[0]?.transcript ?? '';
            if (r.is_final)
                return { type: 'final', text, speechFinal: r.speech_final === true };
            return text ? { type: 'interim', text } : undefined;
        }
        case 'SpeechStarted':
            return { type: 'speech_started' };
        case 'UtteranceEnd':
            return { type: 'utterance_end' };
        default:
            return undefined;
    }
}
function waitOpen(conn, signal) {
    return new Promise((resolve, reject) => {
        let done = false;
        const finish = (err) => {
            if (done)
                return;
            done = true;
            clearTimeout(timer);
            signal?.removeEventListener('abort', onAbort);
            if (err === undefined)
                resolve();
            else
                reject(err);
        };
        const onAbort = () => finish(new PluginError('timeout', 'deepgram listen open aborted', { provider: PROVIDER }));
        const timer = setTimeout(() => finish(new PluginError('timeout', 'deepgram listen open timed out', { provider: PROVIDER })), OPEN_TIMEOUT_MS);
        signal?.addEventListener('abort', onAbort, { once: true });
        conn.waitForOpen().then(() => finish(), (e) => finish(e));
    });
}
/** Handshake failures surface as `Unexpected server response: <status>`; give them an HTTP category. */
function openError(e) {
    const msg = isObject(e) && typeof e.message === 'string' ? e.message : '';
    const m = /Unexpected server response: (\d{3})/.exec(msg);
    if (m)
        return toPluginError({ status: Number(m[1]) }, PROVIDER);
    return toPluginError(e, PROVIDER);
}
class DeepgramSttSession {
    conn;
    onEvent;
    ctx;
    closing;
    closed = false;
    keepAlive;
    onClosed;
    /** False until open() succeeded: a failed handshake is reported by open() throwing, not by an event. */
    started = false;
    constructor(conn, onEvent, ctx) {
        this.conn = conn;
        this.onEvent = onEvent;
        this.ctx = ctx;
        conn.on('message', (m) => {
            const e = mapListenMessage(m);
            if (e)
                this.onEvent(e);
        });
        conn.on('error', (err) => {
            // The close event follows and carries the decision; this line keeps the cause.
            ctx.logger.warn({ err: err.message }, 'deepgram listen socket error');
        });
        conn.on('close', (ev) => this.handleClose(ev));
    }
    start() {
        this.started = true;
        this.keepAlive = setInterval(() => this.send(() => this.conn.sendKeepAlive({ type: 'KeepAlive' })), KEEPALIVE_MS);
        this.keepAlive.unref();
    }
    handleClose(ev) {
        if (this.closed)
            return;
        this.closed = true;
        if (this.keepAlive)
            clearInterval(this.keepAlive);
        if (!this.started)
            return;
        const code = isObject(ev) && typeof ev.code === 'number' ? ev.code : 0;
        if (this.closing) {
            this.onClosed?.();
            this.onEvent({ type: 'closed' });
            return;
        }
        // A drop we did not ask for: the SDK's auto-reconnect is off, so core decides whether to reopen.
        this.ctx.logger.warn({ code }, 'deepgram listen socket closed unexpectedly');
        this.onEvent({ type: 'closed', error: new PluginError('connectivity', `deepgram listen socket closed (${code})`, { provider: PROVIDER }) });
    }
    send(fn) {
        if (this.closed || this.closing)
            return;
        try {
            fn();
        }
        catch {
            // Not open any more: the close event reports it, once, instead of an error per frame.
        }
    }
    push(chunk) {
        if (this.closed || this.closing)
            return;
        try {
            this.conn.sendMedia(chunk);
        }
        catch {
            // see send()
        }
    }
    finalize() {
        this.send(() => this.conn.sendFinalize({ type: 'Finalize' }));
    }
    close() {
        if (this.closing)
            return this.closing;
        if (this.closed)
            return (this.closing = Promise.resolve());
        const g = closeWithGrace({ sendClose: () => this.conn.sendCloseStream({ type: 'CloseStream' }), forceClose: () => this.conn.close(), graceMs: CLOSE_GRACE_MS });
        this.onClosed = g.peerClosed;
        this.closing = g.done;
        return this.closing;
    }
}
export function createDeepgramStt(ctx, settings, tenantKey) {
    const apiKey = tenantKey ?? ctx.env.DEEPGRAM_API_KEY;
    const dg = new DeepgramClient({ apiKey: apiKey ?? '', baseUrl: ctx.env.DEEPGRAM_BASE_URL || undefined, maxRetries: 0 });
    return {
        async open(o) {
            o.signal?.throwIfAborted();
            if (!apiKey)
                throw new PluginError('auth', 'no Deepgram API key configured', { provider: PROVIDER });
            let conn;
            try {
                conn = await dg.listen.v1.connect({
                    model: settings.model ?? 'nova-2-phonecall',
                    encoding: 'mulaw',
                    sample_rate: 8000,
                    channels: 1,
                    interim_results: 'true',
                    endpointing: settings.endpointingMs ?? 300,
                    utterance_end_ms: settings.utteranceEndMs ?? 1000,
                    vad_events: 'true',
                    smart_format: 'true',
                    punctuate: 'true',
                    ...(o.language ?? settings.language ? { language: o.language ?? settings.language } : {}),
                    // The SDK would otherwise silently open a fresh STT session on any abnormal close.
                    reconnectAttempts: 0,
                    connectionTimeoutInSeconds: OPEN_TIMEOUT_MS / 1000,
                });
            }
            catch (e) {
                throw toPluginError(e, PROVIDER);
            }
            const session = new DeepgramSttSession(conn, o.onEvent, ctx);
            conn.connect();
            try {
                await waitOpen(conn, o.signal);
            }
            catch (e) {
                // Stop the handshake (or the half-open socket) so nothing lingers after a failed open.
                conn.close();
                throw openError(e);
            }
            session.start();
            return session;
        },
        // Live sessions belong to their calls, which close them; a config change must not cut a call short.
        async close() { },
    };
}
//# sourceMappingURL=stt.js.map