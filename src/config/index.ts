export { defineStack } from './types.ts';
export type * from './types.ts';
export { resolve, hostOf, serviceOf } from './resolve.ts';
export { validateConfig, formatIssues, type ConfigIssue } from './validate.ts';
export { DEFAULTS } from './defaults.ts';
