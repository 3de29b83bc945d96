// The package's public surface as its declarations give it (checked by the type-check of `npm test`;
// `expectTypeOf` does nothing at run time, the `expect`s do).
import { describe, expect, expectTypeOf, it } from 'vitest';
import type { Holdpoint, HoldpointErrorCode } from '../src/index.js';
import * as core from '../src/index.js';

describe('the public types', () => {
  it('give Holdpoint as an interface: no constructor, start() or store to reach', () => {
    expectTypeOf<Holdpoint>().not.toHaveProperty('start');
    expectTypeOf<Holdpoint>().not.toHaveProperty('store');
    expectTypeOf(core.createHoldpoint).returns.resolves.toEqualTypeOf<Holdpoint>();
    expect(Object.keys(core).filter((name) => /engine/i.test(name))).toEqual(['EngineClosedError']);
  });

  it('give an error code as a union of the codes, not any string', () => {
    expectTypeOf<'NOT_FOUND'>().toExtend<HoldpointErrorCode>();
    expectTypeOf<'ALREADY_DECIDED'>().toExtend<HoldpointErrorCode>();
    expectTypeOf<'SOMETHING_ELSE'>().not.toExtend<HoldpointErrorCode>();
    expectTypeOf<core.HoldpointError['code']>().toEqualTypeOf<HoldpointErrorCode>();
  });
});
