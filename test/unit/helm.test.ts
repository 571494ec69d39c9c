import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { Ajv } from 'ajv';
import { registry } from '../../core/observability/metrics.js';

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

const ROOT = path.resolve(CHART, '../..');
/** The image's CMD (exec form) from the Dockerfile: what every Deployment must run. */
const dockerCmd = JSON.parse(/^CMD (\[.*\])$/m.exec(fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8'))![1]!) as string[];

const get = (o: unknown, p: string): unknown => p.split('.').reduce<unknown>((c, k) => (c && typeof c === 'object' ? (c as Doc)[k] : undefined), o);
type Container = { name: string; command?: string[]; args?: string[]; securityContext?: unknown; volumeMounts?: { name: string; mountPath: string }[]; env?: { name: string; value?: string; valueFrom?: unknown }[]; readinessProbe?: unknown; livenessProbe?: unknown; lifecycle?: unknown };
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
      assert.equal(c.command, undefined, 'no command: the image ENTRYPOINT (tini) must stay PID 1');
      assert.deepEqual(c.args, dockerCmd, 'args are the Dockerfile CMD (node directly, never npm or tsx)');
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

  it('runs migrations in a pre-install/pre-upgrade hook Job with node dist/scripts/migrate.js', () => {
    const jobs = docs.filter((d) => d.doc.kind === 'Job');
    assert.equal(jobs.length, 1);
    const job = jobs[0]!.doc;
    const hooks = String((get(job, 'metadata.annotations') as Doc)['helm.sh/hook']);
    assert.deepEqual(hooks.split(',').sort(), ['pre-install', 'pre-upgrade']);
    assert.equal(get(job, 'spec.template.spec.restartPolicy'), 'Never');
    assert.equal(containersOf(job)[0]!.command, undefined);
    assert.deepEqual(containersOf(job)[0]!.args!.slice(0, 2), ['node', 'dist/scripts/migrate.js']);
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

  const ajv = new Ajv({ allErrors: true, strict: false });
  const schema = JSON.parse(read('values.schema.json')) as Record<string, unknown>;
  const validate = ajv.compile(schema);
  const example = YAML.parse(read('examples/production.yaml')) as Doc;
  /** Helm's merge of -f values over values.yaml (maps merge, everything else replaces). */
  const merge = (a: unknown, b: unknown): unknown => (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)
    ? Object.fromEntries([...new Set([...Object.keys(a), ...Object.keys(b)])].map((k) => [k, k in (b as Doc) ? merge((a as Doc)[k], (b as Doc)[k]) : (a as Doc)[k]]))
    : b);

  it('validates values.yaml and examples/production.yaml (alone and merged) against values.schema.json, and rejects bad values', () => {
    for (const [name, v] of [['values.yaml', values], ['examples/production.yaml', example], ['merged', merge(values, example)]] as const) {
      assert.equal(validate(v), true, `${name}: ${ajv.errorsText(validate.errors)}`);
    }
    const bad = (patch: Doc, what: string) => assert.equal(validate(merge(values, patch)), false, `the schema rejects ${what}`);
    bad({ voice: { terminationGracePeriodSeconds: 300 } }, 'a voice grace period shorter than a call');
    bad({ env: { OPENAI_API_KEY: 'sk-literal' } }, 'a secret in env');
    bad({ ingress: { websocketTimeoutSeconds: 60 } }, 'a WebSocket timeout that cuts calls');
    bad({ securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: [] } } }, 'capabilities not dropped');
    bad({ image: { tag: 1 } }, 'a numeric image tag');
  });

  it('takes the image repository and tag from values', () => {
    assert.match(helpers.get('servicelane.image') ?? '', /\.Values\.image\.repository \}\}:\{\{ \.Values\.image\.tag \| default \.Chart\.AppVersion/);
    for (const d of docs.filter((x) => ['Deployment', 'Job'].includes(String(x.doc.kind)))) {
      assert.match(read(`templates/${d.file}`), /^\s+image: \{\{ include "servicelane\.image" \. \}\}$/m, d.file);
      assert.match(read(`templates/${d.file}`), /^\s+imagePullPolicy: \{\{ \.Values\.image\.pullPolicy \}\}$/m, d.file);
    }
  });

  it('treats Redis as optional: REDIS_URL is an optional secret key', () => {
    assert.ok((lookup('.Values.secrets.optionalKeys') as string[]).includes('REDIS_URL'));
    // Each secret key becomes a secretKeyRef marked optional when it is listed in optionalKeys.
    assert.match(read('templates/_helpers.tpl'), /range \.Values\.secrets\.keys \}\}\n- name: \{\{ \. \}\}\n {2}valueFrom:\n {4}secretKeyRef:\n[\s\S]*?optional: \{\{ has \. \$optional \}\}/);
    assert.ok((lookup('.Values.secrets.keys') as string[]).includes('REDIS_URL'), 'REDIS_URL is still read from the Secret when present');
  });

  it('routes /twilio/media to the voice Service and the rest to api, with WebSocket timeouts of an hour or more', () => {
    const ing = docs.filter((d) => d.doc.kind === 'Ingress');
    assert.equal(ing.length, 1);
    const doc = ing[0]!.doc;
    const ann = get(doc, 'metadata.annotations') as Doc;
    for (const k of ['nginx.ingress.kubernetes.io/proxy-read-timeout', 'nginx.ingress.kubernetes.io/proxy-send-timeout']) assert.ok(Number(ann[k]) >= 3600, `${k} = ${String(ann[k])}`);
    const paths = get(doc, 'spec.rules.0.http.paths') as { path: string; backend: { service: { name: string; port: { name: string } } } }[];
    const svc = (p: string) => paths.find((x) => x.path === p)?.backend.service;
    assert.ok(svc('/twilio/media')?.name.endsWith('-voice'), `media to voice: ${JSON.stringify(paths)}`);
    assert.ok(svc('/')?.name.endsWith('-api'), 'the rest to api');
    assert.equal(svc('/twilio/media')?.port.name, 'http');
    // The backends name the Services the chart creates.
    const serviceNames = docs.filter((d) => d.doc.kind === 'Service').map((d) => String(get(d.doc, 'metadata.name')));
    assert.ok(serviceNames.includes(svc('/twilio/media')!.name) && serviceNames.includes(svc('/')!.name), serviceNames.join(', '));
  });

  it('has a PodDisruptionBudget and a HorizontalPodAutoscaler for every role, each aimed at that role', () => {
    const deployments = new Map(docs.filter((d) => d.doc.kind === 'Deployment').map((d) => [String(get(d.doc, 'spec.template.metadata.labels') && (get(d.doc, 'spec.selector.matchLabels') as Doc)['app.kubernetes.io/component']), d.doc]));
    const pdbs = docs.filter((d) => d.doc.kind === 'PodDisruptionBudget');
    const hpas = docs.filter((d) => d.doc.kind === 'HorizontalPodAutoscaler');
    for (const role of ['api', 'voice', 'worker']) {
      const dep = deployments.get(role);
      assert.ok(dep, `${role} Deployment`);
      const pdb = pdbs.filter((p) => (get(p.doc, 'spec.selector.matchLabels') as Doc)['app.kubernetes.io/component'] === role);
      assert.equal(pdb.length, 1, `one PDB for ${role}`);
      const hpa = hpas.filter((h) => get(h.doc, 'spec.scaleTargetRef.name') === get(dep, 'metadata.name'));
      assert.equal(hpa.length, 1, `one HPA for ${role}`);
      const metrics = get(hpa[0]!.doc, 'spec.metrics') as Doc[];
      assert.ok(metrics.some((m) => get(m, 'resource.name') === 'cpu'), `${role} scales on CPU`);
      assert.match(read(`templates/deployment-${role}.yaml`), new RegExp(`if not \\.Values\\.${role}\\.autoscaling\\.enabled \\}\\}\\n\\s+replicas:`), 'replicas are left to the HPA when it is on');
    }
    // The voice hook: a pods metric named after a gauge the code really exports.
    const hook = lookup('.Values.voice.autoscaling.activeCalls.metricName');
    assert.ok(metricNames.has(String(hook)), `${String(hook)} is a metric of the registry`);
    assert.match(read('templates/hpa.yaml'), /if \.Values\.voice\.autoscaling\.activeCalls\.enabled \}\}\n\s+- type: Pods/);
  });

  it('gives voice pods a grace period covering preStop + DRAIN_TIMEOUT_MS (at least the 900 s max call) and passes the drain limit', () => {
    const voice = docs.find((d) => d.file === 'deployment-voice.yaml')!.doc;
    const grace = Number(get(voice, 'spec.template.spec.terminationGracePeriodSeconds'));
    const drain = Number(lookup('.Values.voice.drainTimeoutSeconds'));
    const preStop = Number(lookup('.Values.voice.preStopSleepSeconds'));
    assert.ok(drain >= 900, 'waits for the longest call');
    assert.ok(grace >= drain + preStop + 15, `grace ${grace} s ≥ preStop ${preStop} + drain ${drain} + 15 s to say goodbye and shut down`);
    const env = containersOf(voice)[0]!.env!;
    assert.equal(env.find((e) => e.name === 'DRAIN_TIMEOUT_MS')?.value, String(drain * 1000));
  });

  it('runs non-root with a read-only root filesystem, no capabilities, and /tmp as an emptyDir', () => {
    assert.equal(lookup('.Values.podSecurityContext.runAsNonRoot'), true);
    // The Dockerfile's USER is the node image's `node` user, uid 1000.
    assert.match(fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8'), /^USER node$/m);
    assert.equal(lookup('.Values.podSecurityContext.runAsUser'), 1000);
    for (const d of docs.filter((x) => ['Deployment', 'Job'].includes(String(x.doc.kind)))) {
      const c = containersOf(d.doc)[0]!;
      assert.equal(get(c, 'securityContext.readOnlyRootFilesystem'), true, d.file);
      assert.equal(get(c, 'securityContext.allowPrivilegeEscalation'), false, d.file);
      assert.deepEqual(get(c, 'securityContext.capabilities.drop'), ['ALL'], d.file);
      assert.deepEqual(c.volumeMounts, [{ name: 'tmp', mountPath: '/tmp' }], d.file);
      assert.deepEqual(get(d.doc, 'spec.template.spec.volumes'), [{ name: 'tmp', emptyDir: {} }], d.file);
    }
  });

  const metricNames = new Set(registry.getMetricsAsArray().map((m) => m.name));
  /** sl_* series names used in a text, reduced to the metric they come from (histograms add _bucket/_sum/_count). */
  const usedMetrics = (text: string) => new Set([...text.matchAll(/\bsl_[a-z_]+/g)].map((m) => m[0].replace(/_(bucket|sum|count)$/, '')));

  it('alerts on turn latency p95, provider errors, open breakers and queue backlog, using only metrics the code exports', () => {
    const rule = docs.find((d) => d.doc.kind === 'PrometheusRule');
    assert.ok(rule, 'a PrometheusRule template');
    const rules = (get(rule.doc, 'spec.groups.0.rules') as { alert: string; expr: string }[]);
    const exprs = rules.map((r) => r.expr).join('\n');
    for (const m of usedMetrics(exprs)) assert.ok(metricNames.has(m), `${m} is exported (core/observability/metrics.ts)`);
    assert.match(exprs, /histogram_quantile\(0\.95, .*sl_turn_stage_seconds_bucket/);
    for (const m of ['sl_plugin_errors_total', 'sl_breaker_open', 'sl_queue_jobs']) assert.ok(exprs.includes(m), m);
    assert.ok(docs.some((d) => d.doc.kind === 'ServiceMonitor'), 'a ServiceMonitor');
  });

  it('ships a Grafana dashboard (ConfigMap) whose queries use only exported metrics and cover the voice path', () => {
    const dash = JSON.parse(read('dashboards/servicelane.json')) as { panels: { title: string; targets: { expr: string }[] }[] };
    const exprs = dash.panels.flatMap((p) => p.targets.map((t) => t.expr)).join('\n');
    const used = usedMetrics(exprs);
    for (const m of used) assert.ok(metricNames.has(m), `${m} is exported`);
    for (const m of ['sl_turn_stage_seconds', 'sl_active_calls', 'sl_barge_ins_total', 'sl_tool_call_seconds', 'sl_plugin_errors_total', 'sl_queue_jobs']) assert.ok(used.has(m), `the dashboard shows ${m}`);
    const cm = docs.find((d) => d.file === 'dashboard-configmap.yaml');
    assert.ok(cm && cm.doc.kind === 'ConfigMap');
    assert.match(read('templates/dashboard-configmap.yaml'), /\.Files\.Get "dashboards\/servicelane\.json"/);
  });
});
