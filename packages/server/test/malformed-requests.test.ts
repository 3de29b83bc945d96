// Property: every route of the OpenAPI document, sent a request that is wrong in one way the
// document says is wrong, answers a 4xx with the error body — and nothing in the store changes.
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startServer, type TestServer } from './helpers.js';

interface Schema {
  $ref?: string;
  type?: string;
  enum?: unknown[];
  anyOf?: Schema[];
  oneOf?: Schema[];
  allOf?: Schema[];
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: boolean | Schema;
  items?: Schema;
  minItems?: number;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
}
interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header';
  schema: Schema;
}
interface Operation {
  parameters?: Parameter[];
  requestBody?: { content: Record<string, { schema: Schema }> };
  security?: unknown[];
}
interface Route {
  method: string;
  path: string;
  operation: Operation;
}
interface Mutation {
  kind: string;
  route: string;
  method: string;
  path: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: string;
  withoutKey?: boolean;
}

const bodyLimit = 4096;
let t: TestServer;
let schemas: Record<string, Schema>;
let routes: Route[];
let ids: Record<'intent' | 'task' | 'key', string>;

beforeAll(async () => {
  t = await startServer({ limits: { bodyBytes: bodyLimit, auditBodyBytes: bodyLimit, headerBytes: 4096 } });
  const intent = await t.call(t.keys.agent, 'POST', '/v1/intents', { type: 'payout' });
  const task = await t.call(t.keys.agent, 'POST', '/v1/tasks', {
    intentId: intent.body.id,
    assignee: 'cfo@acme.test',
  });
  const key = await t.call(t.keys.admin, 'GET', '/v1/keys');
  ids = { intent: intent.body.id, task: task.body.id, key: key.body.keys[0].id };
  const document = (await t.call(undefined, 'GET', '/v1/openapi.json')).body;
  schemas = document.components.schemas;
  routes = Object.entries(document.paths as Record<string, Record<string, Operation>>).flatMap(
    ([path, item]) =>
      Object.entries(item).map(([method, operation]) => ({ method: method.toUpperCase(), path, operation })),
  );
});
afterAll(() => t.close());

function resolve(schema: Schema): Schema {
  if (schema.$ref) return resolve(schemas[schema.$ref.slice(schema.$ref.lastIndexOf('/') + 1)] as Schema);
  const typed = schema.allOf?.find((part) => part.$ref || part.type);
  return typed ? resolve(typed) : schema;
}

/** Whether a JSON value has a type (and enum value) the schema allows; `true` for untyped schemas. */
function accepts(schema: Schema, value: unknown): boolean {
  const resolved = resolve(schema);
  const union = resolved.anyOf ?? resolved.oneOf;
  if (union) return union.some((branch) => accepts(branch, value));
  if (resolved.enum && !resolved.enum.includes(value)) return false;
  switch (resolved.type) {
    case undefined:
      return true;
    case 'integer':
      return Number.isInteger(value);
    case 'number':
      return typeof value === 'number';
    case 'array':
      return Array.isArray(value);
    case 'object':
      return typeof value === 'object' && value !== null && !Array.isArray(value);
    case 'null':
      return value === null;
    default:
      return typeof value === resolved.type;
  }
}

/** A value of the schema's type, as small as allowed (not necessarily accepted by the engine). */
function sample(schema: Schema): unknown {
  const resolved = resolve(schema);
  const union = resolved.anyOf ?? resolved.oneOf;
  if (union) return sample(union[0] as Schema);
  if (resolved.enum) return resolved.enum[0];
  switch (resolved.type) {
    case 'string':
      return 'x'.repeat(Math.max(1, resolved.minLength ?? 1));
    case 'integer':
    case 'number':
      return resolved.minimum ?? 1;
    case 'boolean':
      return true;
    case 'array':
      return Array.from({ length: resolved.minItems ?? 0 }, () => sample(resolved.items ?? {}));
    case 'object':
      return Object.fromEntries(
        (resolved.required ?? []).map((name) => [name, sample(resolved.properties?.[name] ?? {})]),
      );
    default:
      return null;
  }
}

const candidates: unknown[] = [null, true, 1.5, 7, 'not-an-option', [], [1], {}, { nested: 1 }];
/** Values the schema does not accept; none for an untyped schema. */
function wrongValues(schema: Schema): unknown[] {
  return resolve(schema).type === undefined && !resolve(schema).anyOf && !resolve(schema).enum
    ? []
    : candidates.filter((value) => !accepts(schema, value));
}

/** Query and path values (strings) the parameter's schema refuses. */
function wrongStrings(schema: Schema): string[] {
  const resolved = resolve(schema);
  const values: string[] = [];
  if (resolved.enum) values.push('not-an-option');
  if (resolved.type === 'integer') {
    values.push('abc', '1.5');
    if (resolved.minimum !== undefined) values.push(String(resolved.minimum - 1));
    if (resolved.maximum !== undefined) values.push(String(resolved.maximum + 1));
  }
  if (resolved.type === 'string' && (resolved.minLength ?? 0) > 0) values.push('');
  if (resolved.type === 'string' && resolved.maxLength !== undefined)
    values.push('a'.repeat(resolved.maxLength + 1));
  return values;
}

function pathFor(route: Route, id?: string): string {
  const family = route.path.startsWith('/v1/tasks')
    ? 'task'
    : route.path.startsWith('/v1/keys')
      ? 'key'
      : 'intent';
  return route.path.replace('{id}', encodeURIComponent(id ?? ids[family]));
}

/** Every way the document says a request to this route is wrong, each as an arbitrary of requests. */
function mutationsOf(route: Route): Array<fc.Arbitrary<Mutation>> {
  const name = `${route.method} ${route.path}`;
  const base = { route: name, method: route.method, path: pathFor(route) };
  const [mediaType, content] = Object.entries(route.operation.requestBody?.content ?? {})[0] ?? [];
  const bodySchema = content ? resolve(content.schema) : undefined;
  const jsonBody = mediaType === 'application/json' && bodySchema !== undefined;
  const valid = jsonBody ? (sample(bodySchema) as Record<string, unknown>) : undefined;
  const asJson = (body: unknown): { headers: Record<string, string>; body: string } => ({
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const arbitraries: Array<fc.Arbitrary<Mutation>> = [
    fc.constant({ ...base, kind: 'headers too large', headers: { 'x-padding': 'a'.repeat(5000) } }),
    fc.constantFrom('PUT', 'PATCH', 'DELETE').map((method) => ({ ...base, kind: 'wrong method', method })),
  ];
  if (route.operation.security?.length)
    arbitraries.push(fc.constant({ ...base, kind: 'no key', withoutKey: true }));
  for (const parameter of route.operation.parameters ?? []) {
    if (parameter.in === 'path') {
      arbitraries.push(
        fc.stringMatching(/^[A-Za-z0-9_.-]{1,40}$/).map((id) => ({
          ...base,
          kind: 'unknown id',
          path: pathFor(route, `${id}-unknown`),
          ...(valid ? asJson(valid) : {}),
        })),
      );
    }
    const wrong = wrongStrings(parameter.schema);
    if (wrong.length === 0) continue;
    const value = fc.constantFrom(...wrong);
    if (parameter.in === 'query') {
      arbitraries.push(
        value.map((text) => ({
          ...base,
          kind: `query ${parameter.name}`,
          query: { [parameter.name]: text },
        })),
      );
    }
    if (parameter.in === 'header') {
      arbitraries.push(
        value.map((text) => {
          const body = valid ? asJson(valid) : { headers: {} };
          return {
            ...base,
            kind: `header ${parameter.name}`,
            ...body,
            headers: { ...body.headers, [parameter.name]: text },
          };
        }),
      );
    }
  }
  if ((route.operation.parameters ?? []).some((parameter) => parameter.in === 'query')) {
    arbitraries.push(
      fc
        .stringMatching(/^[a-z]{3,12}$/)
        .map((key) => ({ ...base, kind: 'unknown query parameter', query: { [`${key}_x`]: '1' } })),
    );
  }
  if (mediaType !== undefined) {
    const other = mediaType === 'application/json' ? 'text/plain' : 'application/json';
    arbitraries.push(
      fc.constant({ ...base, kind: 'wrong content type', headers: { 'content-type': other }, body: 'x' }),
    );
    arbitraries.push(
      fc.constant({
        ...base,
        kind: 'body too large',
        headers: { 'content-type': mediaType },
        body: `"${'a'.repeat(bodyLimit)}"`,
      }),
    );
  }
  if (jsonBody && valid) {
    arbitraries.push(
      fc
        .string()
        .filter((text) => {
          // An empty body is no body, whatever its Content-Type (api.test.ts): not malformed JSON.
          if (text === '') return false;
          try {
            JSON.parse(text);
            return false;
          } catch {
            return true;
          }
        })
        .map((body) => ({
          ...base,
          kind: 'malformed JSON',
          headers: { 'content-type': 'application/json' },
          body,
        })),
      fc
        .constantFrom<unknown>(null, [], 1, 'text', true)
        .map((body) => ({ ...base, kind: 'body not an object', ...asJson(body) })),
    );
    for (const [field, property] of Object.entries(bodySchema.properties ?? {})) {
      const wrong = wrongValues(property);
      if (wrong.length === 0) continue;
      arbitraries.push(
        fc.constantFrom(...wrong).map((value) => ({
          ...base,
          kind: `body.${field} of a wrong type`,
          ...asJson({ ...valid, [field]: value }),
        })),
      );
    }
    for (const field of bodySchema.required ?? []) {
      const { [field]: _removed, ...rest } = valid;
      arbitraries.push(fc.constant({ ...base, kind: `body.${field} missing`, ...asJson(rest) }));
    }
    if (bodySchema.additionalProperties === false) {
      arbitraries.push(
        fc
          .stringMatching(/^[a-z]{3,12}$/)
          .map((key) => ({ ...base, kind: 'unknown body field', ...asJson({ ...valid, [`${key}_x`]: 1 }) })),
      );
    }
  }
  return arbitraries;
}

async function snapshot(): Promise<string> {
  const [events, tasks, keys] = await Promise.all([
    t.call(t.keys.admin, 'GET', '/v1/events?limit=1000'),
    t.call(t.keys.admin, 'GET', '/v1/tasks?limit=1000'),
    t.call(t.keys.admin, 'GET', '/v1/keys'),
  ]);
  return JSON.stringify([events.body, tasks.body, keys.body]);
}

/** Send a mutation exactly as built: its method, headers and body, with the admin key unless it is the keyless one. */
async function send(mutation: Mutation): Promise<{ status: number; body: unknown }> {
  const query = new URLSearchParams(mutation.query ?? {}).toString();
  const response = await fetch(`${t.url}${mutation.path}${query ? `?${query}` : ''}`, {
    method: mutation.method,
    headers: {
      ...(mutation.withoutKey ? {} : { authorization: `Bearer ${t.keys.admin}` }),
      ...mutation.headers,
    },
    ...(mutation.body === undefined ? {} : { body: mutation.body }),
  });
  const text = await response.text();
  try {
    return { status: response.status, body: JSON.parse(text) };
  } catch {
    return { status: response.status, body: text };
  }
}

it('answers every malformed request to every route with a 4xx and the error body, changing nothing', async () => {
  const before = await snapshot();
  const covered = new Map<string, Set<string>>(
    routes.map((route) => [`${route.method} ${route.path}`, new Set()]),
  );
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(...routes.map((route) => fc.oneof(...mutationsOf(route)))),
      async (mutation) => {
        covered.get(mutation.route)?.add(mutation.kind);
        const reply = await send(mutation);
        expect(reply.status, `${mutation.kind}: ${mutation.method} ${mutation.path}`).toBeGreaterThanOrEqual(
          400,
        );
        expect(reply.status, `${mutation.kind}: ${mutation.method} ${mutation.path}`).toBeLessThan(500);
        expect(reply.body).toMatchObject({
          error: { code: expect.any(String), message: expect.any(String), details: expect.any(Object) },
        });
      },
    ),
    { numRuns: 600 },
  );
  // Every route of the document was tried.
  expect([...covered].filter(([, kinds]) => kinds.size === 0).map(([route]) => route)).toEqual([]);
  expect(await snapshot()).toBe(before);
});
