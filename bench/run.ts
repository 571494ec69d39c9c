/**
 * `npm run bench -- <name> [--flags]`: runs bench/<name>.ts. The name is checked against the files that
 * exist, so nothing but a benchmark in this folder can be imported. Each benchmark prints one JSON object
 * of figures as its last stdout line.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const dir = path.dirname(fileURLToPath(import.meta.url));
const available = fs.readdirSync(dir).filter((f) => f.endsWith('.ts') && f !== 'run.ts' && !f.endsWith('.d.ts')).map((f) => f.slice(0, -3)).sort();
const [name, ...rest] = process.argv.slice(2);

if (!name || !available.includes(name)) {
  process.stderr.write(`usage: npm run bench -- <name> [--flags]\navailable: ${available.join(', ') || '(none)'}\n`);
  process.exit(64);
}
// Benchmarks read their own flags from process.argv, as if run directly.
process.argv = [process.argv[0]!, path.join(dir, `${name}.ts`), ...rest];
await import(pathToFileURL(path.join(dir, `${name}.ts`)).href);
