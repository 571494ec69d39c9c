// Platform admin pages: tenants (create, offboard, attach numbers, health), users (invite, remove), audit log.
import { useState } from 'preact/hooks';
import { admin, api, ApiError, consoleApi } from '../api.js';
import { ErrorNote, fmtTime, html, Page, Table, useLoad } from '../ui.js';

/** A minimal valid dealership, prefilled in the create form: edited later on the configuration page. */
const STARTER_CONFIG = {
  name: 'New Dealership Service', timezone: 'America/Los_Angeles',
  businessHours: { mon: [{ open: '08:00', close: '17:00' }], tue: [{ open: '08:00', close: '17:00' }], wed: [{ open: '08:00', close: '17:00' }], thu: [{ open: '08:00', close: '17:00' }], fri: [{ open: '08:00', close: '17:00' }], sat: [], sun: [] },
  serviceTypes: [{ id: 'oil_change', name: 'Oil change', durationMin: 45 }],
  resources: [{ id: 'bay-1', name: 'Service bay 1', kind: 'bay' }],
  plugins: { crm: { plugin: 'crm-builtin' }, calendar: { plugin: 'calendar-builtin' } },
};

export function TenantsPage() {
  const l = useLoad(() => api('GET', admin('/tenants?limit=100')), []);
  const [name, setName] = useState('');
  const [slug, setSlug] = useState('');
  const [config, setConfig] = useState(JSON.stringify(STARTER_CONFIG, null, 2));
  const [err, setErr] = useState<ApiError | null>(null);
  const [msg, setMsg] = useState('');
  const [numbers, setNumbers] = useState<Record<string, string>>({});
  const create = async (e: Event) => {
    e.preventDefault();
    setErr(null);
    try {
      let parsed: unknown;
      try { parsed = JSON.parse(config); } catch { throw new ApiError(400, 'ADM_ERR_VALIDATION', 'configuration is not valid JSON', null); }
      const t = await api('POST', admin('/tenants'), { name, ...(slug ? { slug } : {}), config: { ...(parsed as object), name } });
      setMsg(`Created ${t.name} (${t.slug}).`);
      setName(''); setSlug('');
      l.reload();
    } catch (x) { setErr(x as ApiError); }
  };
  const offboard = async (id: string, tname: string) => {
    if (!window.confirm(`Offboard ${tname}? Its numbers are released and its users signed out.`)) return;
    try { await api('DELETE', admin(`/tenants/${id}`)); setMsg(`Offboarded ${tname}.`); l.reload(); } catch (x) { setErr(x as ApiError); }
  };
  const attach = async (e: Event, id: string) => {
    e.preventDefault();
    try { const r = await api('PUT', admin(`/tenants/${id}/numbers/${encodeURIComponent(numbers[id] ?? '')}`)); setMsg(`Attached ${r.e164}.`); l.reload(); } catch (x) { setErr(x as ApiError); }
  };
  return html`<${Page} l=${l} title="Tenants">${(d: { items: any[] }) => html`
    <p class="status" role="status">${msg}</p><${ErrorNote} error=${err} />
    <${Table} caption="Dealerships on this platform" head=${['Name', 'Slug', 'Status', 'Config', 'Created', 'Number', 'Actions']}
      rows=${d.items.map((t) => [
        html`<a href=${`#/t/${t.id}`}>${t.name}</a>`, t.slug,
        html`<span class=${`badge ${t.status}`}>${t.status}</span>`, t.configValid ? 'valid' : html`<span class="badge failed">invalid</span>`, fmtTime(t.createdAt),
        t.status === 'active' ? html`<form class="inline" onSubmit=${(e: Event) => attach(e, t.id)}>
          <label for=${`num-${t.id}`} class="sr-only">Number to attach to ${t.name}</label>
          <input id=${`num-${t.id}`} placeholder="+14085550123" value=${numbers[t.id] ?? ''} onInput=${(e: any) => setNumbers({ ...numbers, [t.id]: e.target.value })} />
          <button type="submit">Attach</button></form>` : '—',
        t.status === 'active' ? html`<button class="danger" onClick=${() => offboard(t.id, t.name)}>Offboard</button>` : '—',
      ])} />
    <h2>Create a dealership</h2>
    <form onSubmit=${create} class="stack">
      <label for="t-name">Name</label><input id="t-name" required value=${name} onInput=${(e: any) => setName(e.target.value)} />
      <label for="t-slug">Slug (optional)</label><input id="t-slug" value=${slug} onInput=${(e: any) => setSlug(e.target.value)} />
      <label for="t-config">Starting configuration (JSON; edit the rest on its configuration page)</label>
      <textarea id="t-config" rows="8" value=${config} onInput=${(e: any) => setConfig(e.target.value)}></textarea>
      <button type="submit">Create tenant</button>
    </form>`}<//>`;
}

export function UsersPage({ tenantId }: { tenantId: string | null }) {
  const l = useLoad(() => Promise.all([
    api('GET', consoleApi(`/users${tenantId ? `?tenantId=${tenantId}` : ''}`)),
    tenantId ? Promise.resolve({ items: [] }) : api('GET', admin('/tenants?limit=100')),
  ]), [tenantId]);
  const [email, setEmail] = useState('');
  const [role, setRole] = useState(tenantId ? 'tenant_viewer' : 'tenant_admin');
  const [tid, setTid] = useState(tenantId ?? '');
  const [err, setErr] = useState<ApiError | null>(null);
  const [result, setResult] = useState<any>(null);
  const invite = async (e: Event) => {
    e.preventDefault();
    setErr(null); setResult(null);
    try { setResult(await api('POST', consoleApi('/invitations'), { email, role, tenantId: role === 'platform_admin' ? null : tid })); setEmail(''); l.reload(); } catch (x) { setErr(x as ApiError); }
  };
  const remove = async (id: string, who: string) => {
    if (!window.confirm(`Remove ${who}? Their sessions end now.`)) return;
    try { await api('DELETE', consoleApi(`/users/${id}`)); l.reload(); } catch (x) { setErr(x as ApiError); }
  };
  return html`<${Page} l=${l} title="Users">${([u, t]: [{ items: any[] }, { items: any[] }]) => html`
    <${ErrorNote} error=${err} />
    <${Table} caption="Console accounts" head=${['Email', 'Role', 'Tenant', 'Since', '']}
      rows=${u.items.map((x) => [x.email, x.role, x.tenantId ?? 'platform', fmtTime(x.createdAt), html`<button class="danger" onClick=${() => remove(x.id, x.email)}>Remove</button>`])} />
    <h2>Invite someone</h2>
    <form onSubmit=${invite} class="stack">
      <label for="inv-email">Email</label><input id="inv-email" type="email" required value=${email} onInput=${(e: any) => setEmail(e.target.value)} />
      <label for="inv-role">Role</label>
      <select id="inv-role" value=${role} onChange=${(e: any) => setRole(e.target.value)}>
        ${!tenantId && html`<option value="platform_admin">platform_admin</option>`}
        <option value="tenant_admin">tenant_admin</option><option value="tenant_viewer">tenant_viewer (read-only, no PII)</option>
      </select>
      ${!tenantId && role !== 'platform_admin' && html`<label for="inv-tenant">Dealership</label>
        <select id="inv-tenant" required value=${tid} onChange=${(e: any) => setTid(e.target.value)}>
          <option value="">Choose…</option>${t.items.filter((x) => x.status === 'active').map((x) => html`<option value=${x.id}>${x.name}</option>`)}
        </select>`}
      <button type="submit">Send invitation</button>
    </form>
    ${result && html`<div class="note" role="status">
      ${result.delivered === 'printed'
        ? html`<p>Invitation for ${result.email} (valid once, until ${fmtTime(result.expiresAt)}). Give them this link:</p><p><code id="invite-link">${result.link}</code></p>`
        : html`<p>Invitation sent to ${result.email} through the dealership's notify plugin.</p>`}
    </div>`}`}<//>`;
}

export function AuditPage({ tenantId }: { tenantId: string | null }) {
  const l = useLoad(() => api('GET', consoleApi(`/audit${tenantId ? `?tenantId=${tenantId}` : ''}`)), [tenantId]);
  return html`<${Page} l=${l} title="Audit log">${(d: { items: any[] }) => html`
    <${Table} caption="Latest 200 changes and refusals" head=${['When', 'Who', 'Role', 'Action', 'Tenant', 'Target']}
      rows=${d.items.map((a) => [fmtTime(a.at), a.actor, a.role, a.action, a.tenantId ?? '—', a.target ?? '—'])} />`}<//>`;
}
