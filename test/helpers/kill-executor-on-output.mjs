// Preload (`node --import`) for the CLI test of an executor process killed from outside (as the
// system's out-of-memory killer would): records every process the CLI forks (the engine's executor
// process, src/engine/node.ts) and kills them all with SIGKILL at the first text written to stdout
// (the first streamed token). `syncBuiltinESMExports` makes the ESM import of `node:child_process`
// in the CLI bundle see the recording `fork`. The executor process does not inherit this preload
// (it starts with no execArgv).
import { createRequire, syncBuiltinESMExports } from 'node:module';

const require = createRequire(import.meta.url);
const childProcess = require('node:child_process');
const fork = childProcess.fork;
const started = [];
childProcess.fork = (...args) => {
  const child = fork(...args);
  started.push(child);
  return child;
};
syncBuiltinESMExports();

let killed = false;
const write = process.stdout.write.bind(process.stdout);
process.stdout.write = (chunk, ...rest) => {
  if (!killed) {
    killed = true;
    for (const child of started) child.kill('SIGKILL');
  }
  return write(chunk, ...rest);
};
