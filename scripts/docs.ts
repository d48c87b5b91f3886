// `npm run docs`: writes the generated reference documents (today docs/CONFIG.md, from
// the config schema). test/unit/config-reference.test.ts fails when one is stale.
import fs from 'node:fs';
import path from 'node:path';
import { REFERENCE_FILE, renderConfigReference } from '../src/config/reference.ts';

const root = path.resolve(import.meta.dirname, '..');
const file = path.join(root, REFERENCE_FILE);
fs.mkdirSync(path.dirname(file), { recursive: true });
fs.writeFileSync(file, renderConfigReference());
console.log(`wrote ${REFERENCE_FILE}`);
