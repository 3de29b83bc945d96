// The browsable API reference at /v1/docs: one self-contained HTML page rendered from the OpenAPI
// document (no script, no assets from anywhere), so it works offline and under a strict CSP.

type Schema = {
  $ref?: string;
  type?: string | string[];
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  anyOf?: Schema[];
  oneOf?: Schema[];
  allOf?: Schema[];
  enum?: unknown[];
  const?: unknown;
  description?: string;
  example?: unknown;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  additionalProperties?: boolean | Schema;
  nullable?: boolean;
};

interface Parameter {
  name: string;
  in: string;
  required?: boolean;
  description?: string;
  schema?: Schema;
}

interface Operation {
  summary?: string;
  description?: string;
  tags?: string[];
  security?: unknown[];
  parameters?: Parameter[];
  requestBody?: { required?: boolean; content?: Record<string, { schema?: Schema }> };
  responses?: Record<string, { description?: string; content?: Record<string, { schema?: Schema }> }>;
}

/** The parts of an OpenAPI 3.1 document the page shows. */
export interface ReferenceDocument {
  info: { title: string; version: string; description?: string };
  paths: Record<string, Record<string, Operation>>;
  components?: { schemas?: Record<string, Schema> };
}

const methods = ['get', 'post', 'put', 'patch', 'delete'];

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

/** Inline code spans (`x`) and paragraphs, nothing else: descriptions are short. */
function prose(text: string | undefined): string {
  if (!text) return '';
  return text
    .split(/\n{2,}/)
    .map((paragraph) => `<p>${escapeHtml(paragraph).replace(/`([^`]+)`/g, '<code>$1</code>')}</p>`)
    .join('');
}

function refName(ref: string): string {
  return ref.slice(ref.lastIndexOf('/') + 1);
}

/** A schema's type in one line, linking named schemas. */
function typeOf(schema: Schema | undefined): string {
  if (!schema) return 'any';
  if (schema.$ref) {
    const name = escapeHtml(refName(schema.$ref));
    return `<a href="#schema-${name}">${name}</a>`;
  }
  if (schema.const !== undefined) return `<code>${escapeHtml(JSON.stringify(schema.const))}</code>`;
  if (schema.enum)
    return schema.enum.map((value) => `<code>${escapeHtml(JSON.stringify(value))}</code>`).join(' | ');
  const union = schema.anyOf ?? schema.oneOf;
  if (union) return union.map(typeOf).join(' | ');
  // zod-to-openapi puts a description beside a reference as an allOf member of its own.
  if (schema.allOf) {
    return schema.allOf
      .filter((part) => part.$ref || part.type || part.enum || part.anyOf || part.oneOf)
      .map(typeOf)
      .join(' &amp; ');
  }
  if (schema.type === 'array') return `${typeOf(schema.items)}[]`;
  if (Array.isArray(schema.type)) return schema.type.map((type) => escapeHtml(type)).join(' | ');
  if (schema.type === 'object' && !schema.properties) return 'object';
  return schema.type ? escapeHtml(schema.type) : 'any (JSON)';
}

function bounds(schema: Schema): string {
  const parts: string[] = [];
  if (schema.minimum !== undefined) parts.push(`≥ ${schema.minimum}`);
  if (schema.maximum !== undefined) parts.push(`≤ ${schema.maximum}`);
  if (schema.minLength !== undefined && schema.minLength > 0) parts.push(`length ≥ ${schema.minLength}`);
  if (schema.maxLength !== undefined) parts.push(`length ≤ ${schema.maxLength}`);
  return parts.length > 0 ? ` <span class="muted">(${parts.join(', ')})</span>` : '';
}

/** An object's fields as a table (nested objects inline); anything else as its type. */
function fields(schema: Schema | undefined): string {
  if (!schema?.properties) return `<p>${typeOf(schema)}</p>${prose(schema?.description)}`;
  const required = new Set(schema.required ?? []);
  const rows = Object.entries(schema.properties).map(([name, property]) => {
    const nested = property.properties ? fields(property) : '';
    const description = property.description ?? property.allOf?.find((part) => part.description)?.description;
    return `<tr><td><code>${escapeHtml(name)}</code>${required.has(name) ? ' <span class="req">required</span>' : ''}</td><td>${typeOf(property)}${bounds(property)}</td><td>${prose(description)}${property.example === undefined ? '' : `<p class="muted">e.g. <code>${escapeHtml(JSON.stringify(property.example))}</code></p>`}${nested}</td></tr>`;
  });
  const closed =
    schema.additionalProperties === false ? '<p class="muted">No other fields are accepted.</p>' : '';
  return `${prose(schema.description)}<table><tr><th>field</th><th>type</th><th></th></tr>${rows.join('')}</table>${closed}`;
}

function operationId(method: string, path: string): string {
  return `${method}-${path.replace(/[^A-Za-z0-9]+/g, '-')}`;
}

function renderOperation(
  method: string,
  path: string,
  operation: Operation,
  schemas: Record<string, Schema>,
): string {
  const parameters = operation.parameters ?? [];
  const parameterRows = parameters
    .map(
      (parameter) =>
        `<tr><td><code>${escapeHtml(parameter.name)}</code>${parameter.required ? ' <span class="req">required</span>' : ''}</td><td>${escapeHtml(parameter.in)}</td><td>${typeOf(parameter.schema)}${parameter.schema ? bounds(parameter.schema) : ''}</td><td>${prose(parameter.description ?? parameter.schema?.description)}</td></tr>`,
    )
    .join('');
  const body = Object.entries(operation.requestBody?.content ?? {})
    .map(([mediaType, content]) => {
      // A named body schema is shown in full here, with a link to it.
      const named = content.schema?.$ref ? schemas[refName(content.schema.$ref)] : undefined;
      const title = named ? ` ${typeOf(content.schema)}` : '';
      return `<h4>Body <code>${escapeHtml(mediaType)}</code>${title}</h4>${fields(named ?? content.schema)}`;
    })
    .join('');
  const responses = Object.entries(operation.responses ?? {})
    .map(([status, response]) => {
      const types = Object.entries(response.content ?? {})
        .map(([mediaType, content]) => `<code>${escapeHtml(mediaType)}</code> ${typeOf(content.schema)}`)
        .join('<br>');
      return `<tr><td><code>${escapeHtml(status)}</code></td><td>${prose(response.description)}</td><td>${types}</td></tr>`;
    })
    .join('');
  const auth = operation.security?.length
    ? '<span class="auth">API key</span>'
    : '<span class="auth open">no key</span>';
  return `<section class="op" id="${operationId(method, path)}">
<h3><span class="method ${method}">${method.toUpperCase()}</span> <code>${escapeHtml(path)}</code> ${auth}</h3>
<p><strong>${escapeHtml(operation.summary ?? '')}</strong></p>${prose(operation.description)}
${parameterRows ? `<h4>Parameters</h4><table><tr><th>name</th><th>in</th><th>type</th><th></th></tr>${parameterRows}</table>` : ''}
${body}
<h4>Responses</h4><table><tr><th>status</th><th></th><th>body</th></tr>${responses}</table>
</section>`;
}

const style = `
body{font:15px/1.5 system-ui,sans-serif;margin:0;color:#1d2330;display:flex}
nav{width:17rem;flex:none;height:100vh;overflow:auto;position:sticky;top:0;background:#f4f5f8;padding:1rem;box-sizing:border-box;font-size:13px}
nav a{display:block;color:#1d2330;text-decoration:none;padding:.1rem 0}nav h2{font-size:13px;margin:1rem 0 .2rem;text-transform:uppercase;color:#667}
main{padding:1rem 2rem;max-width:60rem;min-width:0}
table{border-collapse:collapse;width:100%;margin:.3rem 0}td,th{border-top:1px solid #e2e4ea;padding:.3rem .5rem;vertical-align:top;text-align:left}
th{font-weight:600;font-size:13px;color:#556}td p{margin:0 0 .3rem}
code{font:13px ui-monospace,monospace;background:#f1f2f5;padding:0 .2rem;border-radius:3px}
.op{border-top:2px solid #e2e4ea;padding-top:.5rem;margin-top:1.5rem}
.method{font:600 12px ui-monospace,monospace;padding:.15rem .4rem;border-radius:3px;color:#fff;background:#4a6}
.method.post{background:#36c}.method.delete{background:#c44}
.req{color:#b40;font-size:12px}.muted{color:#778;font-size:13px}
.auth{font-size:12px;font-weight:400;border:1px solid #ccd;border-radius:3px;padding:0 .3rem}.auth.open{color:#4a6}
@media (max-width:50rem){body{display:block}nav{width:auto;height:auto;position:static}}
`;

/** The whole reference page for an OpenAPI document. */
export function renderReference(document: ReferenceDocument): string {
  const byTag = new Map<string, Array<[string, string, Operation]>>();
  for (const [path, item] of Object.entries(document.paths)) {
    for (const method of methods) {
      const operation = item[method];
      if (!operation) continue;
      const tag = operation.tags?.[0] ?? 'Other';
      byTag.set(tag, [...(byTag.get(tag) ?? []), [method, path, operation]]);
    }
  }
  const schemas = Object.entries(document.components?.schemas ?? {});
  const navigation = [...byTag]
    .map(
      ([tag, operations]) =>
        `<h2>${escapeHtml(tag)}</h2>${operations.map(([method, path, operation]) => `<a href="#${operationId(method, path)}">${method.toUpperCase()} ${escapeHtml(path)}<br><span class="muted">${escapeHtml(operation.summary ?? '')}</span></a>`).join('')}`,
    )
    .join('');
  const schemaNavigation = schemas
    .map(([name]) => `<a href="#schema-${escapeHtml(name)}">${escapeHtml(name)}</a>`)
    .join('');
  const sections = [...byTag]
    .map(
      ([tag, operations]) =>
        `<h2>${escapeHtml(tag)}</h2>${operations.map(([method, path, operation]) => renderOperation(method, path, operation, document.components?.schemas ?? {})).join('')}`,
    )
    .join('');
  const schemaSections = schemas
    .map(
      ([name, schema]) =>
        `<section class="op" id="schema-${escapeHtml(name)}"><h3>${escapeHtml(name)}</h3>${fields(schema)}</section>`,
    )
    .join('');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escapeHtml(document.info.title)} — API reference</title><style>${style}</style></head>
<body><nav><strong>${escapeHtml(document.info.title)}</strong> <span class="muted">${escapeHtml(document.info.version)}</span>
<p><a href="/v1/openapi.json">openapi.json</a></p>${navigation}<h2>Schemas</h2>${schemaNavigation}</nav>
<main><h1>${escapeHtml(document.info.title)}</h1>${prose(document.info.description)}${sections}<h2>Schemas</h2>${schemaSections}</main></body></html>`;
}
