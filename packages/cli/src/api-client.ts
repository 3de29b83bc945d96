import { CliError, exitCodeOfStatus, exitCodes } from './exit-codes.js';

/** Something that answers HTTP requests: a server over the network, or one in this process. */
export type Fetcher = (request: Request) => Promise<Response>;

/** The HTTP API, for the CLI's commands. Every failure is a {@link CliError} with its exit code. */
export class ApiClient {
  readonly #fetch: Fetcher;
  readonly #baseUrl: string;
  readonly #key: string | undefined;

  constructor(fetcher: Fetcher, baseUrl: string, key?: string) {
    this.#fetch = fetcher;
    this.#baseUrl = baseUrl.replace(/\/+$/, '');
    this.#key = key;
  }

  /** Send a request; JSON bodies are sent as JSON, strings as `contentType`. Returns JSON, or text. */
  async request(
    method: string,
    path: string,
    options: { query?: Record<string, string | undefined>; body?: unknown; contentType?: string } = {},
  ): Promise<unknown> {
    const query = new URLSearchParams(
      Object.entries(options.query ?? {}).filter(
        (entry): entry is [string, string] => entry[1] !== undefined,
      ),
    ).toString();
    const headers: Record<string, string> = {};
    if (this.#key !== undefined) headers.authorization = `Bearer ${this.#key}`;
    let body: string | undefined;
    if (options.body !== undefined) {
      body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
      headers['content-type'] = options.contentType ?? 'application/json';
    }
    let response: Response;
    try {
      response = await this.#fetch(
        new Request(`${this.#baseUrl}${path}${query ? `?${query}` : ''}`, {
          method,
          headers,
          ...(body === undefined ? {} : { body }),
        }),
      );
    } catch (error) {
      const reason = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
      throw new CliError(exitCodes.unavailable, `Cannot reach ${this.#baseUrl}: ${reason}`);
    }
    const text = await response.text();
    let parsed: unknown = text;
    if ((response.headers.get('content-type') ?? '').includes('application/json')) parsed = JSON.parse(text);
    if (!response.ok) {
      const error = (parsed as { error?: { code?: string; message?: string } }).error;
      const message = error ? `${error.code}: ${error.message}` : `HTTP ${response.status}`;
      throw new CliError(exitCodeOfStatus(response.status), message, parsed);
    }
    return parsed;
  }
}
