export { DEFAULTS } from './defaults.ts';
export { hostOf, resolve, serviceOf } from './resolve.ts';
export type * from './types.ts';
export { defineStack } from './types.ts';
export { type ConfigIssue, formatIssues, validateConfig } from './validate.ts';
