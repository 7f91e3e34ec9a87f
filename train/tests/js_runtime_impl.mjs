// Implementation of js_runtime.mjs (bundled by it with the project's esbuild settings: .wgsl as text).
import { resolve } from 'node:path';
import { Tokenizer } from '../../src/tokenizer/tokenizer.ts';
import { createModelSource } from '../../src/model/source.ts';
import { createNodeEngine } from '../../src/engine/node.ts';

export async function run(cmd, folder, req) {
  if (cmd === 'chat') {
    const tok = await Tokenizer.load(createModelSource(resolve(folder)));
    const rendered = req.conversations.map((m) => tok.applyChatTemplate(m));
    const renderedNoGen = req.conversations.map((m) => tok.applyChatTemplate(m, { addGenerationPrompt: false }));
    const ids = req.conversations.map((m) => tok.encodeChat(m));
    return { rendered, renderedNoGen, ids };
  }
  const engine = await createNodeEngine({ model: resolve(folder), inline: true, selfCheck: false });
  const runs = [];
  try {
    for (const [i, prompt] of req.prompts.entries()) {
      for (const mode of req.modes) {
        const it = engine.generate(prompt, { maxNewTokens: req.maxNewTokens, decode: mode, tree: 'fixed', draftSeed: req.draftSeed });
        let r = await it.next();
        while (!r.done) r = await it.next();
        runs.push({ prompt: i, mode, promptIds: engine.encodePrompt(prompt), tokenIds: r.value.tokenIds, steps: r.value.steps });
      }
    }
  } finally {
    await engine.dispose();
  }
  return { runs };
}
