// Calls: the filtered list, one call's transcript with tool calls and its latency waterfall, and the live view.
import { useEffect, useRef, useState } from 'preact/hooks';
import { admin, api, ApiError, consoleApi } from '../api.js';
import { ErrorNote, fmtTime, html, Page, Table, useLoad } from '../ui.js';

export function CallsPage({ tenantId }: { tenantId: string }) {
  const [f, setF] = useState({ from: '', to: '', outcome: '', number: '', customer: '' });
  const [q, setQ] = useState(f);
  const qs = Object.entries(q).filter(([, v]) => v).map(([k, v]) => `&${k}=${encodeURIComponent(v)}`).join('');
  const l = useLoad(() => api('GET', admin(`/tenants/${tenantId}/calls?limit=100${qs}`)), [tenantId, qs]);
  const field = (k: keyof typeof f, label: string, type = 'text') => html`<div>
    <label for=${`cf-${k}`}>${label}</label><input id=${`cf-${k}`} type=${type} value=${f[k]} onInput=${(e: any) => setF({ ...f, [k]: e.target.value })} /></div>`;
  return html`<${Page} l=${l} title="Calls">${(d: { items: any[] }) => html`
    <form class="filters" role="search" onSubmit=${(e: Event) => { e.preventDefault(); setQ(f); }}>
      ${field('from', 'From day', 'date')}${field('to', 'To day', 'date')}${field('outcome', 'Outcome')}${field('number', 'Caller number')}${field('customer', 'Customer id')}
      <button type="submit">Filter</button></form>
    <${Table} caption="Calls, newest first" head=${['Started', 'Direction', 'From', 'Outcome', 'Summary', '']}
      rows=${d.items.map((c) => [fmtTime(c.startedAt), c.direction, c.from ?? (c.to === 'browser' ? 'browser test' : '—'), c.outcome ?? (c.endedAt ? '—' : 'live'), c.summary ?? '',
        html`<a href=${`#/t/${tenantId}/calls/${c.id}`} aria-label=${`Details of the call at ${fmtTime(c.startedAt)}`}>Details</a>`])} />`}<//>`;
}

const STAGES: [string, string][] = [['llmFirstTokenMs', 'LLM first token'], ['firstClauseMs', 'First clause'], ['ttsFirstByteMs', 'TTS first byte'], ['firstAudioMs', 'First audio out']];

/** Per-turn latency, from the caller's final transcript (STT final = 0 ms) to the first agent audio sent. */
function Waterfall({ turns }: { turns: any[] }) {
  if (!turns.length) return html`<p class="muted">No agent turns with audio were timed.</p>`;
  const max = Math.max(1, ...turns.map((t) => t.firstAudioMs ?? 0));
  return html`<div class="waterfall">${turns.map((t) => html`<figure class="turn" aria-label=${`Turn ${t.turn} latency`}>
    <figcaption>Turn ${t.turn}: STT final → first audio ${t.firstAudioMs ?? '—'} ms</figcaption>
    ${STAGES.map(([k, label], i) => {
      const start = i === 0 ? 0 : (t[STAGES[i - 1]![0]] ?? 0);
      const end = t[k];
      return html`<div class="wf-row"><span class="wf-label">${label}</span><span class="wf-track">
        ${end !== null && end !== undefined ? html`<span class=${`wf-bar s${i}`} style=${`margin-left:${(start / max) * 100}%;width:${Math.max(0.5, ((end - start) / max) * 100)}%`}></span>` : ''}
        </span><span class="wf-ms">${end ?? '—'} ms</span></div>`;
    })}</figure>`)}</div>`;
}

function TranscriptLine({ e, prev }: { e: any; prev: any }) {
  const p = e.payload ?? {};
  switch (e.kind) {
    case 'utterance':
      if (p.interrupted) {
        const heard = prev?.kind === 'barge_in' ? (prev.payload?.heard ?? '') : '';
        const cut = p.text.startsWith(heard) ? p.text.slice(heard.length) : p.text;
        return html`<li class="agent"><span class="who">Agent (cut off)</span> <span class="heard">${heard}</span><del class="cut" title="not heard by the caller">${cut}</del></li>`;
      }
      return html`<li class=${p.role}><span class="who">${p.role === 'caller' ? 'Caller' : 'Agent'}${p.greeting ? ' (greeting)' : ''}</span> ${p.text}</li>`;
    case 'barge_in':
      return html`<li class="event barge"><span class="who">Barge-in</span> ${p.kind === 'speech' ? `caller spoke over the agent; heard: “${p.heard ?? ''}”` : `${p.kind}, agent resumed`}</li>`;
    case 'tool_call':
      return html`<li class="event tool"><span class="who">Tool call</span> <code>${p.name}</code> <code class="args">${p.arguments}</code></li>`;
    case 'tool_result':
      return html`<li class="event tool"><span class="who">Tool result</span> <code>${p.name}</code> ${p.ok ? 'ok' : `failed (${p.code})`} in ${p.ms} ms</li>`;
    case 'error':
      return html`<li class="event err"><span class="who">Error</span> ${p.code} ${p.provider ?? ''} ${p.category ?? ''}${p.recovered ? ' (recovered)' : ''}</li>`;
    case 'line':
      return html`<li class="event"><span class="who">Scripted line</span> ${p.name}</li>`;
    case 'call_end':
      return html`<li class="event"><span class="who">Call ended</span> ${p.reason}, outcome ${p.outcome}</li>`;
    case 'turn_timing': return null;
    default:
      return html`<li class="event"><span class="who">${e.kind}</span> ${JSON.stringify(p)}</li>`;
  }
}

export function CallDetailPage({ tenantId, callId }: { tenantId: string; callId: string }) {
  const l = useLoad(() => api('GET', admin(`/tenants/${tenantId}/calls/${callId}`)), [tenantId, callId]);
  return html`<${Page} l=${l} title="Call detail">${(c: any) => html`
    <dl class="facts"><dt>Started</dt><dd>${fmtTime(c.startedAt)}</dd><dt>Ended</dt><dd>${fmtTime(c.endedAt)}</dd>
      <dt>Direction</dt><dd>${c.direction}</dd><dt>From</dt><dd>${c.from ?? '—'}</dd><dt>Outcome</dt><dd>${c.outcome ?? '—'}</dd><dt>Summary</dt><dd>${c.summary ?? '—'}</dd></dl>
    <h2>Latency per turn</h2>
    <${Waterfall} turns=${c.transcript.filter((e: any) => e.kind === 'turn_timing').map((e: any) => e.payload)} />
    <h2>Transcript</h2>
    <ol class="transcript">${c.transcript.map((e: any, i: number) => html`<${TranscriptLine} e=${e} prev=${c.transcript[i - 1]} />`)}</ol>
    <p><a href=${`#/t/${tenantId}/calls`}>Back to calls</a></p>`}<//>`;
}

interface LiveLine { role: string; text: string }

/** The tenant's live feed over Server-Sent Events; `onEvent` sees every event. */
export function useLiveFeed(tenantId: string, onEvent: (e: any) => void): void {
  const cb = useRef(onEvent);
  cb.current = onEvent;
  useEffect(() => {
    const es = new EventSource(consoleApi(`/tenants/${tenantId}/live`));
    es.onmessage = (m) => { try { cb.current(JSON.parse(m.data)); } catch { /* a malformed line is skipped */ } };
    return () => es.close();
  }, [tenantId]);
}

export function LivePage({ tenantId }: { tenantId: string }) {
  const l = useLoad(() => api('GET', consoleApi(`/tenants/${tenantId}/live/calls`)), [tenantId]);
  const [lines, setLines] = useState<Record<string, LiveLine[]>>({});
  const [ended, setEnded] = useState<Record<string, string>>({});
  const [err, setErr] = useState<ApiError | null>(null);
  useLiveFeed(tenantId, (e) => {
    if (e.type === 'started') l.reload();
    if (e.type === 'utterance') setLines((s) => ({ ...s, [e.callSid]: [...(s[e.callSid] ?? []), { role: e.role, text: e.text }] }));
    if (e.type === 'barge_in') setLines((s) => ({ ...s, [e.callSid]: [...(s[e.callSid] ?? []), { role: 'event', text: `Caller cut in; agent stopped after “${e.heard ?? ''}”` }] }));
    if (e.type === 'ended') setEnded((s) => ({ ...s, [e.callSid]: e.reason }));
  });
  const control = async (callSid: string, action: 'hangup' | 'transfer') => {
    setErr(null);
    try { await api('POST', consoleApi(`/tenants/${tenantId}/calls/${callSid}/${action}`)); } catch (x) { setErr(x as ApiError); }
  };
  return html`<${Page} l=${l} title="Live calls">${(d: { items: any[] }) => html`
    <${ErrorNote} error=${err} />
    ${d.items.length === 0 && html`<p class="muted">No calls in progress. New calls appear here as they start.</p>`}
    <div class="live">${d.items.map((c) => html`<article class="live-call" aria-label=${`Call ${c.callSid}`} data-call-sid=${c.callSid}>
      <h2>${c.to === 'browser' ? 'Browser test call' : `Call from ${c.from ?? 'unknown'}`} <span class="muted">${fmtTime(c.startedAt)}</span></h2>
      ${ended[c.callSid] ? html`<p class="badge">ended (${ended[c.callSid]})</p>` : html`<div class="actions">
        <button class="danger" onClick=${() => control(c.callSid, 'hangup')}>Hang up</button>
        ${c.to !== 'browser' && html`<button onClick=${() => control(c.callSid, 'transfer')}>Transfer to staff</button>`}</div>`}
      <ol class="transcript" aria-live="polite">${(lines[c.callSid] ?? []).map((x) => html`<li class=${x.role}><span class="who">${x.role === 'caller' ? 'Caller' : x.role === 'agent' ? 'Agent' : 'Event'}</span> ${x.text}</li>`)}</ol>
    </article>`)}</div>`}<//>`;
}
