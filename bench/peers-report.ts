/**
 * Report helpers of the peers benchmark (`npm run bench -- --peers`, issue 14): token-id agreement
 * with our `ar`, medians, speed-up relative to transformers.js WebGPU, the Markdown table. Pure
 * functions (tested in test/bench/peers-report.test.ts); the run itself is bench/peers.ts.
 */

import type { AdapterSummary } from '../src/gpu/context.js';
import { renderTraceSection } from './webgpu-trace-report.js';
import { renderProfile, renderProfileBrief, type DecodeProfile } from './peers-profile.js';

/** The runtime the speed-ups are relative to. */
export const BASELINE = 'transformers.js webgpu';

/** The saved file of a peers run (bench/results/<date>-peers-<adapter>.json). */
export interface PeersResults {
  schema: 1;
  kind: 'peers';
  date: string;
  commit: string;
  adapter: AdapterSummary;
  /** CPU adapter (SwiftShader, lavapipe, a fallback adapter): WebGPU runs on the CPU. */
  cpuAdapter: boolean;
  model: string;
  plan: { name: string; prompts: string[]; maxNewTokens: number; runs: number };
  versions: Record<string, string>;
  machine: { cpus: number; cpuModel: string; chromium: string };
  prompts: Array<{ id: string; ids: number[] }>;
  runtimes: PeerRuntimeResult[];
  summary: PeerSummary[];
  baseline: string;
  notes: string[];
  wallMs: number;
}

/** One measured greedy generation of one runtime. */
export interface PeerRun {
  prompt: string;
  rep: number;
  /** Generated token ids (a generated EOS included). */
  ids: number[];
  newTokens: number;
  /** Request start to the first new token, ms (prefill included). */
  ttftMs: number;
  /** First new token to the last, ms. */
  decodeMs: number;
  /** Tokens after the first per decode second (ours: the engine's newTokens / decode seconds). */
  decodeTokensPerSecond: number;
}

/** One runtime (ours in one mode, or a peer in one configuration). */
export interface PeerRuntimeResult {
  name: string;
  ok: boolean;
  /** Why it could not run (ok false). */
  error?: string;
  /** Model load (fetch, compile, upload) wall time, ms. */
  loadMs?: number;
  runs?: PeerRun[];
  [extra: string]: unknown;
}

/** Where a runtime's greedy ids first differ from ours, with the float64 reference's view there. */
export interface Agreement {
  prompt: string;
  equal: boolean;
  /** First differing index of the generated ids, -1 when equal (a shorter output differs at its end). */
  firstMismatch: number;
  ours?: number;
  theirs?: number;
  /**
   * float64 reference forward at that position: top-1 minus top-2 logit, and whether its top-1 is
   * ours, theirs or neither (filled by the driver where computed).
   */
  refGap?: number;
  refTop1?: number;
}

export interface PeerSummary {
  name: string;
  ok: boolean;
  error?: string;
  loadMs: number | null;
  ttftMsMedian: number | null;
  decodeTokensPerSecond: number | null;
  /** decodeTokensPerSecond / the baseline's (transformers.js WebGPU); null when either is missing. */
  speedupVsBaseline: number | null;
  agreement: Agreement[];
  /** Every prompt's ids equal ours. */
  agrees: boolean | null;
  /** Our `ar` row only: where one decode step spends its time (bench/peers-profile.ts). */
  profile?: DecodeProfile;
}

/** First index where a and b differ; -1 when equal (length counts: a prefix differs at its end). */
export function firstMismatch(a: readonly number[], b: readonly number[]): number {
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return -1;
}

/** Median (mean of the middle two for an even count). @throws Error on an empty list. */
export function median(xs: readonly number[]): number {
  if (!xs.length) throw new Error('median of nothing');
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Per prompt: the runtime's first-rep ids against the reference ids (ours, `ar`). */
export function agreement(runs: readonly PeerRun[], reference: ReadonlyMap<string, readonly number[]>): Agreement[] {
  const out: Agreement[] = [];
  for (const [prompt, ref] of reference) {
    const r = runs.find((x) => x.prompt === prompt);
    if (!r) continue;
    const d = firstMismatch(r.ids, ref);
    out.push(d < 0 ? { prompt, equal: true, firstMismatch: -1 } : { prompt, equal: false, firstMismatch: d, ours: ref[d], theirs: r.ids[d] });
  }
  return out;
}

/**
 * One row per runtime: medians over all measured runs, speed-up relative to `baseline` (a runtime
 * name; transformers.js WebGPU), agreement with `reference`.
 */
export function summarize(results: readonly PeerRuntimeResult[], reference: ReadonlyMap<string, readonly number[]>, baseline: string): PeerSummary[] {
  const rows: PeerSummary[] = results.map((r) => {
    const runs = r.runs ?? [];
    const ok = r.ok && runs.length > 0;
    const ag = ok ? agreement(runs, reference) : [];
    return {
      name: r.name, ok, ...(r.error ? { error: r.error } : {}),
      loadMs: r.loadMs ?? null,
      ttftMsMedian: ok ? median(runs.map((x) => x.ttftMs)) : null,
      decodeTokensPerSecond: ok ? median(runs.map((x) => x.decodeTokensPerSecond)) : null,
      speedupVsBaseline: null,
      agreement: ag,
      agrees: ok ? ag.every((a) => a.equal) : null,
    };
  });
  const base = rows.find((x) => x.name === baseline)?.decodeTokensPerSecond ?? null;
  for (const row of rows) if (base && row.decodeTokensPerSecond !== null) row.speedupVsBaseline = row.decodeTokensPerSecond / base;
  return rows;
}

const fx = (x: number | null, d: number) => (x === null ? '—' : x.toFixed(d));

/** The Markdown table of the summary rows (the README's section is this table). */
export function renderPeersTable(rows: readonly PeerSummary[], baseline: string): string {
  const lines = [
    `| runtime | load ms | TTFT ms (median) | decode tok/s (median) | × ${baseline} | greedy ids = ours (ar) |`,
    '|---|---:|---:|---:|---:|---|',
  ];
  for (const r of rows) {
    if (!r.ok) {
      lines.push(`| ${r.name} | — | — | — | — | did not run: ${(r.error ?? '').split('\n')[0].replace(/\|/g, '\\|').slice(0, 160)} |`);
      continue;
    }
    const bad = r.agreement.filter((a) => !a.equal);
    const ag = bad.length === 0 ? 'yes' : `no: ${bad.map((a) => `${a.prompt} @${a.firstMismatch} (${a.ours}→${a.theirs}${a.refGap !== undefined ? `, f64 gap ${a.refGap.toExponential(1)}${a.refTop1 !== undefined ? `, f64 top-1 ${a.refTop1 === a.ours ? 'ours' : a.refTop1 === a.theirs ? 'theirs' : a.refTop1}` : ''}` : ''})`).join('; ')}`;
    lines.push(`| ${r.name} | ${fx(r.loadMs, 0)} | ${fx(r.ttftMsMedian, 1)} | ${fx(r.decodeTokensPerSecond, 1)} | ${fx(r.speedupVsBaseline, 2)} | ${ag} |`);
  }
  return lines.join('\n') + '\n';
}

/** The README block markers (`npx tsx bench/peers-readme.ts` rewrites what lies between them). */
export const README_BEGIN = '<!-- peers:begin (generated by `npx tsx bench/peers-readme.ts` from the saved file; do not edit) -->';
export const README_END = '<!-- peers:end -->';

/**
 * The README's "Versus other browser runtimes" figures from a saved run: the adapter (CPU adapters
 * labelled), the table, and how our `ar` compares with transformers.js WebGPU and which runtimes
 * decode faster than it (by how much). `file` is the results file's repository path (linked).
 */
export function renderPeersReadme(r: PeersResults, file: string): string {
  const a = r.adapter;
  const adapter = `${a.description || a.device || a.vendor}${r.cpuAdapter ? ' (a **CPU adapter**: WebGPU runs on the CPU)' : ''}`;
  const row = (name: string) => r.summary.find((x) => x.name === name);
  const ours = row('ours ar');
  const base = row(r.baseline);
  const ran = r.summary.filter((x) => x.ok && x.decodeTokensPerSecond !== null);
  const lines = [
    README_BEGIN,
    `Adapter: ${adapter}; headless Chromium ${r.machine.chromium}, ${r.machine.cpus} CPUs; ${r.date.slice(0, 10)}, commit \`${r.commit.slice(0, 7)}\`${r.commit.includes('uncommitted') ? ' (with uncommitted changes)' : ''}; [results](${file}).`,
    `Model ${r.model}; ${r.plan.prompts.length} prompts (${r.plan.prompts.join(', ')}) given to every runtime as the same token ids; greedy, ${r.plan.maxNewTokens} new tokens at most; warm-up + ${r.plan.runs} runs, medians. ${Object.entries(r.versions).map(([k, v]) => `${k} ${v}`).join(', ')}.`,
    '',
    renderPeersTable(r.summary, r.baseline).trimEnd(),
    '',
  ];
  if (ours?.decodeTokensPerSecond && base?.decodeTokensPerSecond) {
    const x = base.decodeTokensPerSecond / ours.decodeTokensPerSecond;
    lines.push(x > 1
      ? `Our \`ar\` decodes at ${ours.decodeTokensPerSecond.toFixed(1)} tok/s, ${x.toFixed(1)}x slower than transformers.js WebGPU (${base.decodeTokensPerSecond.toFixed(1)} tok/s) on the same adapter.`
      : `Our \`ar\` decodes at ${ours.decodeTokensPerSecond.toFixed(1)} tok/s, ${(1 / x).toFixed(1)}x transformers.js WebGPU (${base.decodeTokensPerSecond.toFixed(1)} tok/s) on the same adapter.`);
  }
  if (ours?.decodeTokensPerSecond) {
    const faster = [...ran].filter((x) => x.decodeTokensPerSecond! > ours.decodeTokensPerSecond!).sort((x, y) => y.decodeTokensPerSecond! - x.decodeTokensPerSecond!);
    lines.push(faster.length
      ? `Faster than our \`ar\` here: ${faster.map((x) => `${x.name} ${(x.decodeTokensPerSecond! / ours.decodeTokensPerSecond!).toFixed(1)}x`).join(', ')}.`
      : 'No runtime decodes faster than our `ar` here.');
  }
  if (ours?.profile) lines.push(renderProfileBrief(ours.profile));
  const failed = r.summary.filter((x) => !x.ok).map((x) => x.name);
  if (failed.length) lines.push(`Did not run here: ${failed.join(', ')} (the reason is in the table).`);
  lines.push(...renderTraceSection(r.runtimes, '####'));
  lines.push(README_END);
  return lines.join('\n') + '\n';
}

/** `readme` with the block between the markers replaced by `block`. @throws Error when a marker is missing. */
export function replacePeersReadme(readme: string, block: string): string {
  const i = readme.indexOf(README_BEGIN);
  const j = readme.indexOf(README_END);
  if (i < 0 || j < i) throw new Error('README has no peers block markers');
  return readme.slice(0, i) + block + readme.slice(j + README_END.length + 1);
}

/** The results file's Markdown: header facts, the table, the notes, the WebGPU calls per token. */
export function renderPeersMarkdown(r: PeersResults): string {
  const a = r.adapter;
  const profile = r.summary.find((x) => x.name === 'ours ar')?.profile;
  return [
    `# Peers benchmark, ${r.date.slice(0, 10)} (commit ${r.commit})`,
    '',
    `Headless Chromium ${r.machine.chromium}; WebGPU adapter: ${a.vendor} ${a.architecture} ${a.description}${r.cpuAdapter ? ' (**CPU adapter**)' : ''}; ${r.machine.cpus} CPUs (${r.machine.cpuModel}).`,
    `Model ${r.model}; prompts ${r.plan.prompts.join(', ')} (as token ids); greedy, ${r.plan.maxNewTokens} new tokens at most; warm-up + ${r.plan.runs} runs, medians.`,
    `Versions: ${Object.entries(r.versions).map(([k, v]) => `${k} ${v}`).join(', ')}.`,
    '',
    renderPeersTable(r.summary, r.baseline),
    ...r.notes.map((n) => `- ${n}`),
    ...renderTraceSection(r.runtimes, '##'),
    '',
    ...(profile ? ['## Where our ar decode step spends its time', '', renderProfile(profile)] : []),
  ].join('\n');
}
