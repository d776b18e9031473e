#!/usr/bin/env node
// npm run docs:config: rewrites the options table of docs/CONFIGURATION.md from src/cli/options-table.ts (through
// the build in dist/; the npm script builds first).
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { withGeneratedOptions } = require(path.join(__dirname, '..', 'dist', 'cli', 'config-doc.js'));

const file = path.join(__dirname, '..', 'docs', 'CONFIGURATION.md');
const before = fs.readFileSync(file, 'utf8');
const after = withGeneratedOptions(before);
if (after !== before) fs.writeFileSync(file, after);
process.stdout.write(`${after === before ? 'unchanged' : 'updated'}: docs/CONFIGURATION.md\n`);
