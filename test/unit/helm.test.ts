import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';

const CHART = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../helm/servicelane');
const read = (f: string) => fs.readFileSync(path.join(CHART, f), 'utf8');
type Doc = Record<string, unknown>;

const values = YAML.parse(read('values.yaml')) as Doc;

/** `.Values.a.b` → the value in values.yaml, or undefined. */
function lookup(ref: string): unknown {
  let cur: unknown = values;
  for (const k of ref.replace(/^\.Values\./, '').split('.')) cur = cur && typeof cur === 'object' ? (cur as Doc)[k] : undefined;
  return cur;
}

const helpers = new Map<string, string>();
for (const m of read('templates/_helpers.tpl').matchAll(/\{\{-? define "([^"]+)" -?\}\}\n([\s\S]*?)\{\{-? end -?\}\}(?=\n\n|\n*$)/g)) helpers.set(m[1]!, m[2]!);

/**
 * Just enough of Helm to check structure without a helm binary: includes are inlined with their nindent,
 * `.Values` references are resolved from values.yaml, `toYaml` is rendered, control lines (if/with/range/end)
 * are dropped with their bodies kept once, and anything else becomes a placeholder.
 */
function render(text: string): string {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const inc = /^(\s*)\{\{-? include "([^"]+)" \. \| nindent (\d+) \}\}\s*$/.exec(line);
    if (inc) {
      const body = render(helpers.get(inc[2]!) ?? assert.fail(`unknown helper ${inc[2]}`));
      out.push(...body.split('\n').filter((l) => l.trim()).map((l) => ' '.repeat(Number(inc[3])) + l));
      continue;
    }
    const toYaml = /^\s*\{\{-? toYaml (\.Values\.[\w.]+) \| nindent (\d+) \}\}\s*$/.exec(line);
    if (toYaml) {
      const v = lookup(toYaml[1]!);
      if (v !== undefined && v !== null) out.push(...YAML.stringify(v).trimEnd().split('\n').map((l) => ' '.repeat(Number(toYaml[2])) + l));
      continue;
    }
    if (/^\s*\{\{-? *(if|else|end|with|range|toYaml|\/\*|\$\w+ :=)[^}]*\}\}\s*$/.test(line) || /^\s*\{\{-? *(with|range|if) /.test(line)) continue;
    out.push(line.replace(/\{\{-? *([^}]*?) *-?\}\}/g, (_m, expr: string) => {
      const ref = /^\$?(\.Values\.[\w.]+)( \| quote)?$/.exec(expr.trim());
      if (ref) {
        const v = lookup(ref[1]!);
        if (v !== undefined && typeof v !== 'object') return ref[2] ? JSON.stringify(String(v)) : String(v);
      }
      return 'TEMPLATE';
    }));
  }
  return out.join('\n');
}

const templates = fs.readdirSync(path.join(CHART, 'templates')).filter((f) => f.endsWith('.yaml'));
const docs: { file: string; doc: Doc }[] = templates.flatMap((file) =>
  YAML.parseAllDocuments(render(read(`templates/${file}`))).map((d) => ({ file, doc: d.toJSON() as Doc })).filter((d) => d.doc));

const get = (o: unknown, p: string): unknown => p.split('.').reduce<unknown>((c, k) => (c && typeof c === 'object' ? (c as Doc)[k] : undefined), o);
type Container = { name: string; command?: string[]; env?: { name: string; value?: string; valueFrom?: unknown }[]; readinessProbe?: unknown; livenessProbe?: unknown; lifecycle?: unknown };
const containersOf = (d: Doc) => (get(d, 'spec.template.spec.containers') as Container[] | undefined) ?? [];

describe('helm chart (helm/servicelane)', () => {
  it('has a v2 Chart.yaml and parseable values', () => {
    const chart = YAML.parse(read('Chart.yaml')) as Doc;
    assert.equal(chart.apiVersion, 'v2');
    assert.equal(chart.name, 'servicelane');
    assert.ok(chart.version && chart.appVersion);
    assert.equal(typeof values.image, 'object');
  });

  it('renders every template to YAML and references only values that exist', () => {
    assert.ok(docs.length >= 6);
    for (const file of templates) {
      const errors = YAML.parseAllDocuments(render(read(`templates/${file}`))).flatMap((d) => d.errors.map((e) => e.message));
      assert.deepEqual(errors, [], file);
    }
    for (const file of [...templates, '_helpers.tpl', 'NOTES.txt']) {
      for (const m of read(`templates/${file}`).matchAll(/\.Values\.([\w.]+)/g)) {
        assert.notEqual(lookup(`.Values.${m[1]}`), undefined, `${file}: .Values.${m[1]} is not in values.yaml`);
      }
    }
  });

  for (const role of ['api', 'voice', 'worker']) {
    it(`deploys the ${role} role with ROLE=${role}, readiness on /readyz and liveness on /healthz`, () => {
      const deps = docs.filter((d) => d.doc.kind === 'Deployment' && containersOf(d.doc).some((c) => c.env?.some((e) => e.name === 'ROLE' && e.value === role)));
      assert.equal(deps.length, 1, `one Deployment with ROLE=${role}`);
      const c = containersOf(deps[0]!.doc)[0]!;
      assert.deepEqual(c.command, ['npm', 'start']);
      assert.equal(get(c, 'readinessProbe.httpGet.path'), '/readyz');
      assert.equal(get(c, 'livenessProbe.httpGet.path'), '/healthz');
      assert.equal(get(c, 'readinessProbe.httpGet.port'), 'http');
      assert.deepEqual((get(c, 'lifecycle.preStop.exec.command') as string[])[0], 'sleep');
    });
  }

  it('drains voice pods: long grace period, preStop sleep, maxUnavailable 0', () => {
    const voice = docs.find((d) => d.doc.kind === 'Deployment' && containersOf(d.doc).some((c) => c.env?.some((e) => e.name === 'ROLE' && e.value === 'voice')))!.doc;
    assert.ok(Number(get(voice, 'spec.template.spec.terminationGracePeriodSeconds')) >= 300);
    assert.equal(get(voice, 'spec.strategy.rollingUpdate.maxUnavailable'), 0);
    const sleep = (get(containersOf(voice)[0], 'lifecycle.preStop.exec.command') as string[])[1];
    assert.ok(Number(sleep) >= 5, `preStop sleeps ${sleep} s`);
    assert.ok(Number(get(voice, 'spec.template.spec.terminationGracePeriodSeconds')) > Number(sleep));
  });

  it('runs migrations in a pre-install/pre-upgrade hook Job with npm run migrate', () => {
    const jobs = docs.filter((d) => d.doc.kind === 'Job');
    assert.equal(jobs.length, 1);
    const job = jobs[0]!.doc;
    const hooks = String((get(job, 'metadata.annotations') as Doc)['helm.sh/hook']);
    assert.deepEqual(hooks.split(',').sort(), ['pre-install', 'pre-upgrade']);
    assert.equal(get(job, 'spec.template.spec.restartPolicy'), 'Never');
    assert.deepEqual(containersOf(job)[0]!.command!.slice(0, 3), ['npm', 'run', 'migrate']);
  });

  it('exposes api and voice through Services on the named http port', () => {
    const services = docs.filter((d) => d.doc.kind === 'Service');
    assert.deepEqual(services.map((s) => get(s.doc, 'spec.selector')).map((s) => (s as Doc)['app.kubernetes.io/component']).sort(), ['api', 'voice']);
    for (const s of services) assert.equal(get(s.doc, 'spec.ports.0.targetPort'), 'http');
  });

  it('contains no literal secrets: secret variables come from secretKeyRef only', () => {
    const secretNames = /SECRET|TOKEN|PASSWORD|_KEY$|DATABASE_URL|REDIS_URL|ACCOUNT_SID|CLIENT_ID/;
    assert.ok(!docs.some((d) => d.doc.kind === 'Secret'), 'the chart does not create Secrets with values');
    for (const k of Object.keys(values.env as Doc)) assert.ok(!secretNames.test(k), `values.env.${k} looks like a secret`);
    const keys = lookup('.Values.secrets.keys') as string[];
    for (const required of ['DATABASE_URL', 'REDIS_URL', 'ADMIN_JWT_SECRET', 'CREDENTIALS_KEY', 'TWILIO_AUTH_TOKEN']) assert.ok(keys.includes(required), required);
    for (const d of docs) {
      for (const c of containersOf(d.doc)) {
        assert.ok(c.env?.some((e) => get(e, 'valueFrom.secretKeyRef.name') === lookup('.Values.secrets.existingSecret')), `${d.file}: secrets are referenced from the existing Secret`);
        for (const e of c.env ?? []) {
          if (secretNames.test(e.name)) {
            assert.equal(e.value, undefined, `${d.file}: ${e.name} has a literal value`);
            assert.ok(get(e, 'valueFrom.secretKeyRef.name'), `${d.file}: ${e.name} comes from a Secret`);
          }
        }
      }
    }
    const raw = templates.map((f) => read(`templates/${f}`)).join('\n') + read('values.yaml');
    assert.ok(!/(sk-[A-Za-z0-9]{10,}|AC[0-9a-f]{32}|-----BEGIN|postgres(ql)?:\/\/[^\s"]*:[^\s"]*@)/.test(raw), 'no key, SID, PEM or URL with a password');
  });
});
