/**
 * The OpenAPI 3.1 document of the admin listener, generated from two sources and nothing
 * else: the route table (`routes.ts`) for paths and operations, and core's valibot write
 * schemas (via @valibot/to-json-schema, JSON Schema 2020-12, the dialect of OpenAPI 3.1)
 * for request and resource bodies. Nothing about a resource's fields is written by hand.
 *
 * One adjustment is made to a generated schema, on purpose: the api-key create body lists
 * `key_hash` as optional, because the server generates a key when it is omitted.
 */
import { KINDS, type KindDef } from '@aisix/core';
import { type JsonObject, kindJsonSchemas } from './json-schema.js';
import { hasRotate, type RouteDesc, routeTable } from './routes.js';

export type { JsonObject };

function consoleAssetType(path: string): string {
  if (path.endsWith('.js')) return 'text/javascript';
  if (path.endsWith('.css')) return 'text/css';
  return 'application/json';
}

const ref = (name: string): JsonObject => ({ $ref: `#/components/schemas/${name}` });

function createBodyFor(kind: KindDef, schema: JsonObject): JsonObject {
  if (!hasRotate(kind) || !Array.isArray(schema.required)) return schema;
  return {
    ...schema,
    required: (schema.required as unknown[]).filter((f) => f !== 'key_hash'),
    description:
      'Without `key_hash` the server generates a key and returns its plaintext once, as `plaintext`.',
  };
}

function components(kinds: readonly KindDef[]): JsonObject {
  const schemas: JsonObject = {
    Error: {
      type: 'object',
      required: ['error_msg'],
      properties: { error_msg: { type: 'string' } },
    },
    Deleted: {
      type: 'object',
      required: ['deleted', 'id'],
      properties: { deleted: { const: true }, id: { type: 'string' } },
    },
    Health: {
      type: 'object',
      required: ['status', 'models'],
      properties: {
        status: { enum: ['ok', 'degraded', 'unhealthy'] },
        models: {
          type: 'array',
          items: {
            type: 'object',
            required: ['id', 'name', 'health'],
            properties: { id: { type: 'string' }, name: { type: 'string' }, health: { enum: [0, 1, 2] } },
          },
        },
        config: {
          type: 'object',
          properties: {
            snapshot_revision: { type: 'integer' },
            snapshot_age_seconds: { type: ['integer', 'null'] },
          },
        },
      },
    },
    ModelStatus: {
      type: 'object',
      required: ['id', 'display_name', 'kind', 'status'],
      properties: {
        id: { type: 'string' },
        display_name: { type: 'string' },
        kind: { enum: ['direct', 'routing', 'ensemble', 'semantic'] },
        status: { enum: ['healthy', 'unhealthy', 'cooldown', 'not_applicable'] },
        cooldown_until: { type: 'string', format: 'date-time' },
        last_checked_at: { type: 'string', format: 'date-time' },
        last_check_status: { type: 'integer' },
        status_reason: { type: 'string' },
      },
    },
  };
  for (const kind of kinds) {
    const t = kind.typeName;
    const generated = kindJsonSchemas(kind);
    Object.assign(schemas, generated);
    const schema = generated[t] ?? {};
    schemas[`${t}Entry`] = {
      type: 'object',
      required: ['id', 'value', 'revision'],
      properties: {
        id: { type: 'string' },
        value: { ...ref(t), description: 'The stored document; secrets are masked (`****ab12`).' },
        revision: { type: 'integer', description: 'Store revision of the last write of this resource.' },
      },
    };
    if (hasRotate(kind)) {
      schemas[`${t}Create`] = createBodyFor(kind, schema);
      schemas[`${t}Created`] = {
        allOf: [ref(`${t}Entry`)],
        properties: {
          plaintext: {
            type: 'string',
            description: 'The generated key; present only when `key_hash` was omitted.',
          },
        },
      };
      schemas[`${t}Rotated`] = {
        type: 'object',
        required: ['entry', 'plaintext'],
        properties: { entry: ref(`${t}Entry`), plaintext: { type: 'string' } },
      };
    }
  }
  return {
    schemas,
    securitySchemes: {
      bearer: { type: 'http', scheme: 'bearer', description: 'An admin key from admin.admin_keys' },
      xApiKey: {
        type: 'apiKey',
        in: 'header',
        name: 'x-api-key',
        description: 'Used only without Authorization',
      },
    },
  };
}

const json = (schema: JsonObject): JsonObject => ({ 'application/json': { schema } });
const text = { 'text/plain': { schema: { type: 'string' } } };

const ERROR_TEXT: Record<number, string> = {
  400: 'Invalid id, malformed JSON, or schema validation failure (first failing JSON pointer)',
  401: 'Missing or malformed admin authorization',
  404: 'Resource not found',
  409: 'Name already in use, or resources are file-managed',
  413: 'Body larger than 2 MiB',
  415: 'Content-Type is not application/json',
  500: 'Store failure',
  501: 'Playground or config status not wired in this process',
};

function errors(codes: number[]): JsonObject {
  const out: JsonObject = {};
  for (const code of codes)
    out[String(code)] = { description: ERROR_TEXT[code], content: json(ref('Error')) };
  return out;
}

function success(r: RouteDesc): JsonObject {
  const t = r.kind?.typeName ?? '';
  const ok = (schema: JsonObject, description = 'OK'): JsonObject => ({ description, content: json(schema) });
  switch (r.op) {
    case 'list':
      return ok({ type: 'array', items: ref(`${t}Entry`) }, 'All resources of the kind, ascending by id');
    case 'create':
      return ok(r.kind && hasRotate(r.kind) ? ref(`${t}Created`) : ref(`${t}Entry`));
    case 'get':
    case 'replace':
      return ok(ref(`${t}Entry`));
    case 'delete':
      return ok(ref('Deleted'));
    case 'rotate':
      return ok(ref(`${t}Rotated`));
    case 'models_status':
      return ok({ type: 'array', items: ref('ModelStatus') });
    case 'health':
      return ok(ref('Health'));
    case 'openapi':
      return ok({ type: 'object' });
    case 'scalar':
    case 'console':
      return { description: 'HTML page', content: { 'text/html': { schema: { type: 'string' } } } };
    case 'console_asset':
      return {
        description: 'Console script, stylesheet or kinds manifest (`?v=<version>`: cached for a year)',
        content: { [consoleAssetType(r.path)]: { schema: { type: 'string' } } },
      };
    case 'status_config':
      return ok({ type: 'object' }, 'The body of /status/config: source, applied snapshot, rejected entries');
    case 'livez':
    case 'readyz':
      return { description: '`ok`, or the check list with `?verbose`', content: text };
    case 'playground':
      return ok({ type: 'object' }, 'The proxy response, unchanged');
  }
}

function errorCodes(r: RouteDesc): number[] {
  switch (r.op) {
    case 'list':
      return [401, 500];
    case 'create':
      return [400, 401, 409, 413, 415, 500];
    case 'get':
      return [400, 401, 404, 500];
    case 'replace':
      return [400, 401, 404, 409, 413, 415, 500];
    case 'delete':
    case 'rotate':
      return [400, 401, 404, 409, 500];
    case 'models_status':
    case 'health':
      return [401, 500];
    case 'status_config':
      return [401, 501];
    case 'playground':
      return [501];
    default:
      return [];
  }
}

function operation(r: RouteDesc): JsonObject {
  // Collections tell resource operations apart; the file name tells console assets apart.
  const file = r.path.slice(r.path.lastIndexOf('/') + 1).replace(/\W/g, '_');
  const suffix = r.collection ? `_${r.collection}` : r.op === 'console_asset' ? `_${file}` : '';
  const op: JsonObject = {
    operationId: `${r.op}${suffix}`,
    summary: r.summary,
    tags: [r.tag],
    responses: { '200': success(r), ...errors(errorCodes(r)) },
  };
  if (r.auth === 'admin') op.security = [{ bearer: [] }, { xApiKey: [] }];
  else op.security = [];
  if (r.path.includes(':id')) {
    op.parameters = [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }];
  }
  if (r.op === 'livez' || r.op === 'readyz') {
    op.parameters = [
      { name: 'verbose', in: 'query', required: false, allowEmptyValue: true, schema: { type: 'string' } },
    ];
  }
  const t = r.kind?.typeName;
  if (t !== undefined && (r.op === 'create' || r.op === 'replace')) {
    const body = r.op === 'create' && r.kind && hasRotate(r.kind) ? `${t}Create` : t;
    op.requestBody = { required: true, content: json(ref(body)) };
  }
  if (r.op === 'playground') {
    op.requestBody = {
      required: true,
      content: json({ type: 'object', description: 'An OpenAI chat completion request' }),
    };
    op.description = 'Authenticated with a caller API key (Authorization: Bearer), like proxy traffic.';
  }
  return op;
}

/** `components.schemas` of a document built by `buildOpenApiDocument`. */
export function componentSchemas(doc: JsonObject): JsonObject {
  const c = doc.components;
  const s = typeof c === 'object' && c !== null && 'schemas' in c ? c.schemas : undefined;
  return typeof s === 'object' && s !== null ? (s as JsonObject) : {};
}

/** `/admin/v1/models/:id` -> `/admin/v1/models/{id}` */
export function openApiPath(honoPath: string): string {
  return honoPath.replace(/:([A-Za-z_]+)/g, '{$1}');
}

export function buildOpenApiDocument(kinds: readonly KindDef[] = KINDS): JsonObject {
  const paths: Record<string, JsonObject> = {};
  for (const r of routeTable(kinds)) {
    const p = openApiPath(r.path);
    const item = paths[p] ?? {};
    item[r.method.toLowerCase()] = operation(r);
    paths[p] = item;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'AISIX Admin API',
      version: '1',
      description:
        'Control plane of the AISIX gateway. Every error body is `{"error_msg": "..."}`. ' +
        'Successful creates and deletes answer 200. Secrets are masked on every read.',
    },
    paths,
    components: components(kinds),
  };
}
