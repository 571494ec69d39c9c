import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { firstPartyPlugins } from '../../plugins/index.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const doc = fs.readFileSync(path.join(ROOT, 'docs/plugins.md'), 'utf8');
const firstParty = doc.slice(doc.indexOf('## First-party plugins'), doc.indexOf('## Reference'));

/** The `### \`<id>\`` section of docs/plugins.md for one plugin. */
function section(id: string): string {
  const start = firstParty.indexOf(`### \`${id}\``);
  if (start < 0) return '';
  const next = firstParty.indexOf('\n### ', start + 1);
  return firstParty.slice(start, next < 0 ? undefined : next);
}
const jsonBlocks = (s: string) => [...s.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => m[1]!.trim());

/**
 * docs/plugins.md is where a dealership admin copies a credential from, so its examples must be exactly what
 * each manifest accepts: a documented shape the plugin refuses is the "saved 200, slot silently disabled" trap.
 */
describe('docs/plugins.md first-party plugin reference', () => {
  const ajv = new Ajv({ allErrors: true, strict: false });

  for (const m of firstPartyPlugins) {
    it(`documents ${m.id}: its credential example passes its credentialsSchema and its slot example passes its settingsSchema`, () => {
      const s = section(m.id);
      assert.ok(s, `docs/plugins.md has a section for ${m.id}`);
      const blocks = jsonBlocks(s);
      const slots = blocks.filter((b) => b.startsWith(`"${m.kind}":`)).map((b) => (JSON.parse(`{${b}}`) as Record<string, { plugin: string; settings?: unknown; credentialsRef?: string }>)[m.kind]!);
      assert.ok(slots.length >= 1, `${m.id}: an example slot "${m.kind}": {…}`);
      for (const slot of slots) {
        assert.equal(slot.plugin, m.id);
        const settings = ajv.compile(m.settingsSchema as object);
        assert.ok(settings(structuredClone(slot.settings ?? {})), `${m.id} settings example: ${ajv.errorsText(settings.errors)}`);
      }
      const creds = blocks.filter((b) => b.startsWith('{')).map((b) => JSON.parse(b) as unknown);
      if (!m.credentialsSchema) {
        assert.equal(creds.length, 0, `${m.id} takes no credentials`);
        assert.ok(slots.every((sl) => sl.credentialsRef === undefined));
        return;
      }
      const inline = /Credentials \(optional\): `(\{[^`]+\})`/.exec(s)?.[1];
      const examples = inline ? [...creds, JSON.parse(inline.replace(/<[^>]+>/g, 'placeholder-value-long-enough'))] : creds;
      assert.ok(examples.length >= 1, `${m.id}: a credential example`);
      const v = ajv.compile(m.credentialsSchema as object);
      for (const c of examples) assert.ok(v(c), `${m.id} credential example ${JSON.stringify(c)}: ${ajv.errorsText(v.errors)}`);
      const required = ((m.credentialsSchema as { required?: string[] }).required ?? []);
      for (const k of required) assert.ok(Object.hasOwn(examples[0] as object, k), `${m.id} example shows required ${k}`);
    });
  }

  it('lists every first-party plugin in the summary table and nothing else', () => {
    const rows = [...firstParty.matchAll(/^\| `([a-z]+-[a-z]+)` \| [a-z]+ \|/gm)].map((r) => r[1]);
    assert.deepEqual(rows.sort(), firstPartyPlugins.map((m) => m.id).sort());
  });
});
