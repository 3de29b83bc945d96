import { resolve } from 'node:path';
import type Keyv from 'keyv';
import { ValidationError } from '../errors/validation-error.js';
import { KeyvNodeSqlite } from './keyv-node-sqlite.js';
import { MemoryStore } from './memory-store.js';
import { SqliteStore } from './sqlite-store.js';
import { checkPrefix, DEFAULT_PREFIX } from './store-arguments.js';
import type { StoreBackend } from './store-backend.js';

/** Options for {@link createStore}. */
export interface CreateStoreOptions {
  /**
   * Namespace of the Keyv records and prefix of the backend's own keys, so that several
   * deployments can share one store. A `?prefix=` in a Redis or PostgreSQL URL takes precedence.
   * For a Keyv passed in, its namespace is used when this is omitted.
   * @default 'holdpoint'
   */
  prefix?: string;
}

const EXAMPLES =
  "'sqlite://./.holdpoint/holdpoint.db', 'sqlite:///var/lib/holdpoint.db', 'memory://', 'memory://shared-name', " +
  "'redis://127.0.0.1:6379/0?prefix=holdpoint', 'postgres://user@host:5432/db?schema=holdpoint'";

/**
 * Open the store an engine runs on, from a URL, a Keyv instance or a ready backend.
 *
 * - `memory://` — private to this backend; `memory://NAME` — shared by name within the process.
 * - `sqlite://./relative.db`, `sqlite:///absolute.db`, `sqlite://:memory:` — one file (created, with its
 *   directory), usable by several processes on one machine.
 * - `redis://host:port[/db][?prefix=NAME]`, `rediss://…` — needs `@keyv/redis`.
 * - `postgres://…` or `postgresql://…` `[?schema=NAME][&prefix=NAME]` — needs `@keyv/postgres` and `pg`;
 *   the schema is created if missing.
 * - A Keyv instance whose store is a Map, a {@link KeyvNodeSqlite}, `@keyv/redis` or `@keyv/postgres`:
 *   the backend works on that store's connection, which stays the Keyv's to close. Its
 *   `throwOnErrors` is turned on, since a swallowed write error would lose a decision.
 * - A {@link StoreBackend}: returned as is.
 *
 * @throws {ValidationError} for a URL that cannot be used, or a Keyv store without an atomic claim.
 * @throws {StoreUnavailableError} when the server or file cannot be reached.
 * @example
 * const store = await createStore('sqlite://./.holdpoint/holdpoint.db');
 * const shared = await createStore('redis://127.0.0.1:6379', { prefix: 'billing' });
 */
export async function createStore(
  spec: string | Keyv | StoreBackend,
  options: CreateStoreOptions = {},
): Promise<StoreBackend> {
  if (typeof spec === 'string') return openUrl(spec, options);
  if (typeof spec === 'object' && spec !== null) {
    if (isStoreBackend(spec)) return spec;
    if (isKeyv(spec)) return fromKeyv(spec, options);
  }
  throw new ValidationError({
    field: 'store',
    message: `A store is a URL, a Keyv instance or a StoreBackend; got ${describe(spec)}. Accepted URLs: ${EXAMPLES}.`,
  });
}

async function openUrl(url: string, options: CreateStoreOptions): Promise<StoreBackend> {
  const match = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/(.*)$/s.exec(url.trim());
  const scheme = match?.[1]?.toLowerCase();
  const rest = match?.[2] ?? '';
  switch (scheme) {
    case 'memory': {
      const { path } = pathAndQuery(url, rest, []);
      return MemoryStore.open({
        ...(path === '' ? {} : { name: path }),
        prefix: checkPrefix(options.prefix ?? DEFAULT_PREFIX),
      });
    }
    case 'sqlite': {
      // sqlite://./a.db and sqlite://a.db are relative to the working directory, sqlite:///a.db is absolute.
      const { path } = pathAndQuery(url, rest, []);
      if (path === '') throw invalidUrl(url, 'it names no database file');
      if (path.includes('\u0000')) throw invalidUrl(url, 'its path contains NUL (%00)');
      const location = path === ':memory:' ? path : resolve(path);
      return SqliteStore.open({ location, prefix: checkPrefix(options.prefix ?? DEFAULT_PREFIX) });
    }
    case 'redis':
    case 'rediss': {
      const parsed = parseUrl(url);
      refuseUnknownParameters(url, parsed.searchParams, ['prefix']);
      const prefix = takeParameter(url, parsed, 'prefix') ?? options.prefix ?? DEFAULT_PREFIX;
      const { RedisStore } = await importBackend('redis', () => import('./redis-store.js'));
      return RedisStore.connect({ url: parsed.toString(), prefix: checkPrefix(prefix) });
    }
    case 'postgres':
    case 'postgresql': {
      const parsed = parseUrl(url);
      refuseUnknownParameters(url, parsed.searchParams, ['schema', 'prefix', ...postgresParameters]);
      const schema = takeParameter(url, parsed, 'schema') ?? 'public';
      const prefix = takeParameter(url, parsed, 'prefix') ?? options.prefix ?? DEFAULT_PREFIX;
      const { PostgresStore } = await importBackend('postgres', () => import('./postgres-store.js'));
      return PostgresStore.connect({ uri: parsed.toString(), schema, prefix: checkPrefix(prefix) });
    }
    default:
      throw invalidUrl(
        url,
        scheme === undefined ? 'it is not a URL' : `the scheme "${scheme}:" is not a supported store`,
      );
  }
}

/**
 * Query parameters the PostgreSQL client (`pg`, through `pg-connection-string`) understands in a
 * connection string; with `schema` and `prefix`, the only ones a PostgreSQL store URL takes.
 */
const postgresParameters = [
  'host',
  'port',
  'user',
  'password',
  'db',
  'encoding',
  'client_encoding',
  'ssl',
  'sslmode',
  'sslcert',
  'sslkey',
  'sslrootcert',
  'sslnegotiation',
  'uselibpqcompat',
  'application_name',
  'fallback_application_name',
  'options',
  'statement_timeout',
  'lock_timeout',
  'idle_in_transaction_session_timeout',
  'query_timeout',
];

async function fromKeyv(keyv: Keyv, options: CreateStoreOptions): Promise<StoreBackend> {
  const prefix = checkPrefix(options.prefix ?? keyv.namespace ?? DEFAULT_PREFIX);
  const store: unknown = keyv.store;
  const dialect = dialectOf(store);
  if (
    store instanceof Map ||
    KeyvNodeSqlite.isInstance(store) ||
    dialect === 'redis' ||
    dialect === 'postgres'
  ) {
    keyv.throwOnErrors = true;
  }
  if (store instanceof Map) return MemoryStore.fromKeyv(keyv, prefix);
  if (KeyvNodeSqlite.isInstance(store)) return SqliteStore.fromKeyv(keyv, prefix);
  if (dialect === 'redis') {
    const { RedisStore } = await importBackend('redis', () => import('./redis-store.js'));
    return RedisStore.fromKeyv(keyv, prefix);
  }
  if (dialect === 'postgres' && typeof (store as { query?: unknown }).query === 'function') {
    const { PostgresStore } = await importBackend('postgres', () => import('./postgres-store.js'));
    return PostgresStore.fromKeyv(keyv, prefix);
  }
  const hint =
    dialect === 'sqlite'
      ? ' For SQLite, use the KeyvNodeSqlite adapter from @holdpoint/core instead of @keyv/sqlite.'
      : '';
  throw new ValidationError({
    field: 'store',
    message:
      `Holdpoint cannot run on this Keyv store (${describe(store)}): it needs an atomic first-writer-wins ` +
      'claim and a sorted index on the store itself, which Keyv does not offer. Supported Keyv stores: ' +
      `a Map (memory), KeyvNodeSqlite, @keyv/redis and @keyv/postgres; or pass a URL such as ${EXAMPLES}.${hint}`,
  });
}

function invalidUrl(url: string, reason: string): ValidationError {
  return new ValidationError({
    field: 'store',
    message: `The store ${JSON.stringify(url)} cannot be used: ${reason}. Accepted: ${EXAMPLES}.`,
  });
}

function parseUrl(url: string): URL {
  try {
    return new URL(url);
  } catch (error) {
    throw new ValidationError({
      field: 'store',
      message: `The store ${JSON.stringify(url)} is not a valid URL. Accepted: ${EXAMPLES}.`,
      cause: error,
    });
  }
}

/**
 * The percent-decoded path of a `memory://` or `sqlite://` URL (a `?` or `#` in a name is written
 * `%3F`, `%23`) and its query, refusing parameters not in `known` and a fragment.
 */
function pathAndQuery(
  url: string,
  rest: string,
  known: readonly string[],
): { path: string; query: URLSearchParams } {
  if (rest.includes('#')) {
    throw invalidUrl(url, 'it has a fragment (#…); write a "#" in a name as %23');
  }
  const mark = rest.indexOf('?');
  const query = new URLSearchParams(mark < 0 ? '' : rest.slice(mark + 1));
  refuseUnknownParameters(url, query, known);
  const raw = mark < 0 ? rest : rest.slice(0, mark);
  try {
    return { path: decodeURIComponent(raw), query };
  } catch (error) {
    throw new ValidationError({
      field: 'store',
      message: `The store ${JSON.stringify(url)} cannot be used: ${JSON.stringify(raw)} is not valid percent-encoding (write a "%" in a name as %25). Accepted: ${EXAMPLES}.`,
      cause: error,
    });
  }
}

/** A parameter the store would silently ignore is refused, so a typo (`?prefx=`) or a wish (`?mode=ro`) is noticed. */
function refuseUnknownParameters(url: string, query: URLSearchParams, known: readonly string[]): void {
  const seen = new Set<string>();
  for (const name of query.keys()) {
    if (!known.includes(name)) {
      const takes =
        known.length === 0
          ? 'takes no parameters'
          : `takes only ${known.map((item) => `?${item}=`).join(', ')}`;
      throw invalidUrl(
        url,
        `the parameter "${name}" is not one it understands: this kind of store URL ${takes}`,
      );
    }
    if (seen.has(name)) throw invalidUrl(url, `the parameter "${name}" is given twice`);
    seen.add(name);
  }
}

/** Read and remove a query parameter that is ours, so the client library never sees it. */
function takeParameter(url: string, parsed: URL, name: string): string | undefined {
  const value = parsed.searchParams.get(name);
  parsed.searchParams.delete(name);
  if (value === '') throw invalidUrl(url, `?${name}= is empty`);
  return value ?? undefined;
}

/** Load a backend whose client library is an optional peer dependency, saying which to install if missing. */
async function importBackend<T>(kind: 'redis' | 'postgres', load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') throw error;
    const packages = kind === 'redis' ? '@keyv/redis' : '@keyv/postgres pg';
    throw new ValidationError({
      field: 'store',
      message: `A ${kind} store needs ${packages}: install it next to @holdpoint/core (npm install ${packages}).`,
      cause: error,
    });
  }
}

function isStoreBackend(value: object): value is StoreBackend {
  const candidate = value as Partial<Record<keyof StoreBackend, unknown>>;
  return (
    typeof candidate.claim === 'function' &&
    typeof candidate.readClaims === 'function' &&
    typeof candidate.indexRange === 'function' &&
    typeof candidate.subscribe === 'function' &&
    typeof candidate.kind === 'string' &&
    'keyv' in value
  );
}

function isKeyv(value: object): value is Keyv {
  const candidate = value as Record<string, unknown>;
  return typeof candidate.get === 'function' && typeof candidate.set === 'function' && 'store' in value;
}

function dialectOf(store: unknown): string | undefined {
  if (typeof store !== 'object' || store === null) return undefined;
  const opts = (store as { opts?: { dialect?: unknown } }).opts;
  return typeof opts?.dialect === 'string' ? opts.dialect : undefined;
}

function describe(value: unknown): string {
  if (value === null || typeof value !== 'object') return String(value);
  return value.constructor?.name ?? 'an object';
}
