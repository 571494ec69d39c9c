/**
 * Closes a vendor socket politely: sends the protocol's "close" message and waits for the peer to close, but
 * never longer than `graceMs`, then forces it. Returns the promise to hand back from `close()` and the
 * function to call from the socket's close handler once the peer has closed.
 *
 * @remarks Streaming vendors (Deepgram listen/speak and the like) flush pending results on their close
 * message; closing the socket outright loses them, waiting forever hangs shutdown.
 * @example
 * ```ts
 * const g = closeWithGrace({ sendClose: () => conn.sendCloseStream({ type: 'CloseStream' }), forceClose: () => conn.close(), graceMs: 1000 });
 * this.onPeerClosed = g.peerClosed;
 * return g.done;
 * ```
 */
export function closeWithGrace(o) {
    let peerClosed = () => undefined;
    const done = new Promise((resolve) => {
        const timer = setTimeout(() => { o.forceClose(); resolve(); }, o.graceMs);
        timer.unref();
        peerClosed = () => { clearTimeout(timer); resolve(); };
        try {
            o.sendClose();
        }
        catch {
            clearTimeout(timer);
            o.forceClose();
            resolve();
        }
    });
    return { done, peerClosed };
}
//# sourceMappingURL=socket.js.map