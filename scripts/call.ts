/**
 * `npm run call -- --tenant demo --appointment <appointment id> [--ignore-window] [--url http://localhost:3000]`:
 * asks the running server (npm start) to place a reminder call for one appointment now, through the admin API's
 * POST /tenants/{id}/appointments/{appointmentId}/reminders, then prints each change of the attempt as Twilio's
 * callbacks arrive (call status, answering-machine verdict, outcome) until the reminder has its final word.
 * Needs real Twilio credentials and PUBLIC_BASE_URL set to a tunnel that reaches the server (docs/twilio.md).
 * `--ignore-window` needs a platform-admin token, which this script signs with the dev secret (ADMIN_JWT_SECRET,
 * or the one generated in .data/), as `npm run token` does.
 */
import { loadConfig } from '../core/config.js';
import { signDevToken } from '../core/admin-api/auth.js';

const USAGE = 'usage: npm run call -- --tenant <id or slug> --appointment <appointment id> [--ignore-window] [--url http://localhost:3000]\n';

function fail(msg: string, code = 64): never {
  process.stderr.write(`${msg}\n${code === 64 ? USAGE : ''}`);
  process.exit(code);
}

const argv = process.argv.slice(2);
const flags = new Map<string, string>();
for (let i = 0; i < argv.length; i++) {
  const k = argv[i]!;
  if (k === '--ignore-window') { flags.set('ignore-window', 'true'); continue; }
  if (!k.startsWith('--')) fail(`unexpected argument ${k}`);
  const v = argv[i + 1];
  if (v === undefined || v.startsWith('--')) fail(`${k} needs a value`);
  flags.set(k.slice(2), v);
  i++;
}
for (const k of flags.keys()) if (!['tenant', 'appointment', 'ignore-window', 'url'].includes(k)) fail(`unknown flag --${k}`);
const tenant = flags.get('tenant');
const appointment = flags.get('appointment');
if (!tenant || !/^[0-9a-z-]{1,64}$/.test(tenant)) fail('--tenant must be a tenant id or slug');
if (!appointment || !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(appointment)) fail('--appointment must be an appointment id (uuid)');

let cfg;
try { cfg = loadConfig(); } catch (e) { fail((e as Error).message, 78); }
if (cfg.jwt.publicKey || !cfg.jwt.secret) fail('ADMIN_JWT_PUBLIC_KEY is set: this script cannot sign a token; use the admin API with a token from your issuer.', 78);
const base = (flags.get('url') ?? `http://localhost:${cfg.port}`).replace(/\/$/, '');
const ignoreWindow = flags.has('ignore-window');
const token = signDevToken({ secret: cfg.jwt.secret, role: 'platform_admin', sub: 'npm-run-call', ttlSec: 3600 });
const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
const api = `${base}/admin/v1/tenants/${tenant}`;
const say = (s: string) => process.stdout.write(`${new Date().toISOString()}  ${s}\n`);

const res = await fetch(`${api}/appointments/${appointment}/reminders`, { method: 'POST', headers, body: JSON.stringify(ignoreWindow ? { ignoreWindow } : {}) })
  .catch((e: Error) => fail(`cannot reach ${base}: ${e.message} (is npm start running?)`, 69));
const body = await res.json() as { id?: string; status?: string; error?: { code: string; message: string } };
if (res.status !== 202 || !body.id) fail(`refused: ${res.status} ${body.error?.code ?? ''} ${body.error?.message ?? ''}`, 1);
say(`reminder ${body.id} queued (${body.status})`);

interface Attempt { attempt: number; callSid: string | null; callStatus: string | null; amdResult: string | null; outcome: string; dialError: string | null }
interface Item { id: string; status: string; outcome: string | null; skipReason: string | null; attempts: Attempt[] }
let last = '';
const from = new Date(Date.now() - 86_400_000).toISOString();
for (const end = Date.now() + 15 * 60_000; Date.now() < end;) {
  const r = await fetch(`${api}/reminders?from=${encodeURIComponent(from)}&limit=100`, { headers });
  const items = ((await r.json()) as { items?: Item[] }).items ?? [];
  const it = items.find((x) => x.id === body.id);
  if (it) {
    const a = it.attempts.at(-1);
    const line = a ? `attempt ${a.attempt}: call ${a.callSid ?? '(creating)'} status ${a.callStatus ?? '-'} answeredBy ${a.amdResult ?? '-'} outcome ${a.outcome}${a.dialError ? ` error ${a.dialError}` : ''}` : `reminder ${it.status}`;
    if (line !== last) { say(line); last = line; }
    if (it.outcome || it.status === 'skipped') { say(`final: ${it.outcome ?? `skipped_${it.skipReason}`}`); process.exit(0); }
    if (it.status === 'scheduled' && a && a.outcome !== 'due') { say(`retry scheduled (the tenant's retry policy); stopping here`); process.exit(0); }
  }
  await new Promise((r2) => setTimeout(r2, 1000));
}
fail('no final outcome after 15 minutes', 1);
