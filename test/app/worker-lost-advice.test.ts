// A worker whose script failed to load is not a model too big for the device: the page's files
// changed (a new deployment removed the chunk it asks for) or could not be downloaded, and the fix
// is to reload the page. Other worker losses keep their own advice.
import { describe, expect, it } from 'vitest';
import { WORKER_SCRIPT_FAILED, WorkerLostError } from '../../src/errors.js';
import { describeError } from '../../src/component/describe-error.js';

describe('WorkerLostError advice', () => {
  it('a worker script that failed to load says to reload the page, not to try a smaller model', () => {
    const e = new WorkerLostError(`${WORKER_SCRIPT_FAILED} (missing file, syntax error or failed import)`);
    expect(e.message).toBe("The model's worker stopped: its script failed to load (missing file, syntax error or failed import). Its pending calls were cancelled. The page's files changed (a new version of the site was deployed) or could not be downloaded: reload the page.");
    expect(e.message).not.toMatch(/smaller model/);
    expect(e.detail).toMatchObject({ reason: 'worker-lost', scriptFailed: true });
    const view = describeError(e, 'load');
    expect(view).toMatchObject({ code: 'worker-lost', title: "The page's files changed or could not be loaded", needsReload: true });
    expect(view.action).toBe('Reload the page. A new version of this site may have been deployed since the page was opened, or the network failed while it loaded the model\'s worker.');
  });

  it('a worker that crashed or stopped answering keeps the advice about memory', () => {
    for (const cause of ['the worker thread exited with code 1', 'it stopped answering (no sign of life for 2100 ms)', 'it threw an uncaught error: boom']) {
      const e = new WorkerLostError(cause);
      expect(e.message).toBe(`The model's worker stopped: ${cause}. Its pending calls were cancelled. Create a new engine to continue; if it happens again, try a smaller model or context length.`);
      expect(e.detail.scriptFailed).toBe(false);
      const view = describeError(e, 'generate');
      expect(view.title).toBe('The model stopped working (its worker was lost)');
      expect(view.action).toMatch(/smaller model/);
    }
  });
});
