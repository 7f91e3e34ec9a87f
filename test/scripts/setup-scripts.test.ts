// The fresh-machine setup without touching the machine: the bookworm-backports apt entry derived from
// sample apt source folders (deb822 and one-line formats, with and without a keyring), and the Python
// package source train/setup_env.sh picks with and without a local package mirror (its dry run).
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const tmp = mkdtempSync(join(tmpdir(), 'msn-setup-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;

/** An apt folder with these files (path relative to it → content). */
function aptDir(files: Record<string, string>): string {
  const dir = join(tmp, `apt-${n++}`);
  mkdirSync(join(dir, 'sources.list.d'), { recursive: true });
  for (const [path, text] of Object.entries(files)) writeFileSync(join(dir, path), text);
  return dir;
}

function backports(files: Record<string, string>) {
  const r = spawnSync('bash', [join(root, 'scripts/apt-backports-source.sh'), aptDir(files)], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const DEBIAN_DEB822 = `Types: deb
# a comment inside the stanza
URIs: http://mirror.example.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
`;

describe('scripts/apt-backports-source.sh', () => {
  it('deb822 with Signed-By: the same URIs and keyring, suite bookworm-backports', () => {
    expect(backports({ 'sources.list.d/debian.sources': DEBIAN_DEB822 })).toEqual({
      status: 0, stderr: '',
      stdout: 'Types: deb\nURIs: http://mirror.example.org/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n',
    });
  });

  it('one-line format with signed-by and arch options', () => {
    const list = '# local mirror\ndeb-src http://src.example.org/debian bookworm main\ndeb [ arch=amd64,arm64 signed-by=/etc/apt/keyrings/corp.gpg ] http://apt.corp.example:3142/debian bookworm main contrib non-free-firmware\n';
    expect(backports({ 'sources.list': list })).toEqual({
      status: 0, stderr: '',
      stdout: 'Types: deb\nURIs: http://apt.corp.example:3142/debian\nSuites: bookworm-backports\nComponents: main\nArchitectures: amd64 arm64\nSigned-By: /etc/apt/keyrings/corp.gpg\n',
    });
  });

  it('one-line format without a keyring (a caching proxy): no Signed-By, apt keeps its trusted keys', () => {
    const list = 'deb http://apt-proxy.example:3142/debian-security bookworm-security main\ndeb http://apt-proxy.example:3142/debian bookworm main\n';
    expect(backports({ 'sources.list': list }).stdout).toBe('Types: deb\nURIs: http://apt-proxy.example:3142/debian\nSuites: bookworm-backports\nComponents: main\n');
  });

  it('deb822 with several URIs and an inline key; disabled, deb-src and non-main stanzas are skipped', () => {
    const sources = `Types: deb
URIs: http://off.example.org/debian
Suites: bookworm
Components: main
Enabled: no

Types: deb-src
URIs: http://src.example.org/debian
Suites: bookworm
Components: main

Types: deb
URIs: http://a.example.org/debian http://b.example.org/debian
Suites: bookworm
Components: main contrib
Signed-By:
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 .
 mQINBGPL0BUBEADmW5NdOOHwPIJlgPu6JDcKw/NZJPR8lsD9K7UG
 -----END PGP PUBLIC KEY BLOCK-----
`;
    expect(backports({ 'sources.list.d/mirrors.sources': sources }).stdout).toBe(`Types: deb
URIs: http://a.example.org/debian http://b.example.org/debian
Suites: bookworm-backports
Components: main
Signed-By:
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 .
 mQINBGPL0BUBEADmW5NdOOHwPIJlgPu6JDcKw/NZJPR8lsD9K7UG
 -----END PGP PUBLIC KEY BLOCK-----
`);
  });

  it('a third-party repository with a `bookworm main` entry is never taken for the Debian archive', () => {
    const ms = 'deb [arch=amd64 signed-by=/usr/share/keyrings/microsoft.gpg] https://packages.microsoft.com/repos/azure-cli/ bookworm main\n';
    // Listed before Debian's own entry (sources.list is read first), and in both formats.
    for (const files of <Array<Record<string, string>>>[
      { 'sources.list': ms, 'sources.list.d/debian.sources': DEBIAN_DEB822 },
      { 'sources.list.d/azure-cli.list': ms, 'sources.list.d/debian.sources': DEBIAN_DEB822 },
      { 'sources.list.d/a-docker.sources': 'Types: deb\nURIs: https://download.docker.com/linux/debian\nSuites: bookworm\nComponents: stable main\nSigned-By: /etc/apt/keyrings/docker.asc\n', 'sources.list.d/debian.sources': DEBIAN_DEB822 },
    ]) {
      const r = backports(files);
      expect(r.status).toBe(0);
      expect(r.stdout).toContain('URIs: http://mirror.example.org/debian\n');
      expect(r.stdout).toContain('Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n');
    }
    // Only a third-party repository: nothing to derive from.
    const r = backports({ 'sources.list': ms });
    expect([r.status, r.stdout]).toEqual([1, '']);
  });

  it('writes nothing when bookworm-backports is configured already', () => {
    const r = backports({ 'sources.list.d/debian.sources': DEBIAN_DEB822, 'sources.list': 'deb http://mirror.example.org/debian bookworm-backports main\n' });
    expect(r).toMatchObject({ status: 0, stdout: '' });
    expect(r.stderr).toContain('already configured');
  });

  it('fails with a message when no bookworm main entry is configured (files apt ignores are ignored)', () => {
    const r = backports({ 'sources.list.d/debian.sources.disabled': DEBIAN_DEB822, 'sources.list.d/x.list': 'deb http://mirror.example.org/debian bookworm-security main\n' });
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('no enabled Debian archive entry');
    expect(backports({}).status).toBe(1);
  });
});

describe('scripts/setup.sh', () => {
  it('names no package mirror: the backports entry comes from the machine (apt-backports-source.sh)', () => {
    for (const f of ['scripts/setup.sh', 'scripts/apt-backports-source.sh']) expect(readFileSync(join(root, f), 'utf8'), f).not.toMatch(/https?:\/\//);
    expect(readFileSync(join(root, 'scripts/setup.sh'), 'utf8')).toContain('bash scripts/apt-backports-source.sh');
  });
});

describe('train/setup_env.sh (dry run)', () => {
  function dry(env: Record<string, string>) {
    const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(PIP_MIRROR|PIP_MIRROR_EXTRA|PIP_WHEELS|PIP_LOCAL_MIRROR_ROOT|TORCH_INDEX)$/.test(k)));
    const r = spawnSync('bash', [join(root, 'train/setup_env.sh')], { encoding: 'utf8', env: { ...base, SETUP_ENV_DRY_RUN: '1', ...env } });
    return { status: r.status, lines: r.stdout.split('\n').filter((l) => l.startsWith('source:') || l.startsWith('pip install')), stderr: r.stderr };
  }

  it('uses the local mirror when it exists, with the CPU build it carries', () => {
    const mirror = join(tmp, 'mirror');
    for (const d of ['pypi/simple', 'pypi-more/simple', 'wheels']) mkdirSync(join(mirror, d), { recursive: true });
    expect(dry({ PIP_LOCAL_MIRROR_ROOT: mirror })).toEqual({
      status: 0, stderr: '',
      lines: ['source: mirror', `pip install --index-url file://${mirror}/pypi/simple --timeout 15 --retries 0 --extra-index-url file://${mirror}/pypi-more/simple --find-links ${mirror}/wheels torch==2.13.0+cpu transformers>=5,<6 accelerate peft tokenizers safetensors numpy pytest`],
    });
  });

  it('without a local mirror: pip\'s configured index, torch alone from the CPU wheel index, no +cpu pin', () => {
    const r = dry({ PIP_LOCAL_MIRROR_ROOT: join(tmp, 'no-such-mirror') });
    expect(r).toEqual({
      status: 0, stderr: '',
      lines: ['source: index', 'pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0', 'pip install transformers>=5,<6 accelerate peft tokenizers safetensors numpy pytest'],
    });
    expect(dry({ PIP_LOCAL_MIRROR_ROOT: join(tmp, 'no-such-mirror'), TORCH_INDEX: '' }).lines).toEqual(['source: index', 'pip install torch==2.13.0', 'pip install transformers>=5,<6 accelerate peft tokenizers safetensors numpy pytest']);
  });

  it('an explicit PIP_MIRROR that is missing is an error that says what to do', () => {
    const r = dry({ PIP_MIRROR: `file://${join(tmp, 'gone')}` });
    expect(r.status).toBe(1);
    expect(r.lines).toEqual([]);
    expect(r.stderr).toContain(`the package mirror ${join(tmp, 'gone')} is missing`);
    expect(r.stderr).toContain('unset PIP_MIRROR');
  });
});
