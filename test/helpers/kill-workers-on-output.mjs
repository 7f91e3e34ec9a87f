// Preload (`node --import`) for the CLI test of a dying worker: records every worker thread the
// process starts and terminates them all at the first text meant for stdout (the first streamed
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

let killed = false;
const killAll = () => {
  if (killed) return;
  killed = true;
  for (const w of started) void w.terminate();
};
// The CLI runs its engine in a child process (same preload, inherited execArgv) that sends the text
// to the parent over IPC (src/cli/generate.ts); a process without a parent writes it to stdout.
if (process.send) {
  const send = process.send.bind(process);
  process.send = (message, ...rest) => {
    if (typeof message?.out === 'string') killAll();
    return send(message, ...rest);
  };
} else {
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = (chunk, ...rest) => {
    killAll();
    return write(chunk, ...rest);
  };
}
