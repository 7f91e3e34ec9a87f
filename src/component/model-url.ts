/**
 * Model folder locations as users type them: a URL or path of a Hugging Face-layout folder, a
 * huggingface.co repository page, or the `hf:owner/name[@revision]` shorthand.
 */
import { InvalidArgumentError } from '../errors.js';

const HF_SHORT = /^hf:([\w.-]+)\/([\w.-]+)(?:@([\w./-]+))?$/i;

/** `https://huggingface.co/owner/name[/tree|blob|resolve/<rev>[/sub/folder][/file]]` as a resolve URL. */
function huggingFaceFolder(url: URL): string | null {
  if (!/^(?:www\.)?huggingface\.co$/i.test(url.hostname)) return null;
  const parts = url.pathname.split('/').filter(Boolean);
  if (parts.length < 2 || ['datasets', 'spaces', 'api', 'docs'].includes(parts[0])) return null;
  const [owner, name] = parts;
  let rev = 'main';
  let rest: string[] = [];
  if (parts.length >= 4 && ['tree', 'blob', 'resolve'].includes(parts[2])) {
    rev = parts[3];
    rest = parts.slice(4);
    // A link to a file (…/blob/main/config.json) names the folder it is in.
    if (rest.length && /\.[a-z0-9]+$/i.test(rest[rest.length - 1])) rest.pop();
  }
  return `https://huggingface.co/${owner}/${name}/resolve/${rev}/${rest.map((r) => `${r}/`).join('')}`;
}

/**
 * Resolves `input` against `base` (the page URL) to an absolute folder URL ending in `/`.
 * `https://huggingface.co/owner/name` (also `/tree/<rev>` or a `/blob/<rev>/file` link) and
 * `hf:owner/name[@rev]` become `https://huggingface.co/owner/name/resolve/<rev>/`.
 * @throws InvalidArgumentError for an empty input, an unparsable URL or a protocol other than http(s).
 */
export function normalizeModelUrl(input: string, base: string): string {
  const text = input.trim();
  if (!text) throw new InvalidArgumentError('No model given. Pick the embedded model or type a model folder URL (for example hf:HuggingFaceTB/SmolLM2-135M-Instruct).');
  const short = HF_SHORT.exec(text);
  if (short) return `https://huggingface.co/${short[1]}/${short[2]}/resolve/${short[3] ?? 'main'}/`;
  let url: URL;
  try {
    url = new URL(text, base);
  } catch {
    throw new InvalidArgumentError(`"${text}" is not a URL. Type a model folder URL such as https://huggingface.co/<owner>/<model>/resolve/main/ or a path on this site such as /models/<name>/.`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new InvalidArgumentError(`Model URLs must use http or https, not ${url.protocol}`);
  const hf = huggingFaceFolder(url);
  if (hf) return hf;
  // A link to one of the folder's files names the folder.
  url.pathname = url.pathname.replace(/\/(?:config|tokenizer|tokenizer_config|generation_config)\.json$|\/[^/]+\.safetensors$/i, '/');
  url.hash = '';
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  return url.href;
}

/** A short display name of a model folder URL (`owner/name` on Hugging Face, else the last path segment). */
export function modelDisplayName(url: string): string {
  const m = /huggingface\.co\/([\w.-]+\/[\w.-]+)\/resolve\//i.exec(url);
  if (m) return m[1];
  const parts = new URL(url).pathname.split('/').filter(Boolean);
  return parts.at(-1) ?? url;
}
