import { parseDuration, ValidationError } from '@holdpoint/core';

// The options are checked when the gate is made, so that a typo cannot leave a risky tool ungated
// (an `approvals` key that names no tool) or a policy weaker than written (a `timout` dropped). What
// can only be known per call — values a policy function returns, the engine's limits on ids and
// text — the engine checks when it is asked (`requestHuman` refuses with the same ValidationError).

/** The fields of an {@link ApprovalPolicy}. */
const policyOptions = [
  'when',
  'assignee',
  'assignees',
  'quorum',
  'timeout',
  'remind',
  'escalateTo',
  'reassign',
  'onTimeout',
  'title',
  'description',
  'reason',
  'edits',
  'intentId',
  'idempotencyKey',
  'metadata',
] as const;

const gateOptions = ['holdpoint', 'tools', 'approvals', 'mode', 'signal', 'onError'] as const;
const withApprovalOptions = [...policyOptions, 'holdpoint', 'toolName', 'onError'] as const;
const engineMethods = ['requestHuman', 'waitForHuman', 'getTask', 'cancelTask', 'complete', 'fail'] as const;
const timeoutPolicies = ['fail', 'reject', 'approve'];
const modes = ['blocking', 'deferred'];

function refuse(field: string, message: string): never {
  throw new ValidationError({ field, message: `${field}: ${message}` });
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'string' ? JSON.stringify(value) : typeof value;
}

/** Edit distance, for "did you mean" on a misspelt option. */
function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(
        (previous[j] as number) + 1,
        (row[j - 1] as number) + 1,
        (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = row;
  }
  return previous[b.length] as number;
}

function suggestion(key: string, known: readonly string[]): string {
  const close = known.find((name) => distance(key.toLowerCase(), name.toLowerCase()) <= 2);
  return close === undefined ? '' : ` (did you mean '${close}'?)`;
}

/** Refuse keys that are not options: a misspelt option would otherwise be dropped without a word. */
function checkKeys(value: Record<string, unknown>, known: readonly string[], field: string): void {
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      refuse(
        field,
        `unknown option '${key}'${suggestion(key, known)}. The options are: ${known.join(', ')}.`,
      );
    }
  }
}

function checkDuration(value: unknown, field: string): void {
  if (typeof value !== 'number' && typeof value !== 'string') {
    refuse(field, `expected a duration ('4h', '30m' or milliseconds), got ${kindOf(value)}`);
  }
  parseDuration(value, field);
}

function checkId(value: unknown, field: string, what: string): void {
  if (typeof value !== 'string' || value.trim() === '') {
    refuse(field, `expected ${what}, got ${value === '' ? 'an empty string' : kindOf(value)}`);
  }
}

/** The checks of each policy field given as a value (a function of the call is checked by the engine, per call). */
const valueChecks: Record<string, (value: unknown, field: string) => void> = {
  assignee: (value, field) => checkId(value, field, "the approver's id, e.g. 'finance@acme.test'"),
  assignees: (value, field) => {
    if (!Array.isArray(value) || value.length === 0) {
      refuse(field, `expected a non-empty array of approver ids, got ${kindOf(value)}`);
    }
    for (const [index, id] of value.entries()) checkId(id, `${field}.${index}`, "an approver's id");
  },
  quorum: (value, field) => {
    if (value !== 'all' && !(Number.isInteger(value) && (value as number) >= 1)) {
      refuse(field, `expected a whole number ≥ 1 or 'all', got ${kindOf(value)}`);
    }
  },
  timeout: checkDuration,
  remind: (value, field) => {
    if (!isObject(value)) refuse(field, `expected { after, every?, max? }, got ${kindOf(value)}`);
    checkKeys(value, ['after', 'every', 'max'], field);
    checkDuration(value.after, `${field}.after`);
    if (value.every !== undefined) checkDuration(value.every, `${field}.every`);
    if (value.max !== undefined && !(Number.isInteger(value.max) && (value.max as number) >= 1)) {
      refuse(`${field}.max`, `expected a whole number ≥ 1, got ${kindOf(value.max)}`);
    }
  },
  escalateTo: (value, field) => {
    if (typeof value === 'string') {
      checkId(value, field, "a delegate's id");
      return;
    }
    if (!Array.isArray(value)) {
      refuse(field, `expected delegates: ['deputy@…', { assignee, timeout? }], got ${kindOf(value)}`);
    }
    for (const [index, step] of (value as unknown[]).entries()) {
      const at = `${field}.${index}`;
      if (typeof step === 'string') {
        checkId(step, at, "a delegate's id");
        continue;
      }
      if (!isObject(step)) {
        refuse(at, `expected a delegate's id or { assignee, timeout? }, got ${kindOf(step)}`);
      }
      checkKeys(step, ['assignee', 'timeout'], at);
      checkId(step.assignee, `${at}.assignee`, "the delegate's id");
      if (step.timeout !== undefined) checkDuration(step.timeout, `${at}.timeout`);
    }
  },
  reassign: (value, field) => {
    if (typeof value !== 'boolean') refuse(field, `expected true or false, got ${kindOf(value)}`);
  },
  onTimeout: (value, field) => {
    if (!timeoutPolicies.includes(value as string)) {
      refuse(field, `expected one of 'fail', 'reject', 'approve', got ${kindOf(value)}`);
    }
  },
  title: (value, field) => checkId(value, field, 'the text the person reads'),
  description: (value, field) => {
    if (typeof value !== 'string') refuse(field, `expected text, got ${kindOf(value)}`);
  },
  intentId: (value, field) => checkId(value, field, 'an intent id'),
  metadata: (value, field) => {
    if (!isObject(value)) refuse(field, `expected a JSON object, got ${kindOf(value)}`);
  },
};

/** Fields that are functions of the call, and nothing else. */
const functionFields = ['when', 'reason', 'idempotencyKey'];

/**
 * Refuse an approval policy the engine could not use, or that says less than written (a misspelt
 * field), naming the field and what to give. Fields given as functions are checked per call.
 * @throws ValidationError
 */
export function checkPolicy(policy: unknown, field: string): void {
  if (!isObject(policy)) {
    refuse(
      field,
      `expected an approval policy such as { assignee: 'finance@acme.test' }, got ${kindOf(policy)}`,
    );
  }
  checkKeys(policy, policyOptions, field);
  const given = (key: string) => policy[key] !== undefined;
  const isValue = (key: string) => given(key) && typeof policy[key] !== 'function';
  for (const key of functionFields) {
    if (given(key) && typeof policy[key] !== 'function') {
      refuse(`${field}.${key}`, `expected a function of the call, got ${kindOf(policy[key])}`);
    }
  }
  for (const [key, check] of Object.entries(valueChecks)) {
    if (isValue(key)) check(policy[key], `${field}.${key}`);
  }
  if (given('edits') && typeof policy.edits !== 'boolean') {
    refuse(`${field}.edits`, `expected true or false, got ${kindOf(policy.edits)}`);
  }
  if (given('assignee') && given('assignees')) {
    refuse(`${field}.assignee`, 'give either assignee or assignees, not both');
  }
  if (!given('assignee') && !given('assignees')) {
    refuse(`${field}.assignee`, "name who approves with assignee: 'name@example.com' (or assignees: [...])");
  }
  if (policy.edits === true && isValue('quorum') && policy.quorum !== 1) {
    refuse(
      `${field}.edits`,
      `edits cannot be offered under a quorum (${String(policy.quorum)}): each approver would approve other arguments. Set edits: false or drop the quorum.`,
    );
  }
  if (typeof policy.quorum === 'number' && (isValue('assignee') || isValue('assignees'))) {
    const people = isValue('assignees') ? new Set(policy.assignees as string[]).size : 1;
    if (policy.quorum > people) {
      refuse(
        `${field}.quorum`,
        `quorum ${policy.quorum} needs at least ${policy.quorum} assignees, got ${people}`,
      );
    }
  }
  const escalateTo = policy.escalateTo;
  const escalates = typeof escalateTo === 'string' || (Array.isArray(escalateTo) && escalateTo.length > 0);
  if (escalates && !given('timeout')) {
    refuse(
      `${field}.timeout`,
      'escalateTo needs timeout: how long each person has before the task goes to the next',
    );
  }
}

function checkHoldpoint(value: unknown, field: string): void {
  if (typeof value !== 'object' || value === null) {
    refuse(field, `give the engine: holdpoint: await createHoldpoint() (got ${kindOf(value)})`);
  }
  const missing = engineMethods.filter(
    (method) => typeof (value as Record<string, unknown>)[method] !== 'function',
  );
  if (missing.length > 0) {
    refuse(
      field,
      `expected the engine (await createHoldpoint()) or an object with its methods ${engineMethods.join(', ')}; missing ${missing.join(', ')}`,
    );
  }
}

function checkOnError(value: unknown, field: string): void {
  if (value !== undefined && typeof value !== 'function') {
    refuse(field, `expected a function (error) => void, got ${kindOf(value)}`);
  }
}

/** Refuse options of `createApprovalGate` it could not honour. @throws ValidationError */
export function checkGateOptions(options: unknown, where = 'createApprovalGate'): void {
  if (!isObject(options)) {
    refuse(where, `expected an options object { holdpoint, tools, approvals }, got ${kindOf(options)}`);
  }
  checkKeys(options, gateOptions, where);
  checkHoldpoint(options.holdpoint, `${where}.holdpoint`);
  const { tools, approvals } = options;
  if (!isObject(tools))
    refuse(`${where}.tools`, `expected the tool set { name: tool(…) }, got ${kindOf(tools)}`);
  for (const [name, tool] of Object.entries(tools)) {
    if (!isObject(tool)) refuse(`${where}.tools.${name}`, `expected a tool, got ${kindOf(tool)}`);
  }
  if (typeof approvals !== 'function') {
    if (!isObject(approvals)) {
      refuse(
        `${where}.approvals`,
        `expected a policy per tool name ({ ${Object.keys(tools)[0] ?? 'toolName'}: { assignee } }) or a function (call) => policy | undefined, got ${kindOf(approvals)}`,
      );
    }
    const names = Object.keys(tools);
    for (const [name, policy] of Object.entries(approvals)) {
      if (!Object.hasOwn(tools, name)) {
        refuse(
          `${where}.approvals.${name}`,
          `names no tool in tools${suggestion(name, names)}; the tools are: ${names.length > 0 ? names.join(', ') : '(none)'}. A policy keyed by another name gates nothing.`,
        );
      }
      if (policy !== undefined) checkPolicy(policy, `${where}.approvals.${name}`);
    }
  }
  if (options.mode !== undefined && !modes.includes(options.mode as string)) {
    refuse(`${where}.mode`, `expected 'blocking' or 'deferred', got ${kindOf(options.mode)}`);
  }
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
    refuse(`${where}.signal`, `expected an AbortSignal, got ${kindOf(options.signal)}`);
  }
  checkOnError(options.onError, `${where}.onError`);
}

/** Refuse a tool or options `withApproval` could not honour. @throws ValidationError */
export function checkWithApprovalOptions(tool: unknown, options: unknown, where = 'withApproval'): void {
  if (!isObject(tool) || typeof tool.execute !== 'function' || tool.type === 'provider') {
    refuse(
      `${where}.tool`,
      'expected a tool with execute: a tool without one (run by the client or the provider) has nothing to gate',
    );
  }
  if (!isObject(options)) {
    refuse(where, `expected options { holdpoint, assignee, … }, got ${kindOf(options)}`);
  }
  checkKeys(options, withApprovalOptions, where);
  checkHoldpoint(options.holdpoint, `${where}.holdpoint`);
  if (options.toolName !== undefined) checkId(options.toolName, `${where}.toolName`, "the tool's name");
  checkOnError(options.onError, `${where}.onError`);
  const { holdpoint: _engine, toolName: _name, onError: _onError, ...policy } = options;
  checkPolicy(policy, where);
}
