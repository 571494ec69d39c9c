// "Talk to your agent": the browser microphone to the tenant's agent through the same call session a phone
// call uses. Audio runs in an AudioWorklet at 8 kHz (20 ms μ-law frames up, agent μ-law down, marks back).
import { useRef, useState } from 'preact/hooks';
import { api, ApiError, consoleApi } from '../api.js';
import { ErrorNote, html } from '../ui.js';
import { useLiveFeed } from './calls.js';

const workletUrl = () => document.getElementById('app-script')?.getAttribute('data-worklet') ?? '';

export function TalkPage({ tenantId }: { tenantId: string }) {
  const [status, setStatus] = useState('idle');
  const [err, setErr] = useState<ApiError | null>(null);
  const [lines, setLines] = useState<{ role: string; text: string }[]>([]);
  const call = useRef<{ sid: string; ws: WebSocket; ctx: AudioContext; stream: MediaStream } | null>(null);
  useLiveFeed(tenantId, (e) => {
    if (!call.current || e.callSid !== call.current.sid) return;
    if (e.type === 'utterance') setLines((s) => [...s, { role: e.role, text: e.text }]);
    if (e.type === 'barge_in') setLines((s) => [...s, { role: 'event', text: `You cut in; the agent stopped after “${e.heard ?? ''}”` }]);
    if (e.type === 'ended') setStatus(`ended (${e.reason})`);
  });

  const stop = () => {
    const c = call.current;
    if (!c) return;
    if (c.ws.readyState === WebSocket.OPEN) c.ws.send(JSON.stringify({ event: 'stop' }));
    c.ws.close();
    c.stream.getTracks().forEach((t) => t.stop());
    void c.ctx.close();
    setStatus('ended');
  };

  const start = async () => {
    setErr(null); setLines([]); setStatus('connecting');
    try {
      const t = await api('POST', consoleApi(`/tenants/${tenantId}/talk`));
      const ctx = new AudioContext({ sampleRate: 8000 });
      await ctx.audioWorklet.addModule(workletUrl());
      const stream = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: true, noiseSuppression: false, autoGainControl: false } });
      const node = new AudioWorkletNode(ctx, 'talk', { numberOfInputs: 1, numberOfOutputs: 1, outputChannelCount: [1] });
      ctx.createMediaStreamSource(stream).connect(node);
      node.connect(ctx.destination);
      const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${t.socket}?ticket=${encodeURIComponent(t.ticket)}`);
      ws.binaryType = 'arraybuffer';
      call.current = { sid: t.callSid, ws, ctx, stream };
      node.port.onmessage = (m: MessageEvent) => {
        if (ws.readyState !== WebSocket.OPEN) return;
        if (m.data.frame) ws.send(m.data.frame);
        else if (m.data.mark !== undefined) ws.send(JSON.stringify({ event: 'mark', name: m.data.mark }));
      };
      ws.onmessage = (m) => {
        if (m.data instanceof ArrayBuffer) { node.port.postMessage({ audio: new Uint8Array(m.data) }); return; }
        const e = JSON.parse(m.data as string);
        if (e.event === 'mark') node.port.postMessage({ mark: e.name });
        else if (e.event === 'clear') node.port.postMessage({ clear: true });
        else if (e.event === 'started') setStatus('connected: speak to your agent');
      };
      ws.onclose = () => { setStatus((s) => s.startsWith('ended') ? s : 'ended'); stream.getTracks().forEach((x) => x.stop()); void ctx.close().catch(() => undefined); };
    } catch (x) {
      setStatus('idle');
      setErr(x instanceof ApiError ? x : new ApiError(0, 'BROWSER', String((x as Error).message ?? x), null));
    }
  };

  const live = status !== 'idle' && !status.startsWith('ended');
  return html`<section aria-labelledby="page-h"><h1 id="page-h">Talk to your agent</h1>
    <p>Calls your dealership's agent from this browser's microphone, through the same call pipeline as a phone call. The call is listed under Calls afterwards.</p>
    <${ErrorNote} error=${err} />
    <div class="actions">
      <button onClick=${start} disabled=${live}>Start test call</button>
      <button class="danger" onClick=${stop} disabled=${!live}>Hang up</button>
    </div>
    <p role="status" id="talk-status">Status: ${status}</p>
    <h2>Transcript</h2>
    <ol class="transcript" aria-live="polite" id="talk-transcript">${lines.map((x) => html`<li class=${x.role}><span class="who">${x.role === 'caller' ? 'You' : x.role === 'agent' ? 'Agent' : 'Event'}</span> ${x.text}</li>`)}</ol>
  </section>`;
}
