#!/usr/bin/env node
// Find flaky tests before they land: run the suite (or the files named) N times in a row and print,
// per test, how many runs it failed in. With --load, every core is kept busy by another process for
// the whole time, which is how the races that a quiet machine hides come out.
//
// Usage: node scripts/repeat-tests.mjs [--runs N] [--load] [--out DIR] [-- <vitest filters and options>]
//   --runs N   how many runs (default 5)
//   --load     keep each core busy with a spinning process while the runs go
//   --out DIR  where each run's vitest log and JSON report go (default: a new temporary directory)
// Exits 0 when every run passed, 1 otherwise. The per-test counts are also written to DIR/summary.json.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));

function usage(message) {
  process.stderr.write(
    `${message}\nusage: node scripts/repeat-tests.mjs [--runs N] [--load] [--out DIR] [-- <vitest args>]\n`,
  );
  process.exit(2);
}

function parseArguments(argv) {
  const options = { runs: 5, load: false, out: undefined, vitest: [] };
  for (let index = 0; index < argv.length; index++) {
    const argument = argv[index];
    if (argument === '--') {
      options.vitest = argv.slice(index + 1);
      break;
    }
    if (argument === '--load') options.load = true;
    else if (argument === '--runs') {
      options.runs = Number(argv[++index]);
      if (!Number.isInteger(options.runs) || options.runs < 1)
        usage('--runs takes a whole number of at least 1');
    } else if (argument === '--out') {
      options.out = argv[++index];
      if (!options.out) usage('--out takes a directory');
    } else usage(`unknown option "${argument}"`);
  }
  return options;
}

/** Spin one process per core until stopped: a busy machine, as on a shared CI runner. */
function startLoad() {
  const spinners = [];
  for (let core = 0; core < availableParallelism(); core++) {
    spinners.push(spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));
  }
  return () => {
    for (const spinner of spinners) spinner.kill('SIGKILL');
  };
}

/** Run vitest once; resolves when the process has exited and its output is closed. */
function runVitest(run, out, vitestArguments) {
  const report = join(out, `run-${run}.json`);
  const log = join(out, `run-${run}.log`);
  const args = [
    join(root, 'scripts', 'dev.mjs'),
    'vitest',
    'run',
    '--reporter=dot',
    '--reporter=json',
    `--outputFile.json=${report}`,
    ...vitestArguments,
  ];
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks = [];
    child.stdout.on('data', (chunk) => chunks.push(chunk));
    child.stderr.on('data', (chunk) => chunks.push(chunk));
    child.on('close', (code, signal) => {
      writeFileSync(log, Buffer.concat(chunks));
      resolve({ code: code ?? signal, report, log, seconds: Math.round((Date.now() - started) / 1000) });
    });
  });
}

/** The failed tests of one JSON report, as "file > describe > test"; a file that failed to run counts as one. */
function failuresOf(reportPath) {
  let report;
  try {
    report = JSON.parse(readFileSync(reportPath, 'utf8'));
  } catch {
    return { failed: ['(no JSON report: vitest did not finish, see the log)'], total: 0 };
  }
  const failed = [];
  let total = 0;
  for (const file of report.testResults ?? []) {
    const name = relative(root, file.name);
    const assertions = file.assertionResults ?? [];
    total += assertions.length;
    for (const assertion of assertions) {
      if (assertion.status === 'failed') {
        failed.push(`${name} > ${[...(assertion.ancestorTitles ?? []), assertion.title].join(' > ')}`);
      }
    }
    if (file.status === 'failed' && !assertions.some((assertion) => assertion.status === 'failed')) {
      failed.push(`${name} (file: ${String(file.message ?? 'failed outside a test').split('\n')[0]})`);
    }
  }
  return { failed, total };
}

const options = parseArguments(process.argv.slice(2));
const out = options.out ?? mkdtempSync(join(tmpdir(), 'holdpoint-repeat-'));
mkdirSync(out, { recursive: true });
const stopLoad = options.load ? startLoad() : () => {};
process.on('SIGINT', () => {
  stopLoad();
  process.exit(130);
});

const counts = new Map();
const runs = [];
try {
  for (let run = 1; run <= options.runs; run++) {
    const result = await runVitest(run, out, options.vitest);
    const { failed, total } = failuresOf(result.report);
    if (failed.length === 0 && result.code !== 0)
      failed.push(`(vitest exited ${result.code}, see ${result.log})`);
    for (const test of failed) counts.set(test, (counts.get(test) ?? 0) + 1);
    // The machine's 15-minute load average at the end of the run: how busy it was besides this run.
    const loadAverage = Number(loadavg()[2]?.toFixed(1));
    runs.push({
      run,
      exit: result.code,
      seconds: result.seconds,
      tests: total,
      failed,
      load: options.load,
      loadAverage,
    });
    process.stdout.write(
      `run ${run}/${options.runs}: ${failed.length === 0 ? 'green' : `${failed.length} failed`} ` +
        `(${total} tests, ${result.seconds} s${options.load ? ', under load' : ''}, load average ${loadAverage} on ${availableParallelism()} cores)\n`,
    );
    for (const test of failed) process.stdout.write(`  FAIL ${test}\n`);
  }
} finally {
  stopLoad();
}

const green = runs.filter((run) => run.failed.length === 0).length;
process.stdout.write(
  `\n${green} of ${runs.length} runs green${options.load ? ' (under load)' : ''}; reports in ${out}\n`,
);
const sorted = [...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
if (sorted.length > 0) {
  process.stdout.write('failures per test (runs failed / runs made):\n');
  for (const [test, count] of sorted) process.stdout.write(`  ${count}/${runs.length}  ${test}\n`);
}
writeFileSync(
  join(out, 'summary.json'),
  `${JSON.stringify({ runs, failuresPerTest: Object.fromEntries(sorted) }, null, 2)}\n`,
);
process.exit(green === runs.length ? 0 : 1);
