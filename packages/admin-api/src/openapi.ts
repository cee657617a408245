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
import { MAX_GRACE_SECS } from './api-keys.js';
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
    AuditChange: {
      type: 'object',
      required: ['path'],
      description:
        'One changed field (JSON pointer). Secret fields show only whether they changed: `{"path","secret":true,"changed"}`.',
      properties: {
        path: { type: 'string' },
        from: { description: 'Value before (absent when the field was added)' },
        to: { description: 'Value after (absent when the field was removed)' },
        truncated: { const: true, description: 'The value is over 2 KiB as JSON and not shown' },
        secret: { const: true },
        changed: { type: 'boolean' },
      },
    },
    AuditRecord: {
      type: 'object',
      required: ['revision', 'at', 'actor', 'action', 'kind', 'id', 'changes'],
      properties: {
        revision: { type: 'integer', description: 'Store revision of the audited write' },
        at: { type: 'string', format: 'date-time' },
        actor: { type: 'string', description: "Admin key id: `admin:` + first 12 hex of the key's SHA-256" },
        action: { enum: ['create', 'replace', 'patch', 'delete', 'rotate'] },
        kind: { type: 'string' },
        id: { type: 'string' },
        changes: { type: 'array', items: ref('AuditChange') },
        grace_secs: { type: 'integer', description: 'Rotations with a grace window' },
      },
    },
    AuditPage: {
      type: 'object',
      required: ['records', 'next_cursor'],
      properties: {
        records: { type: 'array', items: ref('AuditRecord') },
        next_cursor: { type: ['string', 'null'], description: 'Pass as `cursor` for older records' },
      },
    },
    ModelStatus: {
      type: 'object',
      required: ['id', 'display_name', 'kind', 'status'],
      properties: {
        id: { type: 'string' },
        display_name: { type: 'string' },
        kind: { enum: ['direct', 'routing', 'ensemble', 'semantic'] },
        status: { enum: ['healthy', 'unhealthy', 'cooldown', 'not_applicable', 'unavailable'] },
        cooldown_until: { type: 'string', format: 'date-time' },
        last_checked_at: { type: 'string', format: 'date-time' },
        last_check_status: { type: 'integer' },
        status_reason: { type: 'string' },
        status_detail: { type: 'string' },
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
  409: 'Name already in use, resources are file-managed, or the stored value is not a JSON document (GET, PATCH, rotate)',
  412: 'If-Match names a revision the resource is no longer at (the ETag header carries the current one)',
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

const ETAG_HEADER: JsonObject = {
  ETag: {
    description: 'The resource revision as a strong entity tag (`"42"`), for If-Match',
    schema: { type: 'string' },
  },
};

const withEtag = (res: JsonObject): JsonObject => ({ ...res, headers: ETAG_HEADER });

const IF_MATCH: JsonObject = {
  name: 'If-Match',
  in: 'header',
  required: false,
  description:
    'Write only while the resource is at this revision (its ETag, e.g. `"42"`; `*` = any); otherwise 412. ' +
    'Without it the write merges onto the latest revision.',
  schema: { type: 'string' },
};

const CONDITIONAL_OPS: ReadonlySet<string> = new Set(['replace', 'patch', 'delete', 'rotate']);

function success(r: RouteDesc): JsonObject {
  const t = r.kind?.typeName ?? '';
  const ok = (schema: JsonObject, description = 'OK'): JsonObject => ({ description, content: json(schema) });
  switch (r.op) {
    case 'list':
      return ok({ type: 'array', items: ref(`${t}Entry`) }, 'All resources of the kind, ascending by id');
    case 'create':
      return withEtag(ok(r.kind && hasRotate(r.kind) ? ref(`${t}Created`) : ref(`${t}Entry`)));
    case 'get':
    case 'replace':
    case 'patch':
      return withEtag(ok(ref(`${t}Entry`)));
    case 'delete':
      return ok(ref('Deleted'));
    case 'rotate':
      return withEtag(ok(ref(`${t}Rotated`)));
    case 'models_status':
      return ok({ type: 'array', items: ref('ModelStatus') });
    case 'health':
      return ok(ref('Health'));
    case 'audit':
      return ok(ref('AuditPage'), 'Audit records, newest first');
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
      return [400, 401, 404, 409, 500];
    case 'replace':
    case 'patch':
    case 'rotate':
      return [400, 401, 404, 409, 412, 413, 415, 500];
    case 'delete':
      return [400, 401, 404, 409, 412, 500];
    case 'models_status':
    case 'health':
      return [401, 500];
    case 'audit':
      return [400, 401, 500];
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
    op.parameters = [
      {
        name: 'id',
        in: 'path',
        required: true,
        description:
          'Resource id, percent-encoded (decoded once): any id a direct etcd writer chose is addressable, ' +
          '`/` included (`team%2Fg1`); `.`/`..` segments, control characters and ids over 4096 characters are 400',
        schema: { type: 'string' },
      },
      ...(CONDITIONAL_OPS.has(r.op) ? [IF_MATCH] : []),
    ];
  }
  if (r.op === 'audit') {
    const q = (name: string, description: string, schema: JsonObject = { type: 'string' }): JsonObject => ({
      name,
      in: 'query',
      required: false,
      description,
      schema,
    });
    op.parameters = [
      q('kind', 'Resource kind, e.g. `api_keys`'),
      q('id', 'Resource id'),
      q('actor', 'Admin key id, e.g. `admin:1a2b3c4d5e6f`'),
      q('action', 'create, replace, patch, delete or rotate', {
        enum: ['create', 'replace', 'patch', 'delete', 'rotate'],
      }),
      q('since', 'RFC 3339 time, inclusive', { type: 'string', format: 'date-time' }),
      q('until', 'RFC 3339 time, inclusive', { type: 'string', format: 'date-time' }),
      q('limit', 'Records per page (default 100)', { type: 'integer', minimum: 1, maximum: 1000 }),
      q('cursor', '`next_cursor` of the previous page'),
    ];
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
  if (r.op === 'rotate') {
    op.requestBody = {
      required: false,
      content: json({
        type: 'object',
        additionalProperties: false,
        properties: {
          grace_secs: {
            type: 'integer',
            minimum: 0,
            maximum: MAX_GRACE_SECS,
            description:
              'Seconds the replaced key keeps working (listed in `previous_keys` with its end time). ' +
              'Absent or 0: it stops at once, and so do keys still in an earlier window.',
          },
        },
      }),
    };
  }
  if (t !== undefined && r.op === 'patch') {
    const patch: JsonObject = {
      type: 'object',
      description: `A JSON merge patch (RFC 7396) of ${t}: \`null\` removes a field; the result must be a valid ${t}.`,
    };
    op.requestBody = {
      required: true,
      content: { 'application/merge-patch+json': { schema: patch }, 'application/json': { schema: patch } },
    };
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
