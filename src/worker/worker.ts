/** Browser Web Worker entry: exposes an {@link Executor} over Comlink (navigator.gpu inside the worker). */
import * as Comlink from 'comlink';
import { Executor } from './executor.js';
import { installErrorTransfer } from './transfer.js';
import { setCompileHooks } from '../gpu/kernel.js';
import { setLoaderSyncHooks } from '../model/loader.js';
import { announceSyncStep, answerHeartbeat, type HeartbeatEndpoint } from './heartbeat.js';

installErrorTransfer();
Comlink.expose(new Executor(async () => (self as unknown as { navigator: Navigator }).navigator.gpu));
setCompileHooks(announceSyncStep);
setLoaderSyncHooks(announceSyncStep);
answerHeartbeat(self as unknown as HeartbeatEndpoint);
