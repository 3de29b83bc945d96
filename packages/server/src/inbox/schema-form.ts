// A `form` task's JSON Schema as HTML fields, and the posted fields back as the decision's `data`.
// Flat objects of strings, numbers, integers, booleans and enums get a field each (with the
// schema's bounds as HTML attributes); anything else is edited as JSON. The engine validates the
// data against the schema either way, and its message is shown beside the form.
import { type Html, html } from './html.js';

interface PropertySchema {
  type?: string | string[];
  enum?: unknown[];
  title?: string;
  description?: string;
  format?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  default?: unknown;
}

interface ObjectSchema {
  type?: string;
  properties?: Record<string, PropertySchema>;
  required?: string[];
}

type FieldKind = 'string' | 'number' | 'integer' | 'boolean' | 'enum' | 'json';

function kindOf(property: PropertySchema): FieldKind {
  if (Array.isArray(property.enum) && property.enum.every((value) => typeof value === 'string'))
    return 'enum';
  const type = Array.isArray(property.type)
    ? property.type.filter((name) => name !== 'null')[0]
    : property.type;
  if (type === 'string' || type === 'number' || type === 'integer' || type === 'boolean') return type;
  return 'json';
}

/** The fields of a flat object schema, or `undefined` when the form is edited as one JSON value. */
function fieldsOf(schema: Record<string, unknown> | undefined): [string, PropertySchema][] | undefined {
  const object = schema as ObjectSchema | undefined;
  if (object?.type !== 'object' || !object.properties) return undefined;
  return Object.entries(object.properties);
}

const inputTypes: Record<string, string> = { email: 'email', uri: 'url', date: 'date' };

/** The form's fields, filled with what was posted (after a refused submission). */
export function schemaFields(
  schema: Record<string, unknown> | undefined,
  posted: Record<string, string> = {},
): Html {
  const fields = fieldsOf(schema);
  if (!fields) {
    return html`<label for="field-json">Data (JSON)</label>
      <textarea id="field-json" name="data" required>${posted.data ?? ''}</textarea>`;
  }
  const required = new Set((schema as ObjectSchema).required ?? []);
  return html`${fields.map(([name, property]) => {
    const id = `field-${name.replace(/[^A-Za-z0-9_-]/g, '_')}`;
    const label = property.title ?? name;
    const value = posted[`field.${name}`] ?? (property.default === undefined ? '' : String(property.default));
    const help = property.description
      ? html`<div class="meta" id="${id}-help">${property.description}</div>`
      : '';
    const describedBy = property.description ? `${id}-help` : undefined;
    const need = required.has(name);
    switch (kindOf(property)) {
      case 'boolean':
        return html`<label class="inline" for="${id}"><input type="checkbox" id="${id}" name="field.${name}" value="true"
          ${posted[`field.${name}`] === 'true' || (posted[`field.${name}`] === undefined && property.default === true) ? html`checked` : ''}> ${label}</label>${help}`;
      case 'enum':
        return html`<label for="${id}">${label}${need ? ' *' : ''}</label>
          <select id="${id}" name="field.${name}" ${need ? html`required` : ''} ${describedBy ? html`aria-describedby="${describedBy}"` : ''}>
            ${need ? '' : html`<option value=""></option>`}
            ${(property.enum as string[]).map((option) => html`<option ${option === value ? html`selected` : ''}>${option}</option>`)}
          </select>${help}`;
      case 'number':
      case 'integer':
        return html`<label for="${id}">${label}${need ? ' *' : ''}</label>
          <input type="number" id="${id}" name="field.${name}" value="${value}" inputmode="decimal"
            step="${kindOf(property) === 'integer' ? '1' : 'any'}"
            ${property.minimum === undefined ? '' : html`min="${property.minimum}"`}
            ${property.maximum === undefined ? '' : html`max="${property.maximum}"`}
            ${need ? html`required` : ''} ${describedBy ? html`aria-describedby="${describedBy}"` : ''}>${help}`;
      case 'string':
        return html`<label for="${id}">${label}${need ? ' *' : ''}</label>
          <input type="${inputTypes[property.format ?? ''] ?? 'text'}" id="${id}" name="field.${name}" value="${value}"
            ${property.minLength === undefined ? '' : html`minlength="${property.minLength}"`}
            ${property.maxLength === undefined ? '' : html`maxlength="${property.maxLength}"`}
            ${need ? html`required` : ''} ${describedBy ? html`aria-describedby="${describedBy}"` : ''}>${help}`;
      default:
        return html`<label for="${id}">${label} (JSON)${need ? ' *' : ''}</label>
          <textarea id="${id}" name="field.${name}" ${need ? html`required` : ''}>${value}</textarea>${help}`;
    }
  })}`;
}

/** The decision's `data` from posted fields; a field that is not valid JSON is an error message. */
export function dataFromFields(
  schema: Record<string, unknown> | undefined,
  posted: Record<string, string>,
): { data: unknown } | { error: string } {
  const parseJson = (text: string, what: string): { data: unknown } | { error: string } => {
    try {
      return { data: JSON.parse(text) };
    } catch {
      return { error: `${what} is not valid JSON.` };
    }
  };
  const fields = fieldsOf(schema);
  if (!fields) return parseJson(posted.data ?? '', 'The data');
  const data: Record<string, unknown> = {};
  for (const [name, property] of fields) {
    const text = posted[`field.${name}`];
    const kind = kindOf(property);
    if (kind === 'boolean') {
      data[name] = text === 'true';
      continue;
    }
    if (text === undefined || text === '') continue;
    if (kind === 'number' || kind === 'integer') {
      // Not a number stays text, so the schema's own message says what is wrong.
      data[name] = Number.isFinite(Number(text)) ? Number(text) : text;
    } else if (kind === 'json') {
      const parsed = parseJson(text, `${property.title ?? name}`);
      if ('error' in parsed) return parsed;
      data[name] = parsed.data;
    } else data[name] = text;
  }
  return { data };
}
