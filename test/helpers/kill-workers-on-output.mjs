// Preload (`node --import`) for the CLI test of a dying worker: records every worker thread the
// process starts and terminates them all at the first text written to stdout (the first streamed
// token), as if the thread had crashed. `syncBuiltinESMExports` makes the ESM import of
// `node:worker_threads` in the CLI bundle see the recording class.
import { createRequire, syncBuiltinESMExports } from 'node:module';

const require = createRequire(import.meta.url);
const threads = require('node:worker_threads');
const started = [];
threads.Worker = class extends threads.Worker {
  constructor(...args) {
    super(...args);
    started.push(this);
  }
};
syncBuiltinESMExports();

const write = process.stdout.write.bind(process.stdout);
let killed = false;
process.stdout.write = (chunk, ...rest) => {
  if (!killed) {
    killed = true;
    for (const w of started) void w.terminate();
  }
  return write(chunk, ...rest);
};
