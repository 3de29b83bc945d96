// The core's sources at another commit, for benches that run "before" beside "after": extracted
// with `git archive` into packages/core/.tmp/baseline-<commit>/ (once per commit), where they
// resolve the core's own dependencies. Import the returned URL to get that commit's public API.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** The short commit of `revision` and the URL of its core's `index.ts`. */
export function baselineCore(revision: string): { commit: string; url: string } {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const commit = execFileSync('git', ['rev-parse', '--short', revision], {
    cwd: root,
    encoding: 'utf8',
  }).trim();
  const directory = join(root, 'packages/core/.tmp', `baseline-${commit}`);
  if (!existsSync(directory)) {
    mkdirSync(directory, { recursive: true });
    execFileSync(
      'sh',
      ['-c', `git archive ${commit} packages/core/src | tar -x -C ${JSON.stringify(directory)}`],
      {
        cwd: root,
      },
    );
  }
  return { commit, url: pathToFileURL(join(directory, 'packages/core/src/index.ts')).href };
}
