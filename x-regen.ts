import fs from 'node:fs';
import { ERROR_CODES } from './core/errors.js';
const rows = Object.entries(ERROR_CODES).map(([k, v]) => `| \`${k}\` | ${v.status} | ${v.text.replace(/\|/g, '\\|')} |`);
const table = ['<!-- ERROR_CODES:BEGIN -->', '| code | HTTP status | meaning |', '|---|---|---|', ...rows, '<!-- ERROR_CODES:END -->'].join('\n');
const readme = fs.readFileSync('README.md', 'utf8');
const next = readme.replace(/<!-- ERROR_CODES:BEGIN -->[\s\S]*<!-- ERROR_CODES:END -->/, table);
fs.writeFileSync('README.md', next);
console.log(readme === next ? 'unchanged' : 'updated', rows.length);
