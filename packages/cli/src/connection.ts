import { hostname, userInfo } from 'node:os';
import {
  createHoldpoint,
  createStore,
  defaultStore,
  type Holdpoint,
  type NotifyHook,
  type StoreBackend,
} from '@holdpoint/core';
import { createHoldpointServer, localAuthenticator } from '@holdpoint/server';
import { ApiClient } from './api-client.js';
import { type AuditKeyConfig, loadAuditKey } from './audit-key.js';
import type { CommandInput } from './command.js';
import { CliError, exitCodes } from './exit-codes.js';

/** Where a command's requests go. */
export interface ConnectionOptions {
  /** A running server (`--url`, `HOLDPOINT_URL`). */
  url?: string;
  /** Its API key (`--key`, `HOLDPOINT_KEY`). */
  key?: string;
  /** The store to open directly when there is no URL (`--store`, `HOLDPOINT_STORE`). */
  store?: string;
  /** The audit key file, for exports signed when the store is opened directly. */
  auditKeyFile?: string;
}

/** An API client and what to close when the command is done. */
export interface Connection {
  api: ApiClient;
  close(): Promise<void>;
}

/**
 * A client of a running server (URL and key), or — without a URL — of the same API answered in this
 * process over the store opened directly. On the store the caller is `local:<user>@<host>`, an
 * admin: whoever can open the database can do anything.
 */
export async function connect(options: ConnectionOptions, env: NodeJS.ProcessEnv): Promise<Connection> {
  const url = options.url ?? env.HOLDPOINT_URL;
  if (url !== undefined && url !== '') {
    const key = options.key ?? env.HOLDPOINT_KEY;
    if (key === undefined || key === '') {
      throw new CliError(
        exitCodes.notAllowed,
        `A server needs an API key: --key hpk_… or HOLDPOINT_KEY (talking to ${url})`,
      );
    }
    return {
      api: new ApiClient((request) => fetch(request), url, key),
      close: async () => {},
    };
  }
  const { store, holdpoint, auditKey } = await openEngine(
    options.store ?? env.HOLDPOINT_STORE ?? defaultStore,
    options.auditKeyFile,
    env,
    // This process only answers the command: timers and deliveries stay with the servers.
    { timers: false },
  );
  const user = userInfo().username;
  const server = createHoldpointServer({
    holdpoint,
    store,
    auditKeySource: auditKey.source,
    authenticators: [localAuthenticator({ id: `local:${user}@${hostname()}`, name: user })],
  });
  return {
    api: new ApiClient((request) => server.fetch(request), 'http://holdpoint.local'),
    async close() {
      await server.close();
      await holdpoint.close();
      await store.close();
    },
  };
}

/** A store, an engine on it, and the audit key it signs with (from the options or the environment). */
export async function openEngine(
  storeUrl: string,
  auditKeyFile: string | undefined,
  env: NodeJS.ProcessEnv,
  options: { timers: boolean; notify?: NotifyHook },
): Promise<{ store: StoreBackend; holdpoint: Holdpoint; auditKey: AuditKeyConfig }> {
  const auditKey = loadAuditKey(auditKeyFile, env);
  let store: StoreBackend;
  try {
    store = await createStore(storeUrl);
  } catch (error) {
    throw new CliError(
      exitCodes.unavailable,
      `Cannot open the store ${redact(storeUrl)}: ${(error as Error).message}`,
    );
  }
  try {
    const holdpoint = await createHoldpoint({
      store,
      timers: options.timers,
      ...(options.notify === undefined ? {} : { notify: options.notify }),
      ...(auditKey.privateKeyPem === undefined ? {} : { auditKey: auditKey.privateKeyPem }),
    });
    return { store, holdpoint, auditKey };
  } catch (error) {
    await store.close();
    throw error;
  }
}

/** A store URL without its password, for printing. */
export function redact(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*):[^@/]*@/i, '$1:***@');
}

/** Connect as the command's options say, run requests, and close the connection. */
export async function withApi<T>(input: CommandInput, run: (api: ApiClient) => Promise<T>): Promise<T> {
  const connection = await connect(input.connection, input.io.env);
  try {
    return await run(connection.api);
  } finally {
    await connection.close();
  }
}
