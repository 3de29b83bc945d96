import { describe, expect, it } from 'vitest';
import { createHoldpoint, HoldpointError, parseDuration, ValidationError } from '../src/index.js';
import { engineFor, errorOf } from './helpers/engine.js';

describe('options are validated with errors that say what to fix', () => {
  it('parses durations and refuses bad ones', () => {
    expect(parseDuration('250ms', 'x')).toBe(250);
    expect(parseDuration('48h', 'x')).toBe(172_800_000);
    expect(parseDuration('1.5m', 'x')).toBe(90_000);
    expect(parseDuration(1000, 'x')).toBe(1000);
    for (const bad of ['soon', '-1h', '10 years', -5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => parseDuration(bad, 'waitForHuman.timeout')).toThrow(/waitForHuman\.timeout.*'48h'/);
    }
  });

  it.each([
    [{}, /assignee/],
    [{ assignee: 'a', assignees: ['b'] }, /either assignee or assignees/],
    [{ assignee: 'a', task: 'vote' }, /task: must be one of approval/],
    [{ assignee: 'a', timeout: 'tomorrow' }, /timeout/],
    [{ assignee: 'a', escalateTo: ['b'] }, /escalateTo needs a timeout/],
    [{ assignees: ['a', 'b'], quorum: 3 }, /quorum 3 needs at least 3 assignees/],
    [{ assignee: 'a', task: 'form' }, /needs schema/],
    [{ assignee: 'a', schema: 'not a schema' }, /schema/],
    [{ assignee: 'a', context: { amount: 10n } }, /context must be JSON/],
    [{ assignee: 'a', remind: { every: '1h' } }, /remind\.after: is required: a duration such as '48h'/],
    [{ assignee: 'a', timeout: Number.NaN }, /timeout: must be a duration such as '48h'/],
    [{ assignee: 'a', timeout: null }, /timeout: must be a duration/],
    [{ assignee: 'a', quorum: 1.5 }, /quorum: must be a whole number of approvals from 1, or 'all'/],
    [{ assignee: 'a', escalateTo: [{}] }, /escalateTo: must be a delegate's id, or a list of steps/],
    [{ assignee: 7 }, /assignee: must be a string, got number/],
    [{ assignee: 'a', onTimeout: 'explode' }, /onTimeout/],
    [{ assignee: 'a', asignee: 'typo' }, /asignee/],
    [{ assignee: '' }, /assignee: must not be empty/],
  ])('refuses bad request options (case %#)', async (options, message) => {
    const hp = await engineFor('memory://');
    const error = await errorOf(hp.requestHuman(options as never));
    expect(ValidationError.isInstance(error)).toBe(true);
    expect(error.code).toBe('VALIDATION');
    expect(error.message).toMatch(message);
  });

  it('refuses values nested too deep to hash reliably, and takes ordinary nesting', async () => {
    const nest = (levels: number) => {
      let value: unknown = 'bottom';
      for (let level = 0; level < levels; level++) value = { inner: value };
      return value;
    };
    const hp = await engineFor('memory://');
    for (const levels of [101, 5_000]) {
      const error = await errorOf(hp.requestHuman({ assignee: 'a', context: nest(levels) }));
      expect(error.code).toBe('VALIDATION');
      expect(error.message).toMatch(/nested deeper than 100 levels/);
    }
    const task = await hp.requestHuman({ assignee: 'a', context: nest(50) });
    expect(
      (await errorOf(hp.decide(task.id, { outcome: 'approved', actor: 'a', data: nest(200) }))).code,
    ).toBe('VALIDATION');
    expect((await hp.getTask(task.id)).context).toEqual(nest(50));
  });

  it('refuses bad decisions before touching the store', async () => {
    const hp = await engineFor('memory://');
    const task = await hp.requestHuman({ assignee: 'a' });
    expect((await errorOf(hp.decide(task.id, { outcome: 'approved' } as never))).message).toMatch(
      /actor: is required: who acts: an id string/,
    );
    expect((await errorOf(hp.decide(task.id, { actor: 'a' } as never))).message).toMatch(
      /outcome: is required/,
    );
    expect((await errorOf(hp.decide(task.id, { outcome: '', actor: 'a' }))).message).toMatch(/outcome/);
    expect((await errorOf(hp.decide(task.id, null as never))).message).toMatch(/options object/);
    expect((await hp.getTask(task.id)).status).toBe('pending');
  });

  it('refuses bad engine options and stores', async () => {
    expect((await errorOf(createHoldpoint({ pollInterval: 'often' }))).code).toBe('VALIDATION');
    expect((await errorOf(createHoldpoint({ store: 'mysql://localhost' }))).message).toMatch(/sqlite:\/\//);
    expect((await errorOf(createHoldpoint({ nope: true } as never))).message).toMatch(/nope/);
  });

  it('brands errors so isInstance works across copies of the package', () => {
    const error = new ValidationError({ message: 'x' });
    expect(HoldpointError.isInstance(error)).toBe(true);
    expect(HoldpointError.isInstance(new Error('x'))).toBe(false);
    const foreign = Object.assign(new Error('from another copy'), {
      code: 'VALIDATION',
      [Symbol.for('holdpoint.error')]: true,
    });
    expect(HoldpointError.isInstance(foreign)).toBe(true);
    expect(ValidationError.isInstance(foreign)).toBe(true);
  });
});
