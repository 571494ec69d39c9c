/**
 * `npm run build` (after tsc): bundles the console (web/) with esbuild into dist/web, content-hashed, so the
 * api role serves it without building at start. Without dist/web the server builds it on the first request.
 */
import { buildConsole, writeConsole, BUILT_DIR } from '../core/console/assets.js';

const b = await buildConsole();
writeConsole(b);
process.stdout.write(`console bundle: ${[...b.assets.keys()].join(', ')} → ${BUILT_DIR}\n`);
