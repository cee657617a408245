/**
 * valibot write schema -> JSON Schema (2020-12, the dialect of OpenAPI 3.1) for the OpenAPI
 * components. Three things the plain `toJsonSchema` call gets wrong for our schemas:
 *
 *  - Core's objects are `pipe(custom(isJsonObject), strictObject(...))`. With `typeMode:
 *    'input'` conversion stops at the `custom`, yielding `{}`; `typeMode: 'ignore'` converts
 *    the whole pipe (the custom check is skipped, transforms are ignored).
 *  - Tagged unions (guardrail and exporter `kind`) are `lazy` schemas that pick a branch from
 *    the input; converted blindly they show only the fallback branch. A lazy whose fallback
 *    has exactly one enum-of-strings field is treated as such a union: each tag value is fed
 *    to the getter and the branches become a `oneOf`. Other lazies (recursive condition
 *    trees) keep the converter's default.
 *  - Definitions the converter creates (`#/$defs/...`) are relative to the schema root; in an
 *    OpenAPI document a `$ref` resolves against the document, so they are hoisted into
 *    `components.schemas` under a prefixed name and the refs are rewritten.
 */
import { type KindDef, lengthBound } from '@aisix/core';
import { type ConversionConfig, type JsonSchema, toJsonSchema } from '@valibot/to-json-schema';
import type { GenericSchema } from 'valibot';

export type JsonObject = { [key: string]: unknown };

const isObj = (x: unknown): x is JsonObject => typeof x === 'object' && x !== null && !Array.isArray(x);

interface LazyLike {
  readonly type: 'lazy';
  readonly getter: (input: unknown) => GenericSchema;
}

const isLazy = (s: unknown): s is LazyLike =>
  isObj(s) && s.type === 'lazy' && typeof (s as { getter?: unknown }).getter === 'function';

function taggedUnion(lazy: LazyLike, convert: (s: GenericSchema) => JsonSchema): JsonSchema | undefined {
  const fallback = convert(lazy.getter(undefined)) as JsonObject;
  const props = isObj(fallback.properties) ? fallback.properties : {};
  const tags = Object.entries(props).filter(
    ([, p]) => isObj(p) && Array.isArray(p.enum) && p.enum.every((e) => typeof e === 'string'),
  );
  if (tags.length !== 1) return undefined;
  const [key, tagSchema] = tags[0] as [string, JsonObject];
  const branches = (tagSchema.enum as string[]).map((tag) => convert(lazy.getter({ [key]: tag })));
  return { oneOf: branches } as JsonSchema;
}

function config(): ConversionConfig {
  const cfg: ConversionConfig = {
    target: 'draft-2020-12',
    typeMode: 'ignore',
    errorMode: 'ignore',
    // Character-count checks (core's `strLen`, which counts code points) as min/maxLength.
    overrideAction: (ctx) => {
      const b = lengthBound(ctx.valibotAction);
      return b === undefined ? undefined : ({ ...ctx.jsonSchema, ...b } as JsonSchema);
    },
    overrideSchema: (ctx) => {
      if (!isLazy(ctx.valibotSchema)) return undefined;
      return taggedUnion(ctx.valibotSchema, (s) => strip(toJsonSchema(s, cfg) as JsonObject) as JsonSchema);
    },
  };
  return cfg;
}

function strip(s: JsonObject): JsonObject {
  const { $schema: _dialect, ...rest } = s;
  return rest;
}

function rewriteRefs(node: unknown, prefix: string): unknown {
  if (Array.isArray(node)) return node.map((n) => rewriteRefs(n, prefix));
  if (!isObj(node)) return node;
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === '$ref' && typeof v === 'string' && v.startsWith('#/$defs/')) {
      out[k] = `#/components/schemas/${prefix}${v.slice('#/$defs/'.length)}`;
    } else out[k] = rewriteRefs(v, prefix);
  }
  return out;
}

/**
 * The component schema of a kind plus any hoisted definitions (`<TypeName>_def<n>`), all
 * ready to merge into `components.schemas`.
 */
export function kindJsonSchemas(kind: KindDef): Record<string, JsonObject> {
  const raw = strip(toJsonSchema(kind.writeSchema, config()) as JsonObject);
  const prefix = `${kind.typeName}_def`;
  const { $defs, ...root } = raw;
  const out: Record<string, JsonObject> = { [kind.typeName]: rewriteRefs(root, prefix) as JsonObject };
  const defs = isObj($defs) ? Object.entries($defs) : [];
  const converted = defs.map(
    ([name, def]) => [`${prefix}${name}`, rewriteRefs(def, prefix) as JsonObject] as const,
  );
  // The converter may leave definitions behind that the tagged-union rewrite no longer uses.
  const text = JSON.stringify([out[kind.typeName], ...converted.map(([, d]) => d)]);
  for (const [name, def] of converted) if (text.includes(`"#/components/schemas/${name}"`)) out[name] = def;
  return out;
}
