import { performance } from 'node:perf_hooks';
/** μ-law at 8 kHz: 8 bytes per ms; a Twilio frame is 20 ms. */
export const BYTES_PER_MS = 8;
export const FRAME_BYTES = 160;
/** One stretch of agent audio that ends with a mark: a greeting, a model clause or a scripted line. */
export class Segment {
    id;
    kind;
    text;
    /** Audio received and not yet sent, oldest first; `headOff` is the read position in chunks[0]. */
    chunks = [];
    headOff = 0;
    unsentBytes = 0;
    receivedBytes = 0;
    sentBytes = 0;
    /** Byte offset of this segment's first byte in the stream's outbound total (-1 until sent). */
    startPos = -1;
    /** No more audio will come (TTS Flushed, or a whole cached line). */
    complete = false;
    markSent = false;
    /** Twilio echoed the mark after playing every byte (not an echo caused by `clear`). */
    played = false;
    dropped = false;
    firstByteAt;
    firstSentAt;
    mark;
    onPlayed;
    constructor(id, kind, text) {
        this.id = id;
        this.kind = kind;
        this.text = text;
        this.mark = `${kind[0]}${id}`;
    }
    append(buf, now) {
        if (buf.length === 0)
            return;
        this.firstByteAt ??= now;
        this.chunks.push(buf);
        this.unsentBytes += buf.length;
        this.receivedBytes += buf.length;
    }
    /** The next frame, or null when a whole frame isn't buffered yet and more audio is coming. */
    takeFrame(size = FRAME_BYTES) {
        if (this.unsentBytes === 0 || (this.unsentBytes < size && !this.complete))
            return null;
        const n = Math.min(size, this.unsentBytes);
        const head = this.chunks[0];
        let frame;
        if (head.length - this.headOff >= n) {
            // The common case: no copy, a view on the TTS chunk.
            frame = head.subarray(this.headOff, this.headOff + n);
            this.headOff += n;
            if (this.headOff === head.length) {
                this.chunks.shift();
                this.headOff = 0;
            }
        }
        else {
            frame = Buffer.allocUnsafe(n);
            let filled = 0;
            while (filled < n) {
                const c = this.chunks[0];
                const take = Math.min(n - filled, c.length - this.headOff);
                c.copy(frame, filled, this.headOff, this.headOff + take);
                filled += take;
                this.headOff += take;
                if (this.headOff === c.length) {
                    this.chunks.shift();
                    this.headOff = 0;
                }
            }
        }
        this.unsentBytes -= n;
        return frame;
    }
    drop() {
        this.dropped = true;
        this.chunks = [];
        this.headOff = 0;
        this.unsentBytes = 0;
    }
}
/**
 * A call's outbound audio: segments in order, sent as 20 ms frames while Twilio holds less than `leadMs`
 * of it. Twilio plays at real time, so the bytes it holds are modelled by `playEnd` (when the last byte
 * sent will finish playing): pausing stops at most `leadMs` later with nothing lost or repeated, and the
 * caller's heard position is exact to a frame.
 */
export class OutboundAudio {
    sink;
    o;
    queue = [];
    /** Sent (mark pending) segments, by mark name. */
    inFlight = new Map();
    nextId = 0;
    paused = false;
    /** The next frame follows a deliberate pause: the gap before it is not an underrun. */
    resumed = false;
    closed = false;
    playEnd = 0;
    sentTotal = 0;
    stats = { framesSent: 0, underruns: 0, underrunMs: 0 };
    /** Called when nothing is queued or awaiting its mark any more. */
    onIdle;
    idleWaiters = [];
    /** Called with the first frame of each segment (metrics: first audio out). */
    onFirstFrame;
    frameBytes;
    /**
     * `frameMs` is the outbound message size: 20 ms (one Twilio frame) or a small multiple. Larger messages
     * halve the socket writes per call at the price of a coarser lead (the lead then varies by one message).
     */
    constructor(sink, o) {
        this.sink = sink;
        this.o = o;
        this.frameBytes = Math.round((o.frameMs ?? 20) * BYTES_PER_MS);
    }
    /** Something is queued, sending, or playing at Twilio. */
    get busy() { return this.queue.length > 0 || this.inFlight.size > 0; }
    get isPaused() { return this.paused; }
    get hasPending() { return !this.paused && !this.closed && this.queue.length > 0; }
    segment(kind, text) {
        const seg = new Segment(this.nextId++, kind, text);
        this.queue.push(seg);
        return seg;
    }
    /** A whole clip (cached line or greeting): queued complete and started at once if the line is free. */
    enqueueClip(kind, text, audio, now = performance.now()) {
        const seg = this.segment(kind, text);
        seg.append(audio, now);
        seg.complete = true;
        this.pump(now);
        return seg;
    }
    append(seg, buf, now = performance.now()) {
        if (seg.dropped || this.closed)
            return;
        seg.append(buf, now);
        // Sending right away (instead of on the next tick) is what keeps first-audio-out latency at zero.
        if (seg === this.queue[0])
            this.pump(now);
    }
    complete(seg, now = performance.now()) {
        if (seg.dropped)
            return;
        seg.complete = true;
        if (seg === this.queue[0])
            this.pump(now);
    }
    pause() { this.paused = true; }
    resume(now = performance.now()) {
        if (!this.paused)
            return;
        this.paused = false;
        this.resumed = true;
        this.pump(now);
    }
    /** Bytes the caller has heard so far, across the call (model of Twilio's playout). */
    playedTotal(now = performance.now()) {
        return this.sentTotal - Math.max(0, Math.round((this.playEnd - now) * BYTES_PER_MS));
    }
    /** How much of `seg` the caller has heard, 0..1 of the audio received for it. */
    heardFraction(seg, now = performance.now()) {
        if (seg.played)
            return 1;
        if (seg.startPos < 0 || seg.receivedBytes === 0)
            return 0;
        const played = Math.min(seg.sentBytes, Math.max(0, this.playedTotal(now) - seg.startPos));
        // Until TTS finished the clause its length is unknown; bytes received so far is the best lower bound.
        return played / seg.receivedBytes;
    }
    /** Drops everything unsent and tells Twilio to drop what it holds. Returns the dropped segments. */
    clear(now = performance.now()) {
        const dropped = [...this.inFlight.values(), ...this.queue];
        for (const s of dropped)
            s.drop();
        this.queue.length = 0;
        this.inFlight.clear();
        this.playEnd = now;
        this.sink.clear();
        this.paused = false;
        this.notifyIdle();
        return dropped;
    }
    onMark(name) {
        const seg = this.inFlight.get(name);
        if (!seg)
            return; // cleared, or not ours
        this.inFlight.delete(name);
        seg.played = true;
        seg.onPlayed?.();
        if (!this.busy)
            this.notifyIdle();
    }
    notifyIdle() {
        const waiters = this.idleWaiters;
        this.idleWaiters = [];
        for (const w of waiters)
            w();
        this.onIdle?.();
    }
    /** Resolves when everything queued has played (marks echoed), or after the audio's length plus `graceMs`. */
    whenIdle(graceMs, now = performance.now()) {
        if (!this.busy || this.closed)
            return Promise.resolve();
        return new Promise((resolve) => {
            let done = false;
            const finish = () => { if (!done) {
                done = true;
                clearTimeout(t);
                resolve();
            } };
            const t = setTimeout(finish, this.pendingMs(now) + graceMs);
            this.idleWaiters.push(finish);
        });
    }
    /** Audio still to be heard: queued here plus held at Twilio (TTS audio not yet received is not counted). */
    pendingMs(now = performance.now()) {
        let unsent = 0;
        for (const s of this.queue)
            unsent += s.unsentBytes;
        return unsent / BYTES_PER_MS + Math.max(0, this.playEnd - now);
    }
    close() {
        this.closed = true;
        for (const s of this.queue)
            s.drop();
        this.queue.length = 0;
        this.inFlight.clear();
        const waiters = this.idleWaiters;
        this.idleWaiters = [];
        for (const w of waiters)
            w();
    }
    /** Sends frames until Twilio holds `leadMs` of audio. Called by the shared clock and on new audio. */
    pump(now) {
        if (this.paused || this.closed)
            return;
        if (this.o.maxBufferedBytes !== undefined && this.sink.bufferedAmount > this.o.maxBufferedBytes)
            return;
        const lead = this.o.leadMs;
        for (;;) {
            const seg = this.queue[0];
            if (!seg)
                return;
            if (this.playEnd - now >= lead)
                return;
            const frame = seg.takeFrame(this.frameBytes);
            if (frame) {
                if (seg.startPos < 0) {
                    seg.startPos = this.sentTotal;
                    seg.firstSentAt = now;
                    this.onFirstFrame?.(seg, now);
                }
                else if (this.playEnd < now - 1 && !this.resumed) {
                    this.stats.underruns++;
                    this.stats.underrunMs += now - this.playEnd;
                }
                this.resumed = false;
                this.sink.sendAudio(frame);
                seg.sentBytes += frame.length;
                this.sentTotal += frame.length;
                this.stats.framesSent++;
                this.playEnd = Math.max(this.playEnd, now) + frame.length / BYTES_PER_MS;
            }
            if (seg.complete && seg.unsentBytes === 0) {
                this.queue.shift();
                seg.markSent = true;
                this.inFlight.set(seg.mark, seg);
                this.sink.sendMark(seg.mark);
                continue;
            }
            if (!frame)
                return;
        }
    }
}
export class Pacer {
    streams = new Set();
    tickables = new Set();
    timer = null;
    tickMs;
    constructor(o = {}) {
        this.tickMs = o.tickMs ?? 10;
    }
    get size() { return this.streams.size; }
    attach(s) {
        this.streams.add(s);
        this.ensureTimer();
    }
    detach(s) {
        this.streams.delete(s);
        this.stopIfIdle();
    }
    /** Runs `t.tick` on every tick until `untick` (cheap to call often: a Set add/delete). */
    onTick(t) {
        this.tickables.add(t);
        this.ensureTimer();
    }
    untick(t) {
        this.tickables.delete(t);
        this.stopIfIdle();
    }
    ensureTimer() {
        if (this.timer)
            return;
        this.timer = setInterval(() => this.tick(), this.tickMs);
        this.timer.unref();
    }
    stopIfIdle() {
        if (this.streams.size === 0 && this.tickables.size === 0 && this.timer) {
            clearInterval(this.timer);
            this.timer = null;
        }
    }
    tick() {
        const now = performance.now();
        for (const s of this.streams)
            if (s.hasPending)
                s.pump(now);
        for (const t of this.tickables)
            t.tick(now);
    }
}
let shared;
/** The process-wide pacer. */
export function sharedPacer() {
    shared ??= new Pacer();
    return shared;
}
//# sourceMappingURL=pacer.js.map