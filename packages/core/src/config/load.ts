/**
 * Loading `config.yaml`: built-in defaults, then the file, then `AISIX_*` env overrides,
 * then `LOG_LEVEL`, then cross-field validation. Pure: the CLI reads the file and passes its
 * text plus an env map, and prints `formatConfigFailure(error)` on failure. There is no
 * `${VAR}` interpolation here (only the resources file interpolates); use env overrides.
 */
import { parse as parseYaml } from 'yaml';
import { lineCol, yamlErrorText } from '../yaml-error.js';
import { ConfigError, decodeObject, isPlainObject } from './decode.js';
import { applyEnvOverrides, placeholderWarnings } from './env.js';
import { CONFIG_SPEC } from './spec.js';
import { type Config, type ConfigResult, type ConfigSource, ResolvedSecret } from './types.js';
import { configWarnings, validateConfig } from './validate.js';

export interface ConfigInput {
  text: string;
  /** Used for the format (by extension) and in messages. */
  path: string;
  env: Readonly<Record<string, string | undefined>>;
}

/** The line the CLI prints to stderr (then exits 1). */
export function formatConfigFailure(detail: string): string {
  return `Error: config load failed: failed to load configuration: ${detail}`;
}

/**
 * Where the JSON is broken, never V8's own text: it quotes a slice of the input around the
 * error, which may be an admin key or a password of the file.
 */
function jsonErrorText(e: unknown, text: string): string {
  const at = e instanceof Error ? /at position (\d+)/.exec(e.message) : null;
  if (at === null) return 'invalid JSON';
  const { line, col } = lineCol(text, Number(at[1]));
  return `invalid JSON at line ${line}, column ${col}`;
}

function parseText(text: string, path: string): unknown {
  const lower = path.toLowerCase();
  if (lower.endsWith('.toml')) {
    throw new ConfigError(`build: ${path}: TOML config files are not supported; use .yaml, .yml or .json`);
  }
  if (lower.endsWith('.json')) {
    try {
      return JSON.parse(text);
    } catch (e) {
      throw new ConfigError(`build: ${path}: ${jsonErrorText(e, text)}`);
    }
  }
  if (lower.endsWith('.yaml') || lower.endsWith('.yml')) {
    try {
      return parseYaml(text, { prettyErrors: false, logLevel: 'error' });
    } catch (e) {
      throw new ConfigError(`build: ${path}: ${yamlErrorText(e, text)}`);
    }
  }
  throw new ConfigError(`build: ${path}: unsupported config file extension (use .yaml, .yml or .json)`);
}

export function configSource(c: Config): ConfigSource {
  if (c.managed.enabled || c.etcd.endpoints.length > 0) return 'etcd';
  if (c.resources_file !== undefined) return 'file';
  return 'embedded';
}

/** Normalisations the contract defines on decoded values. */
function finish(c: Config, env: Readonly<Record<string, string | undefined>>): void {
  const level = env.LOG_LEVEL;
  if (level !== undefined && level.trim() !== '') {
    c.observability.log_level = level.trim() as Config['observability']['log_level'];
  }
  c.observability.log_level = c.observability.log_level.toLowerCase() as Config['observability']['log_level'];
  const format = env.LOG_FORMAT;
  if (format !== undefined && format.trim() !== '') {
    c.observability.log_format = format.trim() as Config['observability']['log_format'];
  }
  c.observability.log_format =
    c.observability.log_format.toLowerCase() as Config['observability']['log_format'];
  const prom = c.observability.metrics.prometheus;
  const path = prom.path.trim();
  prom.path = path === '' ? '/metrics' : path.startsWith('/') ? path : `/${path}`;
  if (c.proxy.workers === undefined) c.proxy.workers = c.proxy.thread_per_core === true ? 'auto' : 1;
  if (c.bedrock_endpoint_url === '') c.bedrock_endpoint_url = undefined;
  const hb = c.managed.heartbeat_interval_secs;
  c.managed.heartbeat_interval_secs = Math.min(300, Math.max(5, hb));
}

export function parseConfig(input: ConfigInput): ConfigResult {
  try {
    let raw = parseText(input.text, input.path);
    if (raw === null || raw === undefined) raw = {};
    if (!isPlainObject(raw)) {
      throw new ConfigError(`build: ${input.path}: the root must be a mapping`);
    }
    const warnings = placeholderWarnings(raw, input.env);
    warnings.push(...applyEnvOverrides(raw, input.env));
    const config = decodeObject(raw, CONFIG_SPEC, '') as unknown as Config;
    finish(config, input.env);
    const invalid = validateConfig(config, input.env);
    if (invalid !== null) return { ok: false, error: invalid };
    const pwName = config.etcd.password_env;
    const pw = pwName === undefined ? undefined : input.env[pwName];
    config.etcd.password = pw === undefined ? undefined : new ResolvedSecret(pw);
    warnings.push(...configWarnings(config));
    return { ok: true, config, warnings, source: configSource(config) };
  } catch (e) {
    if (e instanceof ConfigError) return { ok: false, error: e.message };
    throw e;
  }
}
