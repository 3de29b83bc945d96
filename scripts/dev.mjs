#!/usr/bin/env node
// The project's own toolchain bootstrap. It runs on whatever Node.js the machine has (the machines
// here ship Node 20), and makes sure the pinned toolchain is present before running anything:
//   - Node.js 24 from the npm registry's `node@24` package when the machine's Node is older than 22,
//   - pnpm at the version pinned by `packageManager` in package.json,
//   - the workspace's dependencies from pnpm-lock.yaml.
// Everything is installed under .tools/ and node_modules/; nothing is downloaded from anywhere but
// the npm registry.
//
// Usage: node scripts/dev.mjs <setup|test|check|bench|run FILE [...args]|pnpm ...args>
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const tools = join(root, '.tools');
const rootPackage = JSON.parse(
  await import('node:fs').then((fs) => fs.readFileSync(join(root, 'package.json'), 'utf8')),
);
const pnpmVersion = rootPackage.packageManager.replace(/^pnpm@/, '');
const NODE_MAJOR = 24;

function log(message) {
  process.stderr.write(`[holdpoint] ${message}\n`);
}

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { stdio: 'inherit', cwd: root, ...options });
  if (result.error) throw result.error;
  return result.status ?? 1;
}

function ensureTools() {
  const machineMajor = Number(process.versions.node.split('.')[0]);
  const localNode = join(tools, 'node_modules', 'node', 'bin', 'node');
  const localPnpm = join(tools, 'node_modules', 'pnpm', 'bin', 'pnpm.cjs');
  const needNode = machineMajor < 22 && !existsSync(localNode);
  const marker = join(tools, `.pnpm-${pnpmVersion}`);
  const needPnpm = !existsSync(localPnpm) || !existsSync(marker);
  if (needNode || needPnpm) {
    const packages = [];
    if (machineMajor < 22) packages.push(`node@${NODE_MAJOR}`);
    packages.push(`pnpm@${pnpmVersion}`);
    log(`installing ${packages.join(', ')} into .tools/ from the npm registry`);
    mkdirSync(tools, { recursive: true });
    writeFileSync(join(tools, 'package.json'), '{ "private": true }\n');
    const status = run(
      'npm',
      ['install', '--prefix', tools, '--no-save', '--no-package-lock', '--foreground-scripts', ...packages],
      { stdio: ['ignore', 'inherit', 'inherit'] },
    );
    if (status !== 0) throw new Error('npm install of the toolchain failed');
    writeFileSync(marker, '');
  }
  const node = machineMajor >= 22 ? process.execPath : localNode;
  const nodeBin = dirname(node);
  // Native addons (none are required; some dev dependencies carry optional ones) must build
  // against the headers of the Node.js that runs them, not the machine's older ones.
  const headers = join(tools, 'node_modules', 'node', 'node_modules', `node-linux-${process.arch}`);
  const env = {
    ...process.env,
    PATH: [
      nodeBin,
      join(tools, 'node_modules', '.bin'),
      join(root, 'node_modules', '.bin'),
      process.env.PATH,
    ].join(delimiter),
  };
  if (machineMajor < 22 && existsSync(join(headers, 'include'))) env.npm_config_nodedir = headers;
  return { node, pnpm: [node, localPnpm], env };
}

function ensureDependencies(toolchain) {
  const state = join(root, 'node_modules', '.modules.yaml');
  const lock = join(root, 'pnpm-lock.yaml');
  const stale = !existsSync(state) || (existsSync(lock) && statSync(lock).mtimeMs > statSync(state).mtimeMs);
  if (!stale) return;
  log('installing workspace dependencies with pnpm');
  const args = ['install', ...(existsSync(lock) ? ['--frozen-lockfile'] : [])];
  const status = run(toolchain.pnpm[0], [toolchain.pnpm[1], ...args], { env: toolchain.env });
  if (status !== 0) throw new Error('pnpm install failed');
}

/**
 * Build each publishable package and check what would be published: publint on the pnpm-packed
 * package (pnpm applies publishConfig) and @arethetypeswrong/cli on the same tarball.
 */
function checkPackages(toolchain) {
  const packagesDirectory = join(root, 'packages');
  for (const name of readdirSync(packagesDirectory)) {
    const directory = join(packagesDirectory, name);
    if (!existsSync(join(directory, 'tsconfig.build.json'))) continue;
    const destination = mkdtempSync(join(tmpdir(), 'holdpoint-pack-'));
    const steps = [
      () => run(bin('tsc'), ['-p', 'tsconfig.build.json'], { cwd: directory, env: toolchain.env }),
      () => run(bin('publint'), ['--pack', 'pnpm', '--strict'], { cwd: directory, env: toolchain.env }),
      () =>
        run(toolchain.pnpm[0], [toolchain.pnpm[1], 'pack', '--pack-destination', destination], {
          cwd: directory,
          env: toolchain.env,
          stdio: ['ignore', 'ignore', 'inherit'],
        }),
      () => {
        const tarball = readdirSync(destination).find((file) => file.endsWith('.tgz'));
        return run(bin('attw'), [join(destination, tarball), '--profile', 'esm-only'], {
          env: toolchain.env,
        });
      },
    ];
    for (const step of steps) {
      const status = step();
      if (status !== 0) return status;
    }
  }
  return 0;
}

const [command = 'setup', ...rest] = process.argv.slice(2);
const toolchain = ensureTools();
if (command !== 'pnpm') ensureDependencies(toolchain);
const pnpm = (...args) => run(toolchain.pnpm[0], [toolchain.pnpm[1], ...args], { env: toolchain.env });
const bin = (name) => join(root, 'node_modules', '.bin', name);

/** Lint and format check, type-check every package, and check the packages as they would be published. */
const check = () =>
  run(bin('biome'), ['ci', '.'], { env: toolchain.env }) ||
  pnpm('run', '-r', '--if-present', 'typecheck') ||
  checkPackages(toolchain);

let status = 0;
switch (command) {
  case 'setup':
    break;
  case 'pnpm':
    status = pnpm(...rest);
    break;
  case 'check-packages':
    status = checkPackages(toolchain);
    break;
  case 'check':
    status = check();
    break;
  case 'test':
    // The README's test command: the checks, then every test once.
    status = check() || run(bin('vitest'), ['run', ...rest], { env: toolchain.env });
    break;
  case 'vitest':
    status = run(bin('vitest'), rest, { env: toolchain.env });
    break;
  case 'bench':
    status = run(bin('tsx'), ['bench/run.ts', ...rest], { env: toolchain.env });
    break;
  case 'run':
    status = run(bin('tsx'), rest, { env: toolchain.env });
    break;
  default:
    log(`unknown command "${command}": use setup, test, check, bench, run FILE, or pnpm ARGS`);
    status = 2;
}
process.exit(status);
