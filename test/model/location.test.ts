// Model locations: every form the app, <msn-chat>, createEngine, createNodeEngine, the CLI and the
// bench accept goes through one parser (src/model/location.ts) and gives the same folder.
import { describe, expect, it } from 'vitest';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { HF_DEFAULT_ENDPOINT, resolveModelLocation } from '../../src/model/location.js';
import { resolveNodeModelLocation } from '../../src/model/location-node.js';
import { modelDisplayName, normalizeModelUrl } from '../../src/component/model-url.js';
import { InvalidArgumentError } from '../../src/errors.js';

const PAGE = 'https://example.org/app/index.html';
const HF = 'https://huggingface.co/owner/name/resolve';
const browser = (s: string) => resolveModelLocation(s, { base: PAGE });
const node = (s: string, env: Record<string, string> = {}) => resolveNodeModelLocation(s, { cwd: '/work/here', env, path: path.posix });

// [input, folder]: the same answer in a browser and in Node.
const HUB_FORMS: Array<[string, string]> = [
  ['hf:owner/name', `${HF}/main/`],
  ['  hf:owner/name  ', `${HF}/main/`],
  ['HF:owner/name', `${HF}/main/`],
  ['hf://owner/name', `${HF}/main/`],
  ['hf:owner/name/', `${HF}/main/`],
  ['hf:Owner-1/na.me_2@v1.0', 'https://huggingface.co/Owner-1/na.me_2/resolve/v1.0/'],
  ['hf:owner/name@0123456789abcdef0123456789abcdef01234567', `${HF}/0123456789abcdef0123456789abcdef01234567/`],
  // A revision with "/" is encoded (huggingface_hub hf:// paths), except the special refs.
  ['hf:owner/name@feature%2Fx', `${HF}/feature%2Fx/`],
  ['hf:owner/name@refs/pr/12', `${HF}/refs%2Fpr%2F12/`],
  ['hf:owner/name@refs%2Fpr%2F12', `${HF}/refs%2Fpr%2F12/`],
  ['hf:owner/name@refs/convert/parquet', `${HF}/refs%2Fconvert%2Fparquet/`],
  ['hf:owner/name@refs/pr/12/sub', `${HF}/refs%2Fpr%2F12/sub/`],
  // Sub-folders, and a file naming its folder.
  ['hf:owner/name/sub/folder', `${HF}/main/sub/folder/`],
  ['hf:owner/name@dev/sub/folder/', `${HF}/dev/sub/folder/`],
  ['hf:owner/name@dev/sub/config.json', `${HF}/dev/sub/`],
  ['hf:owner/name/my%20folder', `${HF}/main/my%20folder/`],
  // huggingface.co links.
  ['https://huggingface.co/owner/name', `${HF}/main/`],
  ['https://huggingface.co/owner/name/', `${HF}/main/`],
  ['http://www.huggingface.co/owner/name?library=transformers#model-card', `${HF}/main/`],
  ['https://hf.co/owner/name', `${HF}/main/`],
  ['huggingface.co/owner/name', `${HF}/main/`],
  ['hf.co/owner/name/tree/dev', `${HF}/dev/`],
  ['https://huggingface.co/owner/name/discussions/3', `${HF}/main/`],
  ['https://huggingface.co/owner/name/tree/main', `${HF}/main/`],
  ['https://huggingface.co/owner/name/tree/v2.0', `${HF}/v2.0/`],
  ['https://huggingface.co/owner/name/tree/main/sub/v1.5', `${HF}/main/sub/v1.5/`],
  ['https://huggingface.co/owner/name/tree/refs%2Fpr%2F3', `${HF}/refs%2Fpr%2F3/`],
  ['https://huggingface.co/owner/name/tree/refs/pr/3/sub', `${HF}/refs%2Fpr%2F3/sub/`],
  ['https://huggingface.co/owner/name/blob/main/config.json', `${HF}/main/`],
  ['https://huggingface.co/owner/name/blob/dev/sub/folder/model.safetensors', `${HF}/dev/sub/folder/`],
  ['https://huggingface.co/owner/name/blob/dev/sub/LICENSE', `${HF}/dev/sub/`],
  ['https://huggingface.co/owner/name/raw/main/tokenizer.json', `${HF}/main/`],
  ['https://huggingface.co/owner/name/resolve/main/', `${HF}/main/`],
  ['https://huggingface.co/owner/name/resolve/main', `${HF}/main/`],
  ['https://huggingface.co/owner/name/resolve/main/config.json?download=true', `${HF}/main/`],
  ['https://huggingface.co/owner/name/resolve/main/sub', `${HF}/main/sub/`],
  ['https://huggingface.co/owner/name/resolve/refs%2Fpr%2F3/sub/model-00001-of-00002.safetensors', `${HF}/refs%2Fpr%2F3/sub/`],
  // Other http(s) folders.
  ['https://example.com/models/x', 'https://example.com/models/x/'],
  ['https://example.com/models/x/', 'https://example.com/models/x/'],
  ['https://example.com/models/x///', 'https://example.com/models/x///'],
  ['https://example.com/models/x/config.json', 'https://example.com/models/x/'],
  ['https://example.com/models/x/model-00002-of-00003.safetensors?sig=1#t', 'https://example.com/models/x/'],
  ['https://example.com/models/v1.5', 'https://example.com/models/v1.5/'],
  ['http://127.0.0.1:8080/m%20x/tokenizer_config.json', 'http://127.0.0.1:8080/m%20x/'],
  ['HTTPS://EXAMPLE.COM/A', 'https://example.com/A/'],
];

describe('resolveModelLocation', () => {
  it.each(HUB_FORMS)('%s → %s (browser and Node alike)', (input, folder) => {
    expect(browser(input)).toBe(folder);
    expect(node(input)).toBe(folder);
    // The old browser entry point is the same function.
    expect(normalizeModelUrl(input, PAGE)).toBe(folder);
  });

  it('is idempotent: a resolved folder resolves to itself', () => {
    for (const [, folder] of HUB_FORMS) {
      expect(browser(folder)).toBe(folder);
      expect(node(folder)).toBe(folder);
    }
  });

  it('browser: paths and relative URLs resolve against the page URL', () => {
    expect(browser('/models/msn-code-tiny')).toBe('https://example.org/models/msn-code-tiny/');
    expect(browser('/models/msn-code-tiny/')).toBe('https://example.org/models/msn-code-tiny/');
    expect(browser('models/x/config.json')).toBe('https://example.org/app/models/x/');
    expect(browser('../x')).toBe('https://example.org/x/');
    expect(browser('//cdn.example.net/m')).toBe('https://cdn.example.net/m/');
    expect(resolveModelLocation('./m', { base: 'http://127.0.0.1:5173/' })).toBe('http://127.0.0.1:5173/m/');
  });

  it('Node: paths resolve against the current directory, to absolute paths without a trailing slash', () => {
    expect(node('m')).toBe('/work/here/m');
    expect(node('./m/')).toBe('/work/here/m');
    expect(node('../m')).toBe('/work/m');
    expect(node('/abs/m')).toBe('/abs/m');
    expect(node('/abs/m///')).toBe('/abs/m');
    expect(node('/abs/m/config.json')).toBe('/abs/m');
    expect(node('m/model.safetensors')).toBe('/work/here/m');
    expect(node('/abs/v1.5')).toBe('/abs/v1.5');
    expect(node('/abs/with space/#1?')).toBe('/abs/with space/#1?');
    // Not a Hub id: a relative path stays a path (hf: is explicit).
    expect(node('owner/name')).toBe('/work/here/owner/name');
    // The default context is this process's directory.
    expect(resolveNodeModelLocation('m', { env: {} })).toBe(path.resolve('m'));
  });

  it('Node: file: URLs become local paths', () => {
    expect(node('file:///abs/m')).toBe('/abs/m');
    expect(node('file:///abs/m/')).toBe('/abs/m');
    expect(node('file:///abs/with%20space/config.json')).toBe('/abs/with space');
    expect(node(pathToFileURL('/tmp/a b#c').href)).toBe('/tmp/a b#c');
    expect(node('FILE://localhost/abs/m')).toBe('/abs/m');
  });

  it('Node: Windows paths are local paths, never URL schemes', () => {
    const win = (s: string) => resolveNodeModelLocation(s, { cwd: 'C:\\work\\here', env: {}, path: path.win32 });
    expect(win('C:\\models\\x')).toBe('C:\\models\\x');
    expect(win('c:/models/x/')).toBe('c:\\models\\x');
    expect(win('D:\\models\\x\\config.json')).toBe('D:\\models\\x');
    expect(win('models\\x')).toBe('C:\\work\\here\\models\\x');
    expect(win('..\\x')).toBe('C:\\work\\x');
    expect(win('\\\\server\\share\\m')).toBe('\\\\server\\share\\m');
    expect(win('hf:owner/name')).toBe(`${HF}/main/`);
    // On POSIX a drive path is still a path (not the URL scheme "c:").
    expect(node('C:\\models\\x')).toBe('/work/here/C:\\models\\x');
  });

  it('hf: names resolve against the endpoint: MSN_HF_ENDPOINT, else HF_ENDPOINT, else huggingface.co', () => {
    expect(node('hf:owner/name@v1', { MSN_HF_ENDPOINT: 'http://127.0.0.1:9/', HF_ENDPOINT: 'https://mirror.example' })).toBe('http://127.0.0.1:9/owner/name/resolve/v1/');
    expect(node('hf:owner/name', { HF_ENDPOINT: 'https://mirror.example/hub' })).toBe('https://mirror.example/hub/owner/name/resolve/main/');
    expect(node('hf:owner/name', { MSN_HF_ENDPOINT: '' })).toBe(`${HF_DEFAULT_ENDPOINT}/owner/name/resolve/main/`);
    expect(resolveModelLocation('hf:owner/name', { base: PAGE, hfEndpoint: 'http://localhost:1234' })).toBe('http://localhost:1234/owner/name/resolve/main/');
    // Explicit links keep their host.
    expect(node('https://huggingface.co/owner/name', { MSN_HF_ENDPOINT: 'http://127.0.0.1:9' })).toBe(`${HF}/main/`);
    for (const bad of ['ftp://mirror', 'mirror.example', 'https://mirror.example/?x=1']) {
      expect(() => node('hf:owner/name', { MSN_HF_ENDPOINT: bad })).toThrow(/Hugging Face endpoint .* is not an http\(s\) URL/);
    }
  });

  // [input, message]: junk is a clear InvalidArgumentError, in both contexts.
  const JUNK: Array<[string, RegExp]> = [
    ['', /No model given/],
    ['   ', /No model given/],
    ['hf:', /is not hf:owner\/name/],
    ['hf:owner', /is not hf:owner\/name/],
    ['hf:owner/', /is not hf:owner\/name/],
    ['hf:/name', /is not hf:owner\/name/],
    ['hf:owner/name@', /empty revision/],
    ['hf:owner/name@%E0%A4%A', /malformed percent-encoding/],
    ['hf:owner/na me', /invalid Hugging Face repository name "na me"/],
    ['hf:owner/name?x', /invalid Hugging Face repository name/],
    ['hf:own..er/name', /invalid Hugging Face repository name "own..er"/],
    ['hf:owner/name/../x', /invalid path segment "\.\."/],
    ['hf:owner/name/a%2Fb', /invalid path segment "a\/b"/],
    ['hf:datasets/owner/name', /names a Hugging Face dataset/],
    ['hf:spaces/owner/name', /names a Hugging Face Space/],
    ['https://huggingface.co/', /not a link to a Hugging Face model repository/],
    ['https://huggingface.co/owner', /names a user or organization/],
    ['https://huggingface.co/datasets/owner/name', /links a Hugging Face dataset/],
    ['https://huggingface.co/spaces/owner/name', /links a Hugging Face Space/],
    ['https://huggingface.co/docs/transformers', /not a link to a Hugging Face model repository/],
    ['https://huggingface.co/models?search=llama', /not a link to a Hugging Face model repository/],
    ['https://huggingface.co/owner/name/tree/%E0%A4%A', /malformed percent-encoding/],
    ['http://', /is not a valid URL/],
    ['https://[::1', /is not a valid URL/],
    ['ftp://example.com/m', /uses ftp: \(Model URLs must use http or https\)/],
    ['javascript:alert(1)', /uses javascript:/],
    ['data:application/json,{}', /uses data:/],
    ['localhost:8080/models/x', /uses localhost:/],
    ['https://user:pw@example.com/m', /user name or password/],
    ['hf:owner/name\n--prompt', /contains control characters/],
    ['/models/x\u0000', /contains control characters/],
  ];

  it.each(JUNK)('%j → InvalidArgumentError %s', (input, message) => {
    for (const resolve of [browser, (s: string) => node(s)]) {
      let err: unknown;
      try {
        resolve(input);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(InvalidArgumentError);
      expect((err as Error).message).toMatch(message);
    }
  });

  it('browser: local paths and file: URLs are refused with what to do instead', () => {
    for (const input of ['C:\\models\\x', 'd:/models', '\\\\server\\share\\m', 'file:///abs/m']) {
      expect(() => browser(input)).toThrow(InvalidArgumentError);
      expect(() => browser(input)).toThrow(/which a browser cannot read: serve the folder over http\(s\)/);
    }
    expect(() => resolveModelLocation('models/x', {})).toThrow(/no page URL/);
  });

  it('display names: owner/name of a Hub resolve URL (huggingface.co or a mirror), else the folder name', () => {
    expect(modelDisplayName(browser('hf:owner/name@refs/pr/1/sub'))).toBe('owner/name');
    expect(modelDisplayName(node('hf:owner/name', { MSN_HF_ENDPOINT: 'http://127.0.0.1:8000/hub' }))).toBe('owner/name');
    expect(modelDisplayName(browser('/models/msn-code-tiny'))).toBe('msn-code-tiny');
  });

  it('Node: a file: URL with a remote host is refused', () => {
    expect(() => node('file://server/share/m')).toThrow(InvalidArgumentError);
    expect(() => node('file://server/share/m')).toThrow(/is not a local file: URL/);
  });
});
