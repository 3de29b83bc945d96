import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { formDataProblems, formSchemaLimits } from '../src/engine/form-schema.js';
import { type Holdpoint, ValidationError } from '../src/index.js';
import { engineFor, errorOf } from './helpers/engine.js';

// A form's JSON Schema comes from whoever creates the task and its data from whoever decides it;
// compiling the one and matching the other run on the server's event loop. These tests hold the
// limits that keep both cheap (see `formSchemaLimits`), and check that real forms fit in them.

const ann = 'ann@acme.test';

async function formTask(hp: Holdpoint, schema: unknown) {
  return hp.requestHuman({ task: 'form', assignee: ann, schema });
}

/** How long a call took, in milliseconds, and what it returned or threw. */
async function timed<T>(call: () => Promise<T>): Promise<{ ms: number; result: Promise<T> }> {
  const start = performance.now();
  const result = call();
  await result.catch(() => undefined);
  return { ms: performance.now() - start, result };
}

/** A form of `count` text fields, each with a title, a help text, bounds and a pattern. */
function formOf(count: number): Record<string, unknown> {
  const properties: Record<string, unknown> = {};
  for (let i = 0; i < count; i++) {
    properties[`field_${i}`] = {
      type: 'string',
      title: `Field ${i}`,
      description: `What to write in field ${i}`,
      minLength: 1,
      maxLength: 200,
      pattern: '^[A-Za-z0-9 ]*$',
    };
  }
  return { type: 'object', properties, required: ['field_0'], additionalProperties: false };
}

describe('form schemas cost little to compile', () => {
  it('refuses a schema too large to compile cheaply, at once and naming the field, and takes a form of 300 fields', async () => {
    const hp = await engineFor('memory://');
    // The reviewer's schema: 9,000 properties, about 790 KB, took 9.4 s to compile.
    const huge: Record<string, unknown> = {};
    for (let i = 0; i < 9_000; i++) huge[`property_${i}`] = { type: 'string', description: 'x'.repeat(60) };
    const { ms, result } = await timed(() => formTask(hp, { type: 'object', properties: huge }));
    const error = await errorOf(result);
    expect(ValidationError.isInstance(error)).toBe(true);
    expect(error.field).toBe('requestHuman.schema');
    expect(error.message).toMatch(
      /^requestHuman\.schema: the form schema is \d+ bytes as JSON; at most 131072/,
    );
    expect(error.message).toContain('split the form into several tasks');
    expect(ms).toBeLessThan(1_000);

    // Small in bytes, but more keywords than any form needs.
    const many: Record<string, unknown> = {};
    for (let i = 0; i < formSchemaLimits.schemaKeys; i++) many[`p${i}`] = {};
    const tooMany = await errorOf(formTask(hp, { type: 'object', properties: many }));
    expect(tooMany.message).toContain(`more than ${formSchemaLimits.schemaKeys} keywords and property names`);

    const form = await formTask(hp, formOf(300));
    const data = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`field_${i}`, `Value ${i}`]));
    const decided = await hp.decide(form.id, { outcome: 'submitted', data, actor: ann });
    expect(decided.status).toBe('decided');
  });

  it('compiles $refs to a large definition once, not copied into every place that uses them', async () => {
    const hp = await engineFor('memory://');
    // 300 references to a 300-property definition: 20 KB that took 24 s to compile when Ajv
    // copied the definition into each place.
    const address: Record<string, unknown> = {};
    for (let i = 0; i < 300; i++) address[`line${i}`] = { type: 'string', maxLength: 5 };
    const properties: Record<string, unknown> = {};
    for (let i = 0; i < 300; i++) properties[`p${i}`] = { $ref: '#/$defs/address' };
    const schema = {
      type: 'object',
      $defs: { address: { type: 'object', properties: address } },
      properties,
    };
    const { ms, result } = await timed(() => formTask(hp, schema));
    const task = await result;
    expect(ms).toBeLessThan(3_000);
    const error = await errorOf(
      hp.decide(task.id, { outcome: 'submitted', data: { p7: { line3: 'too long' } }, actor: ann }),
    );
    expect(error.message).toContain('/p7/line3 must NOT have more than 5 characters');
  });

  it('takes two forms that give different schemas the same $id', async () => {
    const hp = await engineFor('memory://');
    const $id = 'https://forms.acme.test/expense';
    const first = await formTask(hp, { $id, type: 'object', properties: { amount: { type: 'number' } } });
    const second = await formTask(hp, { $id, type: 'object', properties: { amount: { type: 'string' } } });
    await hp.decide(first.id, { outcome: 'submitted', data: { amount: 5 }, actor: ann });
    await hp.decide(second.id, { outcome: 'submitted', data: { amount: 'five' }, actor: ann });
  });

  it('checks unique items in time linear in the data', async () => {
    const hp = await engineFor('memory://');
    const task = await formTask(hp, {
      type: 'object',
      properties: { rows: { type: 'array', uniqueItems: true } },
    });
    // Ajv compared every pair: 20,000 objects took about 10 s.
    const rows = Array.from({ length: 20_000 }, (_, i) => ({ row: i }));
    const { ms, result } = await timed(() =>
      hp.decide(task.id, { outcome: 'submitted', data: { rows: [...rows, { row: 7 }] }, actor: ann }),
    );
    expect((await errorOf(result)).message).toContain(
      '/rows must NOT have duplicate items (items ## 7 and 20000 are identical)',
    );
    expect(ms).toBeLessThan(3_000);
    await hp.decide(task.id, { outcome: 'submitted', data: { rows }, actor: ann });
  });
});

describe('form patterns cannot backtrack catastrophically', () => {
  it.each([
    {
      name: '^(a+)+$',
      pattern: '^(a+)+$',
      message: /repeats a group that can match the same text in more than one way/,
    },
    { name: '(a*)*', pattern: '(a*)*', message: /repeats a group/ },
    { name: '^(a|aa)+$', pattern: '^(a|aa)+$', message: /repeats a group/ },
    { name: '(.*a){10}', pattern: '(.*a){10}', message: /repeats a group/ },
    { name: '^(\\w+\\s?)*$', pattern: '^(\\w+\\s?)*$', message: /repeats a group/ },
    {
      name: '^\\w+([.-]?\\w+)*@\\w+([.-]?\\w+)*(\\.\\w{2,3})+$',
      pattern: '^\\w+([.-]?\\w+)*@\\w+([.-]?\\w+)*(\\.\\w{2,3})+$',
      message: /repeats a group/,
    },
    {
      name: '^\\d*\\d*\\d*x',
      pattern: '^\\d*\\d*\\d*x',
      message: /quantified parts in a row that can take characters from one another/,
    },
    { name: '.*a.*a.*b', pattern: '.*a.*a.*b', message: /quantified parts in a row/ },
    {
      name: '^\\S+@\\S+\\.\\S+$',
      pattern: '^\\S+@\\S+\\.\\S+$',
      message: /quantified parts in a row.*\[\^@\\s\]\+@\[\^@\\s\]\+/,
    },
    { name: '.*\\S{900}x', pattern: '.*\\S{900}x', message: /quantified parts in a row/ },
    { name: '(?<=\\d+)x', pattern: '(?<=\\d+)x', message: /quantifier inside a lookbehind/ },
    { name: '^(a)\\1$', pattern: '^(a)\\1$', message: /refers back to a group/ },
    { name: '^(?<x>a+)\\k<x>$', pattern: '^(?<x>a+)\\k<x>$', message: /refers back to a group/ },
    {
      name: 'of 1,001 characters',
      pattern: 'a'.repeat(1_001),
      message: /is 1001 characters long; a pattern may have at most 1000/,
    },
  ])('refuses the pattern $name', async ({ pattern, message }) => {
    const hp = await engineFor('memory://');
    const schema = { type: 'object', properties: { code: { type: 'string', pattern } } };
    const { ms, result } = await timed(() => formTask(hp, schema));
    const error = await errorOf(result);
    expect(ValidationError.isInstance(error)).toBe(true);
    expect(error.field).toBe('requestHuman.schema');
    expect(error.message).toMatch(/^requestHuman\.schema: properties\.code\.pattern /);
    expect(error.message).toMatch(message);
    expect(ms).toBeLessThan(1_000);
  });

  it('refuses such patterns wherever Ajv would compile them: patternProperties, propertyNames, $defs', async () => {
    const hp = await engineFor('memory://');
    const inNames = await errorOf(formTask(hp, { type: 'object', patternProperties: { '^(a+)+$': {} } }));
    expect(inNames.message).toMatch(
      /^requestHuman\.schema: patternProperties "\^\(a\+\)\+\$" repeats a group/,
    );
    const inDefs = await errorOf(
      formTask(hp, {
        $defs: { names: { type: 'object', propertyNames: { pattern: '(x+x+)+y' } } },
        $ref: '#/$defs/names',
      }),
    );
    expect(inDefs.message).toContain('$defs.names.propertyNames.pattern "(x+x+)+y" repeats a group');
  });

  it('bounds the work of checking patterns in one schema', async () => {
    const hp = await engineFor('memory://');
    // 498 quantified parts of different characters: nothing to refuse, but each takes the check
    // about 125,000 steps (every pair of parts is compared).
    const slow = Array.from({ length: 498 }, (_, i) => `${String.fromCodePoint(0x400 + i)}*`).join('');
    const properties = Object.fromEntries(
      Array.from({ length: 40 }, (_, i) => [`p${i}`, { type: 'string', pattern: `^${slow}${i}` }]),
    );
    const { ms, result } = await timed(() => formTask(hp, { type: 'object', properties }));
    expect((await errorOf(result)).message).toContain(
      'requestHuman.schema: the patterns of the form schema take too long to check',
    );
    expect(ms).toBeLessThan(1_000);
    await formTask(hp, { type: 'object', properties: { p0: properties.p0 } });
  });

  it('answers at once for a stored schema with such a pattern (tasks created before the check)', () => {
    // Before: 28 'a's and '!' took 3.9 s, twice as long for each more 'a'.
    const start = performance.now();
    const problems = formDataProblems({ type: 'string', pattern: '^(a+)+$' }, `${'a'.repeat(28)}!`);
    expect(performance.now() - start).toBeLessThan(500);
    expect(problems).toEqual([
      expect.stringMatching(
        /^the task's form schema cannot be checked: pattern "\^\(a\+\)\+\$" repeats a group/,
      ),
    ]);
  });

  it("takes ordinary patterns and zod's string formats, and matches at most 2,000 characters a string", async () => {
    const hp = await engineFor('memory://');
    const ordinary = [
      '^[A-Z]{3}-\\d{4}$',
      '^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$',
      '^[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\\.[a-zA-Z]{2,}$',
      '(ab)+',
      '^(ab)+$',
      '^(\\d{3}-)+\\d{4}$',
      '^[A-Z][a-z]+( [A-Z][a-z]+)*$',
      '^([a-z0-9-]+\\.)+[a-z]{2,}$',
      '^(?=.*[a-z])(?=.*[A-Z])(?=.*\\d).{8,}$',
      '^https?://[^\\s/$.?#].[^\\s]*$',
      '^\\d+(\\.\\d{1,2})?$',
      '^\\+?[0-9 ()-]{7,20}$',
      "^[\\p{L} .'-]+$",
      '^(cat|dog)+$',
      '^(?:(?!--).)*$',
      '\\S',
      '\\s+$',
    ];
    const properties = Object.fromEntries(
      ordinary.map((pattern, i) => [`p${i}`, { type: 'string', pattern }]),
    );
    const form = await formTask(hp, { type: 'object', properties });
    const zodForm = await formTask(
      hp,
      z.object({
        email: z.email(),
        uuid: z.uuid(),
        ipv4: z.ipv4(),
        ipv6: z.ipv6(),
        hostname: z.hostname(),
        datetime: z.iso.datetime(),
        duration: z.iso.duration(),
        base64: z.base64(),
        emoji: z.emoji(),
        code: z.string().regex(/^[A-Z]{3}-\d{4}$/),
        affix: z.string().startsWith('ab').endsWith('yz').includes('m'),
      }),
    );
    await hp.decide(zodForm.id, {
      outcome: 'submitted',
      data: {
        email: 'ann.lee@mail.acme.test',
        uuid: '3f2b8c1e-4d5a-4b6c-8d7e-9f0a1b2c3d4e',
        ipv4: '192.168.1.20',
        ipv6: '2001:db8::8a2e:370:7334',
        hostname: 'mail.acme.test',
        datetime: '2025-06-01T12:30:00Z',
        duration: 'P1DT2H',
        base64: 'aGVsbG8=',
        emoji: '👍',
        code: 'ABC-1234',
        affix: 'abmyz',
      },
      actor: ann,
    });

    // A value over 2,000 characters is not matched (matching may take time growing with the
    // square of its length), and it says so instead of "must match pattern".
    const long = await errorOf(
      hp.decide(form.id, { outcome: 'submitted', data: { p15: 'x'.repeat(2_001) }, actor: ann }),
    );
    expect(long.message).toContain(
      '/p15 is 2001 characters long; at most 2000 are matched against a pattern',
    );
    // And at most 10,000 characters in all.
    const data = Object.fromEntries(Array.from({ length: 6 }, (_, i) => [`p${i}`, 'x'.repeat(2_000)]));
    const total = await errorOf(hp.decide(form.id, { outcome: 'submitted', data, actor: ann }));
    expect(total.message).toContain('has more than 10000 characters to match against the form');
    await hp.decide(form.id, {
      outcome: 'submitted',
      data: { p0: 'ABC-1234', p1: 'ann@acme.test', p6: 'Ann Lee', p8: 'Secret123', p15: 'x'.repeat(2_000) },
      actor: ann,
    });
  });
});
