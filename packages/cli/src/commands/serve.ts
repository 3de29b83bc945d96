import { auditKeyFingerprint, defaultStore, type NotifyHook, parseDuration } from '@holdpoint/core';
import { type Authenticator, createHoldpointServer } from '@holdpoint/server';
import type { CliIo, Command } from '../command.js';
import { composeServer } from '../compose.js';
import { openEngine, redact } from '../connection.js';
import { CliError, exitCodes } from '../exit-codes.js';
import { type DemoAgent, startDemoAgent } from './demo-agent.js';

/** Options of {@link startServe}. */
export interface ServeOptions {
  /** @default 8750 */
  port?: number;
  /** @default '127.0.0.1' */
  host?: string;
  /** @default 'sqlite://./.holdpoint/holdpoint.db' */
  store?: string;
  /** An Ed25519 private key file (PKCS#8 PEM) that signs audit exports. @default HOLDPOINT_AUDIT_KEY_FILE, HOLDPOINT_AUDIT_KEY, or a key kept in the store */
  auditKeyFile?: string;
  env?: NodeJS.ProcessEnv;
  /** The engine's delivery hook (webhooks, email), passed to `createHoldpoint`. */
  notify?: NotifyHook;
  /** Authenticators tried before API keys (people's sessions), passed to `createHoldpointServer`. */
  authenticators?: Authenticator[];
  /** Host names MCP requests may be addressed to besides the loopback names (the server's public name). */
  allowedHosts?: string[];
  /** Base URL of the inbox, for task links in MCP results. */
  inboxUrl?: string;
  /** The URL people reach the server by (links in mail and printed links). @default the listening address */
  publicUrl?: string;
  /** SMTP server for task mail and sign-in links by mail (`smtp://host:25`). @default no mail */
  smtpUrl?: string;
  /** The sender of the mail. @default `Holdpoint <holdpoint@localhost>` */
  mailFrom?: string;
  /** Make this person an admin of the inbox and print a one-time sign-in link for them. */
  admin?: string;
  /** A reverse proxy in front adds the client's address to X-Forwarded-For (per-client limits use it). @default false */
  trustProxy?: boolean;
  /** Run the demo agent (asks `admin` for an approval) until its task is decided. @default false */
  demo?: boolean;
  /** Where the demo agent says what it does. @default nothing */
  onDemo?: (line: { demo: string; message: string; taskId?: string }) => void;
}

/** What a started server tells whoever started it. */
export interface ServeInfo {
  url: string;
  docs: string;
  /** MCP over Streamable HTTP, with the same API keys. */
  mcp: string;
  store: string;
  auditKey: { source: string; fingerprint: string; warning?: string };
  /** Only when the store had no API key yet: the first admin key, shown once. */
  firstAdminKey?: string;
  /** The web inbox. */
  inbox: string;
  /** With `admin`: a one-time sign-in link for them (1 hour). */
  signInLink?: { email: string; url: string; expiresAt: string };
  /** Whether task mail goes out, and from whom. */
  mail?: { smtp: string; from: string };
}

/** Channel tuning from the environment (documented in docs/webhooks.md), mainly for tests. */
function channelTuning(env: NodeJS.ProcessEnv): {
  retryDelaysMs?: number[];
  leaseMs?: number;
  pollMs?: number;
} {
  const durations = (name: string) =>
    env[name]
      ?.split(',')
      .map((part) => part.trim())
      .filter((part) => part !== '')
      .map((part) => parseDuration(/^\d+$/.test(part) ? Number(part) : part, name));
  const retry = durations('HOLDPOINT_DELIVERY_RETRY_DELAYS');
  const [lease] = durations('HOLDPOINT_DELIVERY_LEASE') ?? [];
  const [poll] = durations('HOLDPOINT_DELIVERY_POLL') ?? [];
  return {
    ...(retry === undefined ? {} : { retryDelaysMs: retry }),
    ...(lease === undefined ? {} : { leaseMs: lease }),
    ...(poll === undefined ? {} : { pollMs: poll }),
  };
}

/** Start the server as `holdpoint serve` does; `close` stops it and releases the store. */
export async function startServe(
  options: ServeOptions = {},
): Promise<ServeInfo & { close(): Promise<void> }> {
  const env = options.env ?? process.env;
  const storeUrl = options.store ?? defaultStore;
  const { store, holdpoint, auditKey } = await openEngine(storeUrl, options.auditKeyFile, env, {
    timers: true,
  });
  const mailFrom = options.mailFrom ?? 'Holdpoint <holdpoint@localhost>';
  const server = createHoldpointServer({
    holdpoint,
    store,
    auditKeySource: auditKey.source,
    ...(options.authenticators === undefined ? {} : { authenticators: options.authenticators }),
    ...(options.publicUrl === undefined ? {} : { publicUrl: options.publicUrl }),
    inbox: options.trustProxy === true ? { trustProxy: true } : true,
    channels: {
      ...channelTuning(env),
      ...(options.smtpUrl === undefined ? {} : { mail: { smtpUrl: options.smtpUrl, from: mailFrom } }),
    },
  });
  let stopParts = async () => {};
  let demo: DemoAgent | undefined;
  const close = async () => {
    await demo?.stop();
    await stopParts();
    await server.close();
    await holdpoint.close();
    await store.close();
  };
  try {
    const host = options.host ?? '127.0.0.1';
    stopParts = await composeServer({
      server,
      holdpoint,
      store,
      // The name it listens on, unless it is every address.
      allowedHosts: [...(options.allowedHosts ?? []), ...(['0.0.0.0', '::'].includes(host) ? [] : [host])],
      ...(options.inboxUrl === undefined ? {} : { inboxUrl: options.inboxUrl }),
    });
    const first = await server.keys.createFirstAdmin();
    const listener = await server.listen({ port: options.port ?? 8750, host });
    const publicKey = await holdpoint.audit.publicKey();
    const base = (options.publicUrl ?? listener.url).replace(/\/+$/, '');
    let signInLink: ServeInfo['signInLink'];
    if (options.admin !== undefined) {
      const admin = await server.people.users.upsert({
        email: options.admin,
        admin: true,
        createdBy: 'holdpoint serve',
      });
      const link = await server.people.links.create(admin.id, {
        ttlMs: 3_600_000,
        createdBy: 'holdpoint serve',
      });
      signInLink = { email: admin.id, url: `${base}/sign-in/${link.token}`, expiresAt: link.expiresAt };
      if (options.demo) demo = startDemoAgent(holdpoint, admin.id, options.onDemo ?? (() => {}));
    }
    return {
      url: listener.url,
      inbox: `${base}/`,
      ...(signInLink === undefined ? {} : { signInLink }),
      ...(options.smtpUrl === undefined ? {} : { mail: { smtp: redact(options.smtpUrl), from: mailFrom } }),
      docs: `${listener.url}/v1/docs`,
      mcp: `${listener.url}/mcp`,
      store: redact(storeUrl),
      auditKey: {
        source: auditKey.source,
        fingerprint: auditKeyFingerprint(publicKey),
        ...(auditKey.source === 'store'
          ? {
              warning:
                'the audit signing key is kept in the store: whoever can write the store can also re-sign a forged trail. Keep it elsewhere: holdpoint audit keygen --out audit-key.pem, then --audit-key-file audit-key.pem',
            }
          : {}),
      },
      ...(first ? { firstAdminKey: first.secret } : {}),
      close,
    };
  } catch (error) {
    await close();
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new CliError(
        exitCodes.unavailable,
        `Port ${options.port ?? 8750} is in use: pick another with --port`,
      );
    }
    throw error;
  }
}

function printInfo(info: ServeInfo, io: CliIo): void {
  io.stdout(`Holdpoint is listening on ${info.url}`);
  io.stdout(`  inbox          ${info.inbox}`);
  if (info.signInLink) {
    io.stdout(
      `  sign in as ${info.signInLink.email} (the link works once, until ${info.signInLink.expiresAt}):`,
    );
    io.stdout(`    ${info.signInLink.url}`);
  }
  if (info.mail) io.stdout(`  mail           ${info.mail.smtp} as ${info.mail.from}`);
  io.stdout(`  API reference  ${info.docs}`);
  io.stdout(`  MCP endpoint   ${info.mcp}`);
  io.stdout(`  store          ${info.store}`);
  io.stdout(`  audit key      ${info.auditKey.source} (${info.auditKey.fingerprint})`);
  if (info.auditKey.warning) io.stderr(`Warning: ${info.auditKey.warning}`);
  if (info.firstAdminKey) {
    io.stdout(`  first admin key (shown once — store it now):`);
    io.stdout(`    ${info.firstAdminKey}`);
  }
}

export const serve: Command = {
  name: 'serve',
  summary: 'Run the HTTP API, live events and MCP (at /mcp) on a store',
  usage:
    'serve [--port 8750] [--host 127.0.0.1] [--store <url>] [--audit-key-file <file>] [--public-url <url>] [--smtp-url <url>] [--mail-from <address>] [--admin <email>] [--demo] [--trust-proxy]',
  description: [
    'Serves the web inbox at / and /v1 (reference at /v1/docs) until SIGINT or SIGTERM, and delivers task events to webhooks and (with --smtp-url) by email. When the store has no API key yet it makes a first admin key and prints it, once.',
    'With --admin the person is made an inbox admin and a one-time sign-in link for them is printed (valid 1 hour); with --demo too, a demo agent asks them for an approval and says when it continues.',
    'Several servers can run on one Redis or PostgreSQL store; a decision on one reaches waiting agents and streams on all.',
    'Environment: HOLDPOINT_PORT, HOLDPOINT_HOST, HOLDPOINT_STORE, HOLDPOINT_AUDIT_KEY_FILE, HOLDPOINT_AUDIT_KEY (the PEM itself), HOLDPOINT_PUBLIC_URL, HOLDPOINT_SMTP_URL, HOLDPOINT_MAIL_FROM; delivery tuning: HOLDPOINT_DELIVERY_RETRY_DELAYS (e.g. 1s,5s,30s), HOLDPOINT_DELIVERY_LEASE, HOLDPOINT_DELIVERY_POLL.',
  ].join('\n'),
  options: {
    port: {
      type: 'string',
      short: 'p',
      value: '<port>',
      description: 'port to listen on (0: any free port; default 8750)',
    },
    host: { type: 'string', value: '<host>', description: 'address to listen on (default 127.0.0.1)' },
    store: { type: 'string', value: '<url>', description: `store URL (default ${defaultStore})` },
    'audit-key-file': {
      type: 'string',
      value: '<file>',
      description: 'Ed25519 key that signs audit exports (default: kept in the store)',
    },
    'allowed-hosts': {
      type: 'string',
      value: '<names>',
      description:
        'comma-separated public host names MCP clients reach the server by (HOLDPOINT_ALLOWED_HOSTS)',
    },
    'inbox-url': {
      type: 'string',
      value: '<url>',
      description: 'base URL of the inbox, for links in MCP results',
    },
    'public-url': {
      type: 'string',
      value: '<url>',
      description: 'the URL people reach the server by, for links (default: the listening address)',
    },
    'smtp-url': {
      type: 'string',
      value: '<url>',
      description: 'SMTP server for task mail, e.g. smtp://user:pass@mail.acme.test:587 (default: no mail)',
    },
    'mail-from': { type: 'string', value: '<address>', description: 'sender of the mail' },
    admin: {
      type: 'string',
      value: '<email>',
      description: 'make this person an inbox admin and print a one-time sign-in link for them',
    },
    demo: {
      type: 'boolean',
      description: 'with --admin: run the demo agent, which asks the admin for an approval',
    },
    'no-demo': { type: 'boolean', description: 'do not run the demo agent (the default)' },
    'trust-proxy': {
      type: 'boolean',
      description:
        'a reverse proxy in front adds the client address to X-Forwarded-For: take it from there for per-client limits (default: ignore the header)',
    },
  },
  connects: false,
  positionals: [0, 0],
  async run({ values, io, json }) {
    const env = io.env;
    const text = (name: string) => (typeof values[name] === 'string' ? (values[name] as string) : undefined);
    const optional = <K extends string>(key: K, value: string | undefined) =>
      (value === undefined || value === '' ? {} : { [key]: value }) as Partial<Record<K, string>>;
    const portText = typeof values.port === 'string' ? values.port : env.HOLDPOINT_PORT;
    const port = portText === undefined ? 8750 : Number(portText);
    if (!Number.isInteger(port) || port < 0 || port > 65_535)
      throw new CliError(exitCodes.usage, `--port must be 0–65535, got ${portText}`);
    const started = await startServe({
      port,
      host: typeof values.host === 'string' ? values.host : (env.HOLDPOINT_HOST ?? '127.0.0.1'),
      store: typeof values.store === 'string' ? values.store : env.HOLDPOINT_STORE || defaultStore,
      ...(typeof values['audit-key-file'] === 'string' ? { auditKeyFile: values['audit-key-file'] } : {}),
      allowedHosts: (typeof values['allowed-hosts'] === 'string'
        ? values['allowed-hosts']
        : (env.HOLDPOINT_ALLOWED_HOSTS ?? '')
      )
        .split(',')
        .map((name) => name.trim())
        .filter((name) => name !== ''),
      ...(typeof values['inbox-url'] === 'string' ? { inboxUrl: values['inbox-url'] } : {}),
      ...optional('publicUrl', text('public-url') ?? env.HOLDPOINT_PUBLIC_URL),
      ...optional('smtpUrl', text('smtp-url') ?? env.HOLDPOINT_SMTP_URL),
      ...optional('mailFrom', text('mail-from') ?? env.HOLDPOINT_MAIL_FROM),
      ...optional('admin', text('admin')),
      demo: values.demo === true && values['no-demo'] !== true,
      trustProxy: values['trust-proxy'] === true || env.HOLDPOINT_TRUST_PROXY === '1',
      onDemo: (line) => io.stdout(json ? JSON.stringify(line) : `demo agent: ${line.message}`),
      env,
    });
    const { close, ...info } = started;
    // Listen for the signals before telling anyone where the server is: whoever reads that line may stop it at once.
    const stopped = new Promise<void>((resolve) => {
      const stop = () => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        resolve();
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
    if (json) io.stdout(JSON.stringify(info));
    else printInfo(info, io);
    await stopped;
    await close();
    return exitCodes.ok;
  },
};
