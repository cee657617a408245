export * from './config/index.js';
export * from './errors/index.js';
export * from './keys.js';
export * from './kinds.js';
export * from './resources/index.js';
export * from './snapshot/index.js';
export * from './validate.js';
