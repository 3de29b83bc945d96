// Property: malformed arguments to every tool give only readable tool errors that name the argument
// — never a protocol error, never a crash of the server process — and change nothing in the store.
import type { HumanTask } from '@holdpoint/core';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectStdio, errorText, type Human, humanEngine, tempStore } from './helpers.js';

const { store, cleanup } = tempStore();
let human: Human;
let client: Client;
let transport: StdioClientTransport;
let open: HumanTask;

beforeAll(async () => {
  human = await humanEngine(store);
  ({ client, transport } = await connectStdio(store, { blockWithoutProgress: '200ms' }));
  open = await human.requestHuman({ title: 'Stays open', assignee: 'keeper@acme.test', context: { n: 1 } });
});

afterAll(async () => {
  await client?.close();
  await human?.close();
  cleanup();
});

/** Values that no argument of these tools accepts in place of `kind`. */
const notA = {
  string: fc.oneof(
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    fc.array(fc.string(), { maxLength: 2 }),
    fc.object({ maxDepth: 1 }),
  ),
  nonEmptyString: fc.oneof(
    fc.constant(''),
    fc.constant('   '),
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    fc.object({ maxDepth: 1 }),
  ),
  boolean: fc.oneof(fc.string(), fc.integer(), fc.constant(null), fc.array(fc.boolean(), { maxLength: 2 })),
  object: fc.oneof(
    fc.string(),
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    fc.array(fc.integer(), { maxLength: 2 }),
  ),
  stringArray: fc.oneof(
    fc.string(),
    fc.integer(),
    fc.constant(null),
    fc.constant([]),
    fc.array(fc.integer(), { minLength: 1, maxLength: 3 }),
  ),
  duration: fc.oneof(
    fc.boolean(),
    fc.constant(null),
    fc.constant('soon'),
    fc.constant(-5),
    fc.constant('5 parsecs'),
    fc.object({ maxDepth: 1 }),
  ),
  limit: fc.oneof(
    fc.integer({ max: 0 }),
    fc.integer({ min: 101 }),
    fc.double({ min: 1.1, max: 99.9, noInteger: true }),
    fc.string(),
    fc.constant(null),
  ),
  quorum: fc.oneof(
    fc.integer({ max: 0 }),
    fc.constant('most'),
    fc.constant(null),
    fc.constant(1.5),
    fc.constant(5),
  ),
};

type Mutation = { field: string; args: Record<string, unknown> };

interface ToolCase {
  base: () => Record<string, unknown>;
  fields: Record<string, fc.Arbitrary<unknown>>;
  required: string[];
}

const cases: Record<string, ToolCase> = {
  wait_for_human: {
    base: () => ({ title: 'Never created', assignee: 'nobody@acme.test', wait: false }),
    fields: {
      task: fc.oneof(fc.constant('vote'), notA.string),
      title: notA.nonEmptyString,
      description: notA.string,
      assignee: notA.nonEmptyString,
      assignees: notA.stringArray,
      quorum: notA.quorum,
      allowedOutcomes: notA.stringArray,
      schema: notA.object,
      timeout: notA.duration,
      remind: fc.oneof(
        notA.object,
        fc.record({ after: notA.duration }),
        fc.constant(JSON.parse('{"after":"1h","__proto__":{}}')),
      ),
      escalateTo: fc.oneof(fc.integer(), fc.constant(null), fc.constant(['']), fc.constant([{ who: 'x' }])),
      reassign: notA.boolean,
      onTimeout: fc.oneof(fc.constant('explode'), notA.string),
      idempotencyKey: notA.nonEmptyString,
      sensitive: notA.boolean,
      wait: notA.boolean,
    },
    required: ['assignee'],
  },
  get_human_task: {
    base: () => ({ taskId: open.id }),
    fields: { taskId: fc.oneof(notA.nonEmptyString, fc.constant('tsk_nothing.here'), fc.constant('int_x')) },
    required: ['taskId'],
  },
  list_human_tasks: {
    base: () => ({ status: 'pending' }),
    fields: {
      assignee: notA.nonEmptyString,
      status: fc.oneof(fc.constant('open'), notA.string),
      limit: notA.limit,
    },
    required: [],
  },
  cancel_human_task: {
    base: () => ({ taskId: open.id, reason: 'no longer needed' }),
    fields: { taskId: fc.oneof(notA.nonEmptyString, fc.constant('tsk_nothing.here')), reason: notA.string },
    required: ['taskId'],
  },
};

const known = new Set(Object.values(cases).flatMap((tool) => Object.keys(tool.fields)));

function mutations(tool: ToolCase): fc.Arbitrary<Mutation> {
  const wrongField = fc.constantFrom(...Object.keys(tool.fields)).chain((field) =>
    (tool.fields[field] as fc.Arbitrary<unknown>).map((value) => ({
      field,
      args: { ...tool.base(), [field]: value },
    })),
  );
  // A top-level `__proto__` never reaches a tool: the SDK's request schema drops it (a nested one is refused).
  const unknownKey = fc
    .tuple(
      fc
        .oneof(fc.constantFrom('constructor', 'toString'), fc.string({ minLength: 1, maxLength: 12 }))
        .filter((key) => !known.has(key) && key !== '__proto__'),
      fc.jsonValue(),
    )
    .map(([key, value]) => ({ field: key, args: { ...tool.base(), [key]: value } }));
  const options = [wrongField, unknownKey];
  if (tool.required.length > 0) {
    options.push(
      fc.constantFrom(...tool.required).map((field) => {
        const { [field]: _left, ...args } = tool.base();
        return { field, args };
      }),
    );
  }
  return fc.oneof(...options);
}

const escaped = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

async function taskCount(): Promise<number> {
  const page: unknown = await human.listTasks({ limit: 1000 });
  return (Array.isArray(page) ? page : (page as { tasks: unknown[] }).tasks).length;
}

describe('malformed arguments to every tool', () => {
  it('give only readable tool errors naming the argument; no crash; nothing changes', async () => {
    const before = await taskCount();
    for (const [name, tool] of Object.entries(cases)) {
      await fc.assert(
        fc.asyncProperty(mutations(tool), async ({ field, args }) => {
          const result = await client.callTool({ name, arguments: args });
          const text = errorText(result);
          // The field name, or (for a wrong id) the refusal that names the task.
          const named =
            new RegExp(`'${escaped(field)}['.]`).test(text) || /NOT_FOUND|No task has id/.test(text);
          expect(named, `${name} ${JSON.stringify(args)} → ${text}`).toBe(true);
        }),
        { numRuns: 60 },
      );
    }
    expect(await taskCount()).toBe(before);
    const kept = await human.getTask(open.id);
    expect(kept.status).toBe('pending');
    expect(kept.votes).toEqual([]);
    // The server process lives on and answers.
    expect(() => process.kill(transport.pid as number, 0)).not.toThrow();
    expect((await client.listTools()).tools).toHaveLength(4);
  });
});
