import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { z } from 'zod';
import { canonicalJson } from '../canonical-json.js';

// Form data is checked against JSON Schema 2020-12 in every process, because the decision may be
// taken by another engine than the one that created the task: a zod schema is turned into JSON
// Schema when the task is created, and the JSON Schema is what the task stores.
const ajv = new Ajv2020({ allErrors: true, strict: false });
const compiled = new Map<string, ValidateFunction>();

/** Whether a value is a zod 4 schema. */
function isZodSchema(value: unknown): value is z.ZodType {
  return typeof value === 'object' && value !== null && '_zod' in value;
}

/**
 * The JSON Schema (2020-12) of a task's form: a zod schema is converted, a JSON Schema object is
 * compiled to check it is valid. Throws an Error whose message says what is wrong.
 */
export function toFormJsonSchema(schema: unknown): Record<string, unknown> {
  let json: Record<string, unknown>;
  if (isZodSchema(schema)) {
    json = z.toJSONSchema(schema, { target: 'draft-2020-12', unrepresentable: 'any' }) as Record<
      string,
      unknown
    >;
  } else if (typeof schema === 'object' && schema !== null && !Array.isArray(schema)) {
    json = schema as Record<string, unknown>;
  } else {
    throw new Error('give a zod schema or a JSON Schema (2020-12) object');
  }
  compile(json);
  return json;
}

function compile(schema: Record<string, unknown>): ValidateFunction {
  const key = canonicalJson(schema);
  let validate = compiled.get(key);
  if (!validate) {
    validate = ajv.compile(schema);
    if (compiled.size > 500) compiled.clear();
    compiled.set(key, validate);
  }
  return validate;
}

/** Problems of `data` against a stored JSON Schema, as readable lines; empty when it matches. */
export function formDataProblems(schema: Record<string, unknown>, data: unknown): string[] {
  const validate = compile(schema);
  if (validate(data)) return [];
  return (validate.errors ?? []).map(
    (error) => `${error.instancePath || '(data)'} ${error.message ?? 'is invalid'}`,
  );
}
