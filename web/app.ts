// The ServiceLane console (docs/console.md): one Preact app, hash-routed, served by the api role at /console.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, consoleApi, setCsrf } from './api.js';
import { ErrorNote, Forbidden, html } from './ui.js';
import { AuditPage, TenantsPage, UsersPage } from './pages/platform.js';
import { AppointmentsPage, CallbacksPage, CustomersPage, HomePage } from './pages/dealership.js';
import { CallDetailPage, CallsPage, LivePage } from './pages/calls.js';
import { ConfigPage } from './pages/config.js';
import { TalkPage } from './pages/talk.js';

interface User { email: string; role: 'platform_admin' | 'tenant_admin' | 'tenant_viewer'; tenantId: string | null }

function useHash(): string {
  const [h, setH] = useState(location.hash.slice(1) || '/');
  useEffect(() => {
    const on = () => setH(location.hash.slice(1) || '/');
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return h;
}

function Login({ onIn }: { onIn: (u: User) => void }) {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [err, setErr] = useState<ApiError | null>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    setErr(null);
    try { const r = await api('POST', consoleApi('/session'), { email, password }); setCsrf(r.csrf); onIn(r.user); } catch (x) { setErr(x as ApiError); }
  };
  return html`<section class="narrow" aria-labelledby="page-h"><h1 id="page-h">Sign in</h1>
    <form onSubmit=${submit} class="stack">
      <label for="login-email">Email</label><input id="login-email" type="email" autocomplete="username" required value=${email} onInput=${(e: any) => setEmail(e.target.value)} />
      <label for="login-password">Password</label><input id="login-password" type="password" autocomplete="current-password" required value=${password} onInput=${(e: any) => setPassword(e.target.value)} />
      <button type="submit">Sign in</button>
    </form><${ErrorNote} error=${err} /></section>`;
}

function Accept({ token }: { token: string }) {
  const [inv, setInv] = useState<any>(null);
  const [err, setErr] = useState<ApiError | null>(null);
  const [password, setPassword] = useState('');
  const [done, setDone] = useState(false);
  useEffect(() => { api('GET', consoleApi(`/invitations/${encodeURIComponent(token)}`)).then(setInv, setErr); }, [token]);
  const submit = async (e: Event) => {
    e.preventDefault();
    setErr(null);
    try { await api('POST', consoleApi('/invitations/accept'), { token, password }); setDone(true); } catch (x) { setErr(x as ApiError); }
  };
  return html`<section class="narrow" aria-labelledby="page-h"><h1 id="page-h">Accept your invitation</h1>
    ${done ? html`<p role="status">Your account is ready. <a href="#/">Sign in</a></p>` : inv && html`<p>For <strong>${inv.email}</strong> as ${inv.role}.</p>
    <form onSubmit=${submit} class="stack">
      <label for="acc-password">Choose a password (at least 12 characters)</label>
      <input id="acc-password" type="password" autocomplete="new-password" required minLength="12" value=${password} onInput=${(e: any) => setPassword(e.target.value)} />
      <button type="submit">Create account</button></form>`}
    <${ErrorNote} error=${err} /></section>`;
}

function Nav({ user, tenantId }: { user: User; tenantId: string | null }) {
  const t = tenantId ?? user.tenantId;
  const links: [string, string][] = [];
  if (user.role === 'platform_admin') links.push(['#/platform', 'Tenants'], ['#/platform/users', 'Users'], ['#/platform/audit', 'Audit log']);
  if (t) {
    links.push([`#/t/${t}`, 'Home'], [`#/t/${t}/calls`, 'Calls'], [`#/t/${t}/live`, 'Live'], [`#/t/${t}/appointments`, 'Appointments'],
      [`#/t/${t}/customers`, 'Customers'], [`#/t/${t}/callbacks`, 'Callbacks'], [`#/t/${t}/config`, 'Configuration']);
    if (user.role !== 'tenant_viewer') links.push([`#/t/${t}/talk`, 'Talk to your agent'], [`#/t/${t}/users`, 'Staff']);
  }
  const here = location.hash || '#/';
  return html`<nav aria-label="Console"><ul>${links.map(([href, label]) => html`<li><a href=${href} aria-current=${here === href ? 'page' : undefined}>${label}</a></li>`)}</ul></nav>`;
}

function route(path: string, user: User): { tenantId: string | null; view: unknown } {
  const parts = path.split('/').filter(Boolean);
  if (parts[0] === 't' && parts[1]) {
    const tenantId = parts[1];
    const canWrite = user.role === 'platform_admin' || (user.role === 'tenant_admin' && user.tenantId === tenantId);
    const views: Record<string, unknown> = {
      '': html`<${HomePage} tenantId=${tenantId} />`,
      calls: parts[3] ? html`<${CallDetailPage} tenantId=${tenantId} callId=${parts[3]} />` : html`<${CallsPage} tenantId=${tenantId} />`,
      live: html`<${LivePage} tenantId=${tenantId} />`,
      appointments: html`<${AppointmentsPage} tenantId=${tenantId} />`,
      customers: html`<${CustomersPage} tenantId=${tenantId} />`,
      callbacks: html`<${CallbacksPage} tenantId=${tenantId} />`,
      config: html`<${ConfigPage} tenantId=${tenantId} canWrite=${canWrite} />`,
      talk: html`<${TalkPage} tenantId=${tenantId} />`,
      users: html`<${UsersPage} tenantId=${tenantId} />`,
    };
    return { tenantId, view: views[parts[2] ?? ''] ?? html`<${Forbidden} />` };
  }
  if (parts[0] === 'platform') {
    if (user.role !== 'platform_admin') return { tenantId: null, view: html`<${Forbidden} />` };
    if (parts[1] === 'users') return { tenantId: null, view: html`<${UsersPage} tenantId=${null} />` };
    if (parts[1] === 'audit') return { tenantId: null, view: html`<${AuditPage} tenantId=${null} />` };
    return { tenantId: null, view: html`<${TenantsPage} />` };
  }
  if (user.role === 'platform_admin') { location.hash = '#/platform'; return { tenantId: null, view: null }; }
  location.hash = `#/t/${user.tenantId}`;
  return { tenantId: null, view: null };
}

function App() {
  const path = useHash();
  const [user, setUser] = useState<User | null | undefined>(undefined);
  useEffect(() => {
    api('GET', consoleApi('/session')).then((r) => { setCsrf(r.csrf); setUser(r.user); }, () => setUser(null));
  }, []);
  const accept = /^\/accept\/(.+)$/.exec(path);
  let main: unknown;
  let r: { tenantId: string | null; view: unknown } = { tenantId: null, view: null };
  if (accept) main = html`<${Accept} token=${accept[1]} />`;
  else if (user === undefined) main = html`<p aria-live="polite">Loading…</p>`;
  else if (user === null) main = html`<${Login} onIn=${(u: User) => { setUser(u); location.hash = '#/'; }} />`;
  else { r = route(path, user); main = r.view; }
  const signOut = async () => { await api('DELETE', consoleApi('/session')).catch(() => undefined); setUser(null); };
  return html`<a class="skip" href="#main" onClick=${(e: Event) => { e.preventDefault(); document.getElementById('main')?.focus(); }}>Skip to content</a>
    <header><span class="brand">ServiceLane</span>${user && html`<span class="who">${user.email} · ${user.role}</span><button class="link" onClick=${signOut}>Sign out</button>`}</header>
    ${user && !accept && html`<${Nav} user=${user} tenantId=${r.tenantId} />`}
    <main id="main" tabindex="-1">${main}</main>`;
}

render(html`<${App} />`, document.getElementById('app')!);
