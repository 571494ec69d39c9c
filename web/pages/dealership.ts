// Dealership pages: home (today at a glance), appointments by bay, customers, callback tasks.
import { useState } from 'preact/hooks';
import { admin, api, ApiError, consoleApi } from '../api.js';
import { ErrorNote, fmtTime, html, Page, Table, today, useLoad } from '../ui.js';

export function HomePage({ tenantId }: { tenantId: string }) {
  const l = useLoad(async () => {
    const t = await api('GET', admin(`/tenants/${tenantId}`));
    const d = today(t.config?.timezone);
    return Promise.all([
    t,
    api('GET', admin(`/tenants/${tenantId}/calls?from=${d}&to=${d}&limit=100`)),
    api('GET', admin(`/tenants/${tenantId}/appointments?limit=100`)),
    api('GET', admin(`/tenants/${tenantId}/reminders?limit=20`)),
    api('GET', admin(`/tenants/${tenantId}/callbacks?status=open&limit=50`)),
  ]);
  }, [tenantId]);
  return html`<${Page} l=${l} title="Today">${([t, calls, appts, reminders, callbacks]: any[]) => {
    const broken = (t.plugins ?? []).filter((s: any) => s.state === 'disabled' || s.needsReconnect);
    const booked = appts.items.filter((a: any) => a.source === 'voice');
    return html`<p class="muted">${t.name}</p>
      <div class="cards">
        <div class="card"><h2>Calls today</h2><p class="big" id="calls-today">${calls.items.length}</p><a href=${`#/t/${tenantId}/calls`}>All calls</a></div>
        <div class="card"><h2>Booked by the agent</h2><p class="big">${booked.length}</p><a href=${`#/t/${tenantId}/appointments`}>Appointments</a></div>
        <div class="card"><h2>Callbacks waiting</h2><p class="big">${callbacks.items.length}</p><a href=${`#/t/${tenantId}/callbacks`}>Callbacks</a></div>
        <div class=${`card ${broken.length ? 'alert' : ''}`}><h2>Plugin slots needing attention</h2><p class="big">${broken.length}</p><a href=${`#/t/${tenantId}/config`}>Configuration</a></div>
      </div>
      <h2>Needs attention</h2>
      ${broken.length || callbacks.items.length ? html`<ul>
        ${broken.map((s: any) => html`<li><strong>${s.slot}</strong> (${s.pluginId ?? 'no plugin'}) ${s.needsReconnect ? 'needs a Google reconnect' : 'is disabled'}: ${s.error?.message ?? s.error?.code ?? 'see configuration'}</li>`)}
        ${callbacks.items.slice(0, 5).map((c: any) => html`<li>Callback requested: ${c.reason}</li>`)}
      </ul>` : html`<p class="muted">Nothing needs attention.</p>`}
      <h2>Today's calls</h2>
      <${Table} caption="Calls started today" head=${['Started', 'Direction', 'Outcome', '']} empty="No calls today yet."
        rows=${calls.items.map((c: any) => [fmtTime(c.startedAt), c.direction, c.outcome ?? (c.endedAt ? '—' : 'live'), html`<a href=${`#/t/${tenantId}/calls/${c.id}`}>Details</a>`])} />
      <h2>Bookings made by the agent</h2>
      <${Table} caption="Upcoming appointments the voice agent booked" head=${['When', 'Customer', 'Service', 'Bay']} empty="No agent bookings in the next 30 days."
        rows=${booked.map((a: any) => [fmtTime(a.startsAt), a.customerName ?? '—', a.serviceType, a.resourceId])} />
      <h2>Reminder outcomes</h2>
      <${Table} caption="Reminders by due time" head=${['Due', 'Status', 'Last outcome', 'Skip reason']} empty="No reminders scheduled."
        rows=${reminders.items.map((r: any) => [fmtTime(r.dueAt), r.status, r.attempts.at(-1)?.outcome ?? '—', r.skipReason ?? '—'])} />`;
  }}<//>`;
}

export function AppointmentsPage({ tenantId }: { tenantId: string }) {
  const [day, setDay] = useState(today());
  const [view, setView] = useState<'day' | 'week'>('day');
  const to = view === 'day' ? day : new Date(new Date(`${day}T12:00:00Z`).getTime() + 6 * 86400_000).toISOString().slice(0, 10);
  const l = useLoad(() => Promise.all([api('GET', admin(`/tenants/${tenantId}/appointments?from=${day}&to=${to}&limit=100`)), api('GET', admin(`/tenants/${tenantId}`))]), [tenantId, day, view]);
  return html`<${Page} l=${l} title="Appointments">${([a, t]: any[]) => {
    const bays: { id: string; name: string }[] = t.config?.resources ?? [];
    return html`<form class="inline" onSubmit=${(e: Event) => e.preventDefault()}>
        <label for="ap-day">From</label><input id="ap-day" type="date" value=${day} onChange=${(e: any) => setDay(e.target.value || today())} />
        <fieldset class="inline"><legend class="sr-only">View</legend>
          <label><input type="radio" name="view" checked=${view === 'day'} onChange=${() => setView('day')} /> Day</label>
          <label><input type="radio" name="view" checked=${view === 'week'} onChange=${() => setView('week')} /> Week</label>
        </fieldset></form>
      <div class="bays">${bays.map((b) => {
        const mine = a.items.filter((x: any) => x.resourceId === b.id);
        return html`<div class="bay"><h2>${b.name}</h2>${mine.length ? html`<ul class="appts">${mine.map((x: any) => html`<li class=${`appt ${x.status}`}>
          <strong>${fmtTime(x.startsAt)}</strong> ${x.serviceType}<br />${x.customerName ?? ''} <span class="muted">(${x.status}, ${x.source})</span></li>`)}</ul>` : html`<p class="muted">Free</p>`}</div>`;
      })}</div>`;
  }}<//>`;
}

export function CustomersPage({ tenantId }: { tenantId: string }) {
  const [name, setName] = useState('');
  const [q, setQ] = useState('');
  const l = useLoad(() => api('GET', admin(`/tenants/${tenantId}/customers?limit=100${q ? `&name=${encodeURIComponent(q)}` : ''}`)), [tenantId, q]);
  return html`<${Page} l=${l} title="Customers">${(d: { items: any[] }) => html`
    <form class="inline" role="search" onSubmit=${(e: Event) => { e.preventDefault(); setQ(name); }}>
      <label for="cu-name">Name starts with</label><input id="cu-name" value=${name} onInput=${(e: any) => setName(e.target.value)} />
      <button type="submit">Search</button></form>
    <${Table} caption="Customers (read-only)" head=${['Name', 'Phone', 'Email', 'Vehicles']}
      rows=${d.items.map((c) => [`${c.firstName} ${c.lastName}`, c.phone ?? '—', c.email ?? '—', c.vehicles.map((v: any) => `${v.year ?? ''} ${v.make ?? ''} ${v.model ?? ''}`.trim()).join(', ') || '—'])} />`}<//>`;
}

export function CallbacksPage({ tenantId }: { tenantId: string }) {
  const [status, setStatus] = useState('open');
  const [err, setErr] = useState<ApiError | null>(null);
  const l = useLoad(() => api('GET', admin(`/tenants/${tenantId}/callbacks?status=${status}&limit=100`)), [tenantId, status]);
  const done = async (id: string) => {
    try { await api('POST', consoleApi(`/tenants/${tenantId}/callbacks/${id}/done`)); l.reload(); } catch (x) { setErr(x as ApiError); }
  };
  return html`<${Page} l=${l} title="Callbacks and voicemail tasks">${(d: { items: any[] }) => html`
    <${ErrorNote} error=${err} />
    <label for="cb-status">Show</label>
    <select id="cb-status" value=${status} onChange=${(e: any) => setStatus(e.target.value)}><option value="open">Open</option><option value="done">Done</option></select>
    <${Table} caption="Callback tasks" head=${['Created', 'Phone', 'Reason', 'Call', '']}
      rows=${d.items.map((c) => [fmtTime(c.createdAt), c.phone ?? '—', c.reason, c.callSid ?? '—',
        c.status === 'open' ? html`<button onClick=${() => done(c.id)}>Mark done</button>` : 'done'])} />`}<//>`;
}
