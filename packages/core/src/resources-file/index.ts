/**
 * The resources file (declarative, read-only resource source): `loadResourcesFile` turns
 * the file text plus an env map into validated entries with stable ids, or into the full
 * error report the CLI prints and `/status/config` shows. Reading the file, SIGHUP reloads
 * and snapshot swaps belong to the callers.
 */
import { validateWrite } from '../validate.js';
import { type ResourcesFileInput, type ResourcesFileResult, runResourcesFilePipeline } from './pipeline.js';

export { urlHasCredentials } from './cross-checks.js';
export { InterpolationError, interpolateString } from './interpolate.js';
export {
  FILE_COLLECTIONS,
  formatReport as formatResourcesFileReport,
  type ResourcesFileEntry,
  type ResourcesFileInput,
  type ResourcesFileResult,
  runResourcesFilePipeline,
  type WriteValidator,
} from './pipeline.js';
export { fileResourceId, RESOURCES_FILE_NAMESPACE, uuidV5 } from './uuid.js';

/** Runs the whole file pipeline with the strict write schemas of the kinds table. */
export function loadResourcesFile(input: ResourcesFileInput): ResourcesFileResult {
  return runResourcesFilePipeline(input, validateWrite);
}
