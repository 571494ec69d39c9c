// Configuration: a form generated from the tenant JSON schema and each plugin's settingsSchema (no form is
// written by hand per plugin), server-side errors shown next to their field, a Test button per plugin slot,
// write-only credentials, and the dealership's numbers.
import { useEffect, useState } from 'preact/hooks';
import { admin, api, ApiError, consoleApi } from '../api.js';
import { ErrorNote, html, Page, Table, useLoad } from '../ui.js';

type Schema = Record<string, any>;
const SLOTS = ['crm', 'calendar', 'stt', 'llm', 'tts', 'telephony', 'notify', 'vehicle'];
const fid = (path: string) => `f${path.replace(/[^a-zA-Z0-9]/g, '-')}`;

function resolve(s: Schema, root: Schema): Schema {
  if (s?.$ref && typeof s.$ref === 'string' && s.$ref.startsWith('#/')) {
    let cur: any = root;
    for (const k of s.$ref.slice(2).split('/')) cur = cur?.[k];
    return { ...cur, ...s, $ref: undefined };
  }
  return s ?? {};
}

function setAt(obj: any, path: string[], value: unknown): any {
  if (!path.length) return value;
  const [k, ...rest] = path;
  const base = Array.isArray(obj) ? [...obj] : { ...(obj ?? {}) };
  const next = setAt(base[k!], rest, value);
  if (next === undefined) delete base[k!]; else base[k!] = next;
  return base;
}

interface FieldProps { schema: Schema; root: Schema; value: any; path: string; label: string; errors: Record<string, string>; onChange: (path: string, v: unknown) => void }

/** One schema node as form controls: objects as fieldsets, arrays of objects as repeated fieldsets. */
function Field(p: FieldProps): any {
  const s = resolve(p.schema, p.root);
  const id = fid(p.path);
  const err = p.errors[p.path];
  const errEl = err ? html`<p class="field-error" id=${`${id}-err`} role="alert">${err}</p>` : null;
  const described = err ? `${id}-err` : undefined;
  const type = Array.isArray(s.type) ? s.type[0] : s.type;
  if (type === 'object' && s.properties) {
    return html`<fieldset class="obj"><legend>${p.label}</legend>${errEl}
      ${Object.entries(s.properties as Record<string, Schema>).map(([k, sub]) => html`<${Field} ...${p} schema=${sub} value=${p.value?.[k]} path=${`${p.path}/${k}`} label=${sub.title ?? k} />`)}
    </fieldset>`;
  }
  if (type === 'array') {
    const items = resolve(s.items ?? {}, p.root);
    const arr: any[] = Array.isArray(p.value) ? p.value : [];
    if ((items.type === 'object' && items.properties) || items.type === 'array') {
      return html`<fieldset class="arr"><legend>${p.label}</legend>${errEl}
        ${arr.map((v, i) => html`<div class="arr-item"><${Field} ...${p} schema=${items} value=${v} path=${`${p.path}/${i}`} label=${`${p.label} ${i + 1}`} />
          <button type="button" class="danger small" onClick=${() => p.onChange(p.path, arr.filter((_, j) => j !== i))}>Remove ${p.label} ${i + 1}</button></div>`)}
        <button type="button" class="small" onClick=${() => p.onChange(p.path, [...arr, items.type === 'array' ? [] : {}])}>Add to ${p.label}</button>
      </fieldset>`;
    }
    return html`<div class="field"><label for=${id}>${p.label} <span class="muted">(comma-separated)</span></label>
      <input id=${id} aria-describedby=${described} aria-invalid=${err ? 'true' : undefined} value=${arr.join(', ')}
        onChange=${(e: any) => { const parts = e.target.value.split(',').map((x: string) => x.trim()).filter(Boolean); p.onChange(p.path, items.type === 'integer' || items.type === 'number' ? parts.map(Number) : parts); }} />${errEl}</div>`;
  }
  if (type === 'boolean') {
    return html`<div class="field check"><input id=${id} type="checkbox" checked=${!!p.value} aria-describedby=${described} onChange=${(e: any) => p.onChange(p.path, e.target.checked)} />
      <label for=${id}>${p.label}</label>${errEl}</div>`;
  }
  if (s.enum) {
    return html`<div class="field"><label for=${id}>${p.label}</label>
      <select id=${id} aria-describedby=${described} aria-invalid=${err ? 'true' : undefined} value=${p.value ?? ''}
        onChange=${(e: any) => p.onChange(p.path, e.target.value === '' ? undefined : (type === 'integer' || type === 'number' ? Number(e.target.value) : e.target.value))}>
        <option value="">(default)</option>${s.enum.map((v: unknown) => html`<option value=${String(v)}>${String(v)}</option>`)}</select>${errEl}</div>`;
  }
  const numeric = type === 'integer' || type === 'number';
  const long = !numeric && (s.maxLength ?? 0) > 300;
  const onInput = (e: any) => {
    const raw = e.target.value;
    // A number field keeps what was typed when it isn't a number, so the server's error names it.
    p.onChange(p.path, raw === '' ? undefined : numeric && raw.trim() !== '' && !Number.isNaN(Number(raw)) ? Number(raw) : raw);
  };
  return html`<div class="field"><label for=${id}>${p.label}${s.description ? html` <span class="muted">${s.description}</span>` : ''}</label>
    ${long ? html`<textarea id=${id} rows="3" aria-describedby=${described} aria-invalid=${err ? 'true' : undefined} value=${p.value ?? ''} onInput=${onInput}></textarea>`
      : html`<input id=${id} inputmode=${numeric ? 'numeric' : undefined} aria-describedby=${described} aria-invalid=${err ? 'true' : undefined} value=${p.value ?? ''} onInput=${onInput} />`}${errEl}</div>`;
}

function SlotForm({ slot, value, plugins, errors, onChange, onTest, test }: { slot: string; value: any; plugins: any[]; errors: Record<string, string>; onChange: (path: string, v: unknown) => void; onTest: () => void; test: string }) {
  const mine = plugins.filter((x) => x.kind === slot);
  const chosen = mine.find((x) => x.id === value?.plugin);
  const base = `/plugins/${slot}`;
  const id = fid(base);
  const err = errors[base] ?? errors[`${base}/plugin`];
  return html`<fieldset class="slot"><legend>${slot}</legend>
    <div class="field"><label for=${`${id}-plugin`}>Plugin</label>
      <select id=${`${id}-plugin`} value=${value?.plugin ?? ''} onChange=${(e: any) => onChange(base, e.target.value ? { plugin: e.target.value } : undefined)}>
        <option value="">(none)</option>${mine.map((x) => html`<option value=${x.id}>${x.id}</option>`)}</select>
      ${err && html`<p class="field-error" role="alert">${err}</p>`}</div>
    ${chosen?.settingsSchema && html`<${Field} schema=${chosen.settingsSchema} root=${chosen.settingsSchema} value=${value?.settings} path=${`${base}/settings`} label="Settings" errors=${errors} onChange=${onChange} />`}
    ${chosen?.needsCredentials && html`<div class="field"><label for=${`${id}-cred`}>Credential name</label>
      <input id=${`${id}-cred`} value=${value?.credentialsRef ?? ''} onInput=${(e: any) => onChange(`${base}/credentialsRef`, e.target.value || undefined)} />
      ${errors[`${base}/credentialsRef`] && html`<p class="field-error" role="alert">${errors[`${base}/credentialsRef`]}</p>`}</div>`}
    ${value?.plugin && html`<button type="button" class="small" onClick=${onTest}>Test ${slot}</button> <span role="status">${test}</span>`}
  </fieldset>`;
}

export function ConfigPage({ tenantId, canWrite }: { tenantId: string; canWrite: boolean }) {
  const l = useLoad(() => Promise.all([api('GET', admin(`/tenants/${tenantId}`)), api('GET', consoleApi('/schemas'))]), [tenantId]);
  const [cfg, setCfg] = useState<any>(null);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [err, setErr] = useState<ApiError | null>(null);
  const [msg, setMsg] = useState('');
  const [tests, setTests] = useState<Record<string, string>>({});
  const [cred, setCred] = useState({ name: '', value: '' });
  useEffect(() => { if (l.data) setCfg(structuredClone(l.data[0].config)); }, [l.data]);
  const onChange = (path: string, v: unknown) => setCfg((c: any) => setAt(c, path.split('/').slice(1), v));
  const save = async (e: Event) => {
    e.preventDefault();
    setErr(null); setErrors({}); setMsg('');
    try { await api('PUT', admin(`/tenants/${tenantId}/config`), cfg); setMsg('Saved.'); l.reload(); } catch (x) {
      const a = x as ApiError;
      setErr(a); setErrors(a.fieldErrors());
      setTimeout(() => (document.querySelector('.field-error') as HTMLElement | null)?.scrollIntoView({ block: 'center' }), 0);
    }
  };
  const test = async (slot: string) => {
    setTests((t) => ({ ...t, [slot]: 'testing…' }));
    try { const r = await api('POST', admin(`/tenants/${tenantId}/plugins/${slot}/test`)); setTests((t) => ({ ...t, [slot]: r.result?.ok ? 'OK' : `failed: ${r.result?.message ?? r.result?.category ?? 'unknown'}` })); } catch (x) {
      setTests((t) => ({ ...t, [slot]: `failed: ${(x as ApiError).code}` }));
    }
  };
  const putCred = async (e: Event) => {
    e.preventDefault();
    setErr(null);
    try {
      let value: unknown;
      try { value = JSON.parse(cred.value); } catch { value = cred.value; }
      await api('PUT', admin(`/tenants/${tenantId}/credentials/${encodeURIComponent(cred.name)}`), { value });
      setCred({ name: '', value: '' }); setMsg(`Credential ${cred.name} stored (it can be replaced, never read back).`); l.reload();
    } catch (x) { setErr(x as ApiError); }
  };
  return html`<${Page} l=${l} title="Configuration">${([t, schemas]: any[]) => {
    if (!cfg) return null;
    const root = schemas.tenant;
    const props = Object.entries(root.properties as Record<string, Schema>).filter(([k]) => k !== 'plugins');
    const status: Record<string, any> = Object.fromEntries((t.plugins ?? []).map((s: any) => [s.slot, s]));
    return html`<p role="status" class="status">${msg}</p><${ErrorNote} error=${err} />
      <form onSubmit=${save} class="config" novalidate>
        <fieldset disabled=${!canWrite} class="plain">
        ${props.map(([k, s]) => html`<${Field} schema=${s} root=${root} value=${cfg[k]} path=${`/${k}`} label=${s.title ?? k} errors=${errors} onChange=${onChange} />`)}
        <h2>Plugins</h2>
        ${SLOTS.map((slot) => html`<div>
          ${status[slot]?.state === 'disabled' && html`<p class="error">Slot ${slot} is disabled: ${status[slot].error?.message ?? status[slot].error?.code ?? ''}</p>`}
          <${SlotForm} slot=${slot} value=${cfg.plugins?.[slot]} plugins=${schemas.plugins} errors=${errors} onChange=${onChange} onTest=${() => test(slot)} test=${tests[slot] ?? ''} /></div>`)}
        <button type="submit">Save configuration</button>
        </fieldset>
      </form>
      <h2>Credentials</h2>
      <p>Stored encrypted; values are write-only. Stored: ${t.credentials.length ? t.credentials.join(', ') : 'none'}.</p>
      ${canWrite && html`<form onSubmit=${putCred} class="stack">
        <label for="cred-name">Credential name</label><input id="cred-name" required value=${cred.name} onInput=${(e: any) => setCred({ ...cred, name: e.target.value })} />
        <label for="cred-value">Value (JSON object or text)</label><input id="cred-value" type="password" autocomplete="off" required value=${cred.value} onInput=${(e: any) => setCred({ ...cred, value: e.target.value })} />
        <button type="submit">Store credential</button></form>`}
      <h2>Numbers</h2>
      <${Table} caption="Phone numbers of this dealership" head=${['Number', 'Webhooks configured']} empty="No numbers attached (a platform admin attaches them)."
        rows=${t.numbers.map((n: any) => [n.e164, n.webhooksConfigured ? 'yes' : 'no'])} />`;
  }}<//>`;
}
