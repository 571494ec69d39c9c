import { DeepgramClient } from '@deepgram/sdk';
import { PluginError, closeWithGrace, toPluginError } from '../../core/sdk/index.js';
const PROVIDER = 'deepgram';
const DEFAULT_VOICE = 'aura-asteria-en';
const OPEN_TIMEOUT_MS = 5000;
const CLOSE_GRACE_MS = 1000;
function isObject(v) {
    return typeof v === 'object' && v !== null;
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
        const onAbort = () => finish(new PluginError('timeout', 'deepgram speak open aborted', { provider: PROVIDER }));
        const timer = setTimeout(() => finish(new PluginError('timeout', 'deepgram speak open timed out', { provider: PROVIDER })), OPEN_TIMEOUT_MS);
        signal?.addEventListener('abort', onAbort, { once: true });
        conn.waitForOpen().then(() => finish(), (e) => finish(e));
    });
}
function openError(e) {
    const msg = isObject(e) && typeof e.message === 'string' ? e.message : '';
    const m = /Unexpected server response: (\d{3})/.exec(msg);
    if (m)
        return toPluginError({ status: Number(m[1]) }, PROVIDER);
    return toPluginError(e, PROVIDER);
}
class DeepgramTtsSession {
    conn;
    hooks;
    ctx;
    seq = 0;
    /** Between clear() and the server's Cleared, whatever arrives was synthesised for the cleared text. */
    discarding = false;
    /** The SDK's dispatcher was detached: JSON is parsed in attachSocket's listener. */
    ownJson = false;
    closing;
    closed = false;
    started = false;
    onClosed;
    constructor(conn, hooks, ctx) {
        this.conn = conn;
        this.hooks = hooks;
        this.ctx = ctx;
        conn.on('message', (m) => { if (!this.ownJson)
            this.onControl(m); });
        conn.on('error', (err) => ctx.logger.warn({ err: err.message }, 'deepgram speak socket error'));
        conn.on('close', (ev) => this.handleClose(ev));
    }
    start() { this.started = true; }
    /**
     * Messages straight off the SDK's socket. For each binary message the SDK would build a Blob (a copy into
     * native storage plus an async read to get it back), which at a few hundred calls is a large share of the
     * process's allocations and GC; here audio stays the ArrayBuffer it arrived as, synchronously and in order.
     * The SDK's own dispatcher is detached when present (its JSON then comes through here too); if a future SDK
     * renames it, JSON keeps flowing through `on('message')` and only the Blob cost returns.
     * Registered after connect(), because connect() drops every message listener it didn't add itself.
     */
    attachSocket() {
        const sdkDispatch = this.conn.binaryAwareHandler;
        if (typeof sdkDispatch === 'function') {
            this.conn.socket.removeEventListener('message', sdkDispatch);
            this.ownJson = true;
        }
        this.conn.socket.addEventListener('message', (ev) => {
            const data = ev.data;
            if (this.closed)
                return;
            if (typeof data === 'string') {
                if (!this.ownJson)
                    return;
                let msg;
                try {
                    msg = JSON.parse(data);
                }
                catch {
                    this.ctx.logger.warn({}, 'deepgram speak sent a non-JSON text frame');
                    return;
                }
                this.onControl(msg);
            }
            else if (data instanceof ArrayBuffer) {
                this.onAudioChunk(Buffer.from(data));
            }
            else if (ArrayBuffer.isView(data)) {
                this.onAudioChunk(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
            }
        });
    }
    onAudioChunk(buf) {
        if (this.discarding || buf.length === 0)
            return;
        this.hooks.onAudio(buf);
    }
    /** JSON control messages: Metadata, Flushed, Cleared, Warning. */
    onControl(m) {
        if (this.closed || m instanceof Blob || !isObject(m))
            return;
        switch (m.type) {
            case 'Flushed':
                if (this.discarding)
                    return;
                this.hooks.onFlushed(typeof m.sequence_id === 'number' ? m.sequence_id : -1);
                return;
            case 'Cleared':
                this.discarding = false;
                return;
            case 'Warning':
                this.ctx.logger.warn({ code: m.code, description: m.description }, 'deepgram speak warning');
                return;
            default:
                return;
        }
    }
    handleClose(ev) {
        if (this.closed)
            return;
        this.closed = true;
        if (!this.started)
            return;
        if (this.closing) {
            this.onClosed?.();
            return;
        }
        const code = isObject(ev) && typeof ev.code === 'number' ? ev.code : 0;
        this.ctx.logger.warn({ code }, 'deepgram speak socket closed unexpectedly');
        this.hooks.onError(new PluginError('connectivity', `deepgram speak socket closed (${code})`, { provider: PROVIDER }));
    }
    send(fn) {
        if (this.closed || this.closing)
            return false;
        try {
            fn();
            return true;
        }
        catch (e) {
            // The socket is no longer open; its close event reports the failure once.
            this.ctx.logger.debug({ err: e.message }, 'deepgram speak send on a closed socket');
            return false;
        }
    }
    speak(text) {
        if (text)
            this.send(() => this.conn.sendText({ type: 'Speak', text }));
    }
    flush() {
        const seq = this.seq++;
        this.send(() => this.conn.sendFlush({ type: 'Flush' }));
        return seq;
    }
    clear() {
        if (this.send(() => this.conn.sendClear({ type: 'Clear' })))
            this.discarding = true;
    }
    close() {
        if (this.closing)
            return this.closing;
        if (this.closed)
            return (this.closing = Promise.resolve());
        const g = closeWithGrace({ sendClose: () => this.conn.sendClose({ type: 'Close' }), forceClose: () => this.conn.close(), graceMs: CLOSE_GRACE_MS });
        this.onClosed = g.peerClosed;
        this.closing = g.done;
        return this.closing;
    }
}
export function createDeepgramTts(ctx, settings, tenantKey) {
    const apiKey = tenantKey ?? ctx.env.DEEPGRAM_API_KEY;
    const dg = new DeepgramClient({ apiKey: apiKey ?? '', baseUrl: ctx.env.DEEPGRAM_BASE_URL || undefined, maxRetries: 0 });
    const noKey = () => new PluginError('auth', 'no Deepgram API key configured', { provider: PROVIDER });
    return {
        async open(o) {
            if (!apiKey)
                throw noKey();
            let conn;
            try {
                conn = await dg.speak.v1.connect({
                    model: o.voice ?? settings.voice ?? DEFAULT_VOICE,
                    encoding: 'mulaw',
                    sample_rate: '8000',
                    reconnectAttempts: 0,
                    connectionTimeoutInSeconds: OPEN_TIMEOUT_MS / 1000,
                });
            }
            catch (e) {
                throw toPluginError(e, PROVIDER);
            }
            const session = new DeepgramTtsSession(conn, o, ctx);
            conn.connect();
            session.attachSocket();
            try {
                await waitOpen(conn, o.signal);
            }
            catch (e) {
                conn.close();
                throw openError(e);
            }
            session.start();
            return session;
        },
        async synthesize(o) {
            if (!apiKey)
                throw noKey();
            try {
                const audio = await dg.speak.v1.audio.generate({ text: o.text, model: o.voice ?? settings.voice ?? DEFAULT_VOICE, encoding: 'mulaw', sample_rate: 8000, container: 'none' }, { abortSignal: o.signal });
                return Buffer.from(await audio.arrayBuffer());
            }
            catch (e) {
                throw toPluginError(e, PROVIDER);
            }
        },
        // Live sessions belong to their calls, which close them; a config change must not cut a call short.
        async close() { },
    };
}
//# sourceMappingURL=tts.js.map