/**
 * Bench-only Web Worker (bench/peers-page.ts starts it; never part of the app or library bundle):
 * runs bench/decode-profile.ts on the worker's navigator.gpu, as the engine's executor runs in its
 * worker, and answers an empty call (`ping`) so the page can time a Comlink round trip.
 */
import * as Comlink from 'comlink';
import { profileDecodeStep } from './decode-profile.js';

const api = {
  /** See profileDecodeStep; log lines go to the page's console as `[bench] ...`. */
  profile: (model: string, P: number, reps: number) => profileDecodeStep((self as unknown as { navigator: Navigator }).navigator.gpu, model, P, reps, (s) => console.log(`[bench] ${s}`)),
  /** Nothing: a Comlink round trip. */
  ping: async (): Promise<number> => 0,
};
export type DecodeProfileWorker = typeof api;
Comlink.expose(api);
